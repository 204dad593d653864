//! Reproduce lines: the command that runs a scenario file again, written so
//! that it works where it is read. On the terminal it starts `sim` the way
//! the reader's shell can, from the folder `sim` ran in. In a file's header
//! it names the file from the file's own folder, so it stays right when
//! that folder is moved or downloaded (a nightly run's `failures-N`).

use std::{
    ffi::OsStr,
    path::{Path, PathBuf},
    sync::OnceLock,
};

/// The command that runs `file` again, for the terminal:
/// `<program> run <file>`, with [`program`] and the path as given.
pub fn command(file: &Path) -> String {
    format!("{} run {}", program(), quoted(&file.display().to_string()))
}

/// How the reader's shell starts this very executable: `sim` when the `sim`
/// found on `PATH` is this executable (as after `cargo install --path
/// sim`); else its path, relative when it lies inside the current folder
/// (`target/debug/sim`, the build `cargo run -p sim` ran), absolute
/// otherwise. The executable that found a failure, never `cargo run`: that
/// could rebuild in another profile or from edited code first.
pub fn program() -> &'static str {
    static PROGRAM: OnceLock<String> = OnceLock::new();
    PROGRAM.get_or_init(|| {
        let Ok(exe) = std::env::current_exe() else {
            return "sim".to_owned();
        };
        let cwd = std::env::current_dir().unwrap_or_default();
        program_for(&exe, &cwd, std::env::var_os("PATH").as_deref())
    })
}

/// [`program`] for the executable `exe`, run from `cwd` with `path` as
/// `PATH`.
fn program_for(exe: &Path, cwd: &Path, path: Option<&OsStr>) -> String {
    let exe = canonical(exe);
    let name = format!("sim{}", std::env::consts::EXE_SUFFIX);
    let on_path = path
        .into_iter()
        .flat_map(std::env::split_paths)
        .map(|dir| cwd.join(dir).join(&name))
        .find(|candidate| is_executable(candidate));
    if on_path.is_some_and(|found| canonical(&found) == exe) {
        return "sim".to_owned();
    }
    let shown = match exe.strip_prefix(canonical(cwd)) {
        // `./sim`: a bare name would be looked up on PATH.
        Ok(inside) if inside.components().count() == 1 => Path::new(".").join(inside),
        Ok(inside) => inside.to_path_buf(),
        Err(_) => exe,
    };
    quoted(&shown.display().to_string())
}

/// The reproduce line of a scenario file's header: the file by its name
/// alone, run from its own folder.
pub fn header_line(file: &Path) -> String {
    let name = file.file_name().map_or_else(
        || file.display().to_string(),
        |name| name.to_string_lossy().into_owned(),
    );
    format!(
        "# reproduce: sim run {}  (from this file's folder)\n",
        quoted(&name)
    )
}

/// How a header of the file `file` names `other`: by its name alone when
/// it lies in the same folder (both then move together), else by its
/// absolute path.
pub fn beside(file: &Path, other: &Path) -> String {
    let folder = |path: &Path| {
        let parent = path
            .parent()
            .filter(|parent| !parent.as_os_str().is_empty());
        canonical(parent.unwrap_or(Path::new(".")))
    };
    match other.file_name() {
        Some(name) if folder(file) == folder(other) => name.to_string_lossy().into_owned(),
        _ => canonical(other).display().to_string(),
    }
}

/// `path` with symbolic links resolved, when it exists.
fn canonical(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
}

/// Whether the shell would run `path`.
fn is_executable(path: &Path) -> bool {
    let Ok(metadata) = std::fs::metadata(path) else {
        return false;
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        metadata.is_file() && metadata.permissions().mode() & 0o111 != 0
    }
    #[cfg(not(unix))]
    {
        metadata.is_file()
    }
}

/// `word` as a shell reads it back: as is when it holds nothing the shell
/// would take apart, else in single quotes.
fn quoted(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:@%+=,".contains(c));
    if plain {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::Scratch;
    use std::fs;

    /// A folder holding `bin/sim`, `other/sim` and `work/`, fresh per test
    /// and removed after it; and its canonical path.
    fn layout(name: &str) -> (Scratch, PathBuf) {
        let root = Scratch::new(&format!("reproduce-{name}"));
        for dir in ["bin", "other", "work/target/debug"] {
            fs::create_dir_all(root.join(dir)).unwrap();
        }
        for exe in ["bin/sim", "other/sim", "work/target/debug/sim"] {
            let path = root.join(exe);
            fs::write(&path, "").unwrap();
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
            }
        }
        let path = canonical(&root);
        (root, path)
    }

    #[test]
    fn sim_on_the_path_is_named_sim_only_when_it_is_this_executable() {
        let (_scratch, root) = layout("path");
        let exe = root.join("bin/sim");
        let work = root.join("work");
        let path =
            |dirs: &[&str]| std::env::join_paths(dirs.iter().map(|dir| root.join(dir))).unwrap();
        assert_eq!(program_for(&exe, &work, Some(&path(&["bin"]))), "sim");
        assert_eq!(
            program_for(&exe, &work, Some(&path(&["other", "bin"]))),
            exe.display().to_string(),
            "another `sim` comes first on PATH"
        );
        assert_eq!(program_for(&exe, &work, None), exe.display().to_string());
        let built = work.join("target/debug/sim");
        assert_eq!(
            program_for(&built, &work, Some(&path(&["other"]))),
            "target/debug/sim"
        );
        assert_eq!(
            program_for(&built, &work.join("target/debug"), None),
            "./sim"
        );
        let _ = fs::remove_dir_all(&root);
    }

    #[test]
    fn headers_name_the_file_from_its_folder() {
        assert_eq!(
            header_line(Path::new("failures/seed-7.min.toml")),
            "# reproduce: sim run seed-7.min.toml  (from this file's folder)\n"
        );
        assert_eq!(
            header_line(Path::new("my runs/it's.toml")),
            "# reproduce: sim run 'it'\\''s.toml'  (from this file's folder)\n"
        );
    }

    #[test]
    fn a_file_beside_is_named_by_its_name_alone() {
        let (_scratch, root) = layout("beside");
        let (shrunk, full) = (
            root.join("bin/seed-1.min.toml"),
            root.join("bin/seed-1.toml"),
        );
        assert_eq!(beside(&shrunk, &full), "seed-1.toml");
        let elsewhere = root.join("other/seed-1.toml");
        assert_eq!(beside(&shrunk, &elsewhere), elsewhere.display().to_string());
        let _ = fs::remove_dir_all(&root);
    }

    #[test]
    fn paths_are_quoted_for_the_shell_only_when_needed() {
        assert_eq!(quoted("out/seed-1.toml"), "out/seed-1.toml");
        assert_eq!(quoted("my out/seed-1.toml"), "'my out/seed-1.toml'");
        assert_eq!(quoted(""), "''");
    }
}
