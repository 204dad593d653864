//! What the command-line tests share: running the `sim` binary in a scratch
//! folder of the test process, and reading what it printed.

#![allow(dead_code)] // Each test binary uses its own share of these.

use std::{
    path::{Path, PathBuf},
    process::{Command, Output},
    sync::OnceLock,
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

/// This test binary's scratch folder, where failures are written: under
/// Cargo's target folder (not the system's temporary one, which runs of
/// the tests would fill), one per binary, emptied when the process first
/// asks for it so that what is left between runs stays bounded.
pub fn scratch() -> PathBuf {
    static FRESH: OnceLock<PathBuf> = OnceLock::new();
    FRESH
        .get_or_init(|| {
            let binary = std::env::current_exe()
                .ok()
                .and_then(|path| {
                    path.file_stem()
                        .map(|stem| stem.to_string_lossy().into_owned())
                })
                .unwrap_or_else(|| "sim-test".to_owned());
            // Cargo names test binaries `<test>-<hash>`: the hash is the build's, not the run's.
            let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(binary);
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).expect("scratch directory");
            dir
        })
        .clone()
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
