//! Reading and writing the files a user names: bounded reads, and output
//! places checked before any work is done, so that a wrong path fails at
//! once with a clear message instead of after a run (or never).

use std::{
    fs,
    io::{self, Read, Write},
    path::{Path, PathBuf},
};

/// Reads `path` as UTF-8 text of at most `limit` bytes; the error says why
/// not, in words.
pub fn read_text(path: &Path, limit: u64) -> Result<String, String> {
    let file = fs::File::open(path).map_err(|error| format!("cannot read the file: {error}"))?;
    let mut bytes = Vec::new();
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(|error| format!("cannot read the file: {error}"))?;
    if bytes.len() as u64 > limit {
        return Err(format!(
            "expected a file of at most {} KiB; this one is larger",
            limit / 1024
        ));
    }
    String::from_utf8(bytes).map_err(|_| "expected UTF-8 text".to_owned())
}

/// Checks that a file can be written at `path` (creating its folder if
/// needed) without leaving anything behind that was not there.
pub fn check_writable_file(path: &Path) -> Result<(), String> {
    if path.is_dir() {
        return Err(format!("{} is a folder, expected a file", path.display()));
    }
    if let Some(parent) = path
        .parent()
        .filter(|parent| !parent.as_os_str().is_empty())
    {
        fs::create_dir_all(parent)
            .map_err(|error| format!("cannot create {}: {error}", parent.display()))?;
    }
    let existed = path.exists();
    fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)
        .map_err(|error| format!("cannot write {}: {error}", path.display()))?;
    if !existed {
        let _ = fs::remove_file(path);
    }
    Ok(())
}

/// Checks that files can be written into the folder `dir`, creating it if
/// needed.
pub fn check_writable_dir(dir: &Path) -> Result<(), String> {
    if dir.exists() && !dir.is_dir() {
        return Err(format!("{} is a file, expected a folder", dir.display()));
    }
    fs::create_dir_all(dir).map_err(|error| format!("cannot create {}: {error}", dir.display()))?;
    let probe: PathBuf = dir.join(".sim-write-check");
    fs::write(&probe, b"")
        .map_err(|error| format!("cannot write into {}: {error}", dir.display()))?;
    let _ = fs::remove_file(probe);
    Ok(())
}

/// Writes a scenario file at `path` without ever replacing another one:
/// when a file is there already holding another scenario, the new one goes
/// to the first free `NAME-2.toml`, `NAME-3.toml`, … (`NAME-2.min.toml` for
/// a `.min.toml`). A file holding the same scenario (its `#` header aside:
/// the header says how long a shrink took) is rewritten in place, so a
/// rerun does not pile up copies. `contents` makes the text for the path
/// chosen, since a file's header names the file. Returns the path written.
pub fn write_new(path: &Path, contents: impl Fn(&Path) -> String) -> io::Result<PathBuf> {
    for candidate in numbered(path) {
        let text = contents(&candidate);
        match fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&candidate)
        {
            Ok(mut file) => {
                file.write_all(text.as_bytes())?;
                return Ok(candidate);
            }
            Err(error) if error.kind() == io::ErrorKind::AlreadyExists => {
                // A folder, or a file that is not text, is another file.
                let same = fs::read_to_string(&candidate)
                    .is_ok_and(|there| without_header(&there) == without_header(&text));
                if same {
                    fs::write(&candidate, text)?;
                    return Ok(candidate);
                }
            }
            Err(error) => return Err(error),
        }
    }
    Err(io::Error::other(format!(
        "every numbered name after {} is taken",
        path.display()
    )))
}

/// `path`, then the same name numbered from 2 before its extension, which
/// for a shrunk file is the whole `.min.toml`.
fn numbered(path: &Path) -> impl Iterator<Item = PathBuf> + '_ {
    let name = path
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    let split = [".min.toml", ".toml"]
        .iter()
        .find_map(|extension| name.strip_suffix(extension).map(|stem| (stem, *extension)))
        .map(|(stem, extension)| (stem.to_owned(), extension.to_owned()));
    let (stem, extension) = split.unwrap_or_else(|| match name.rsplit_once('.') {
        Some((stem, extension)) if !stem.is_empty() => (stem.to_owned(), format!(".{extension}")),
        _ => (name.clone(), String::new()),
    });
    std::iter::once(path.to_path_buf()).chain(
        (2..=u32::MAX)
            .map(move |number| path.with_file_name(format!("{stem}-{number}{extension}"))),
    )
}

/// A scenario file's text after its leading `#` header lines.
fn without_header(text: &str) -> &str {
    let mut rest = text;
    while rest.starts_with('#') {
        rest = rest.split_once('\n').map_or("", |(_, after)| after);
    }
    rest
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::Scratch;

    #[test]
    fn another_scenario_is_never_replaced() {
        let dir = Scratch::new("files-numbered");
        let header = |path: &Path| format!("# {}\n", path.file_name().unwrap().to_string_lossy());
        let write = |name: &str, body: &str| {
            let written = write_new(&dir.join(name), |path| header(path) + body).unwrap();
            written.file_name().unwrap().to_string_lossy().into_owned()
        };
        assert_eq!(write("seed-3.toml", "seed = 3\n"), "seed-3.toml");
        assert_eq!(write("seed-3.toml", "seed = 3\n"), "seed-3.toml");
        assert_eq!(write("seed-3.toml", "seed = 4\n"), "seed-3-2.toml");
        assert_eq!(write("seed-3.toml", "seed = 5\n"), "seed-3-3.toml");
        assert_eq!(write("seed-3.toml", "seed = 4\n"), "seed-3-2.toml");
        assert_eq!(write("seed-3.min.toml", "a\n"), "seed-3.min.toml");
        assert_eq!(write("seed-3.min.toml", "b\n"), "seed-3-2.min.toml");
        assert_eq!(
            fs::read_to_string(dir.join("seed-3.toml")).unwrap(),
            "# seed-3.toml\nseed = 3\n"
        );
        assert_eq!(
            fs::read_to_string(dir.join("seed-3-2.toml")).unwrap(),
            "# seed-3-2.toml\nseed = 4\n"
        );
        fs::create_dir(dir.join("taken.toml")).unwrap();
        assert_eq!(write("taken.toml", "x\n"), "taken-2.toml");
    }

    #[test]
    fn a_header_alone_does_not_make_another_scenario() {
        assert_eq!(without_header("# a\n# b\nname = 1\n"), "name = 1\n");
        assert_eq!(without_header("name = 1\n# c\n"), "name = 1\n# c\n");
        assert_eq!(without_header("# only"), "");
    }
}
