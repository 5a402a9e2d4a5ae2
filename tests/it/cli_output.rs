//! Output that cannot be written ends `cb` cleanly: a full disk in one line
//! and a non-zero exit, a reader that went away (`cb ... | head`) quietly
//! with the status of a process ended by SIGPIPE. Neither panics.

use std::path::Path;
use std::process::{Command, Stdio};

fn bundles(stdout: Stdio) -> std::process::Output {
    let ex = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/activations");
    Command::new(env!("CARGO_BIN_EXE_cb"))
        .arg("bundles")
        .arg("--activations")
        .arg(ex.join("layer.npy"))
        .arg("--labels")
        .arg(ex.join("labels.npy"))
        .args(["--classes", "10", "--max-weight", "0.5", "--sizes"])
        .stdout(stdout)
        .stderr(Stdio::piped())
        .output()
        .unwrap()
}

#[test]
fn a_full_disk_is_one_line() {
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let o = bundles(Stdio::from(full));
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("cannot write to standard output"), "{err}");
}

#[test]
fn a_closed_pipe_ends_quietly() {
    // The reading end is closed before cb starts: its first write fails.
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let o = bundles(Stdio::from(writer));
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(141), "{err}");
    assert!(err.is_empty(), "{err}");
}
