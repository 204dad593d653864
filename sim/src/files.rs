//! Reading and writing the files a user names: bounded reads, and output
//! places checked before any work is done, so that a wrong path fails at
//! once with a clear message instead of after a run (or never).

use std::{
    fs,
    io::Read,
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
    fs::create_dir_all(dir).map_err(|error| format!("cannot create {}: {error}", dir.display()))?;
    let probe: PathBuf = dir.join(".sim-write-check");
    fs::write(&probe, b"")
        .map_err(|error| format!("cannot write into {}: {error}", dir.display()))?;
    let _ = fs::remove_file(probe);
    Ok(())
}
