//! What the crate's property tests share.

use proptest::test_runner::Config;
use std::{
    fs,
    ops::Deref,
    path::{Path, PathBuf},
};

/// `cases` cases, or as many as `PROPTEST_CASES` asks for:
/// `Config::with_cases` alone would override the variable.
pub(crate) fn cases(cases: u32) -> Config {
    if std::env::var_os("PROPTEST_CASES").is_some() {
        Config::default()
    } else {
        Config::with_cases(cases)
    }
}

/// A fresh folder for one test, removed when the test ends, passed or
/// panicked, so that runs of the tests do not fill the disk.
pub(crate) struct Scratch(PathBuf);

impl Scratch {
    /// An empty folder named after `name` and this process.
    pub(crate) fn new(name: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("sim-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("a scratch folder");
        Scratch(dir)
    }
}

impl Deref for Scratch {
    type Target = Path;

    fn deref(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}
