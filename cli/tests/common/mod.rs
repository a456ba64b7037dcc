//! Helpers shared by the CLI tests: run the real binary in a temporary directory.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// What a run of the binary produced.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// The last line of stdout (the verdict of `inspect`).
    pub fn verdict(&self) -> &str {
        self.stdout.lines().last().unwrap_or_default()
    }
}

/// Runs `edgeward ARGS` in `dir`.
pub fn run(dir: &Path, args: &[&str]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_edgeward"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run edgeward");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}

/// Runs `edgeward ARGS` in `dir` with `input` on stdin.
pub fn run_stdin(dir: &Path, args: &[&str], input: &str) -> Run {
    use std::io::Write;
    use std::process::Stdio;
    let mut child = Command::new(env!("CARGO_BIN_EXE_edgeward"))
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run edgeward");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}

/// Runs `edgeward ARGS` in `dir` and asserts success.
pub fn ok(dir: &Path, args: &[&str]) -> Run {
    let r = run(dir, args);
    assert_eq!(
        r.code, 0,
        "edgeward {args:?}\nstdout:\n{}\nstderr:\n{}",
        r.stdout, r.stderr
    );
    r
}

/// A temporary directory with a CA (`ca/`, with or without intermediate) and a signing
/// certificate for `CN=token signer`.
pub fn pki(intermediate: bool) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let mut args = vec!["ca", "init", "--dir", "ca"];
    if intermediate {
        args.push("--intermediate");
    }
    ok(tmp.path(), &args);
    ok(
        tmp.path(),
        &["cert", "issue", "--ca-dir", "ca", "--name", "token signer"],
    );
    let path = tmp.path().to_path_buf();
    (tmp, path)
}

pub const ISS: &str = "https://login.example";
pub const AUD: &str = "https://api.example";

/// Mints an x5c token with `extra` flags.
pub fn mint_x5c(dir: &Path, extra: &[&str]) -> String {
    let mut args = vec![
        "token",
        "mint",
        "--key",
        "ca/signing.key",
        "--x5c",
        "ca/chain.pem",
        "--iss",
        ISS,
        "--aud",
        AUD,
    ];
    args.extend_from_slice(extra);
    let r = ok(dir, &args);
    assert_eq!(r.stdout.lines().count(), 1, "the token only: {}", r.stdout);
    r.stdout.trim().to_owned()
}
