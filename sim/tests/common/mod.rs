//! What the command-line tests share: running the `sim` binary in a scratch
//! folder of the test process, and reading what it printed.

#![allow(dead_code)] // Each test binary uses its own share of these.

use std::{
    path::{Path, PathBuf},
    process::{Command, Output},
};

/// Runs `sim` in `dir`, with no `RUST_LOG` from the caller's shell.
pub fn sim_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sim"))
        .args(args)
        .current_dir(dir)
        .env_remove("RUST_LOG")
        .output()
        .expect("sim runs")
}

/// Runs `sim` in this test binary's scratch folder.
pub fn sim(args: &[&str]) -> Output {
    sim_in(&scratch(), args)
}

/// A scratch folder per test process, named after the test binary, where
/// failures are written.
pub fn scratch() -> PathBuf {
    let binary = std::env::current_exe()
        .ok()
        .and_then(|path| {
            path.file_stem()
                .map(|stem| stem.to_string_lossy().into_owned())
        })
        .unwrap_or_else(|| "sim-test".to_owned());
    let dir = std::env::temp_dir().join(format!("{binary}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch directory");
    dir
}

/// How `sim` names itself in the reproduce lines it prints when [`sim_in`]
/// runs it from a scratch folder: by its absolute path, since it lies
/// outside that folder and `sim` on PATH (if any) is another executable.
pub fn program() -> String {
    let exe = Path::new(env!("CARGO_BIN_EXE_sim"));
    std::fs::canonicalize(exe)
        .unwrap_or_else(|_| exe.to_path_buf())
        .display()
        .to_string()
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}
