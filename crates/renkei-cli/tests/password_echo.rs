//! `renkei ops login` on a real (pseudo-)terminal: the typed password is not echoed.

use std::io::Write as _;
use std::process::{Command, Stdio};
use std::time::Duration;

#[test]
fn login_on_a_terminal_does_not_echo_the_password() {
    if Command::new("script").arg("--version").output().is_err() {
        eprintln!("skipped: script(1) is not installed");
        return;
    }
    let secret = "hunter2-not-echoed";
    let cmd = format!("{} ops login --user admin", env!("CARGO_BIN_EXE_renkei"));
    let mut child = Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .env_remove("RENKEI_TERMINAL_CERT")
        .env_remove("RENKEI_TERMINAL_KEY")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawning script");
    // Type only once the prompt has had time to turn echo off.
    std::thread::sleep(Duration::from_millis(1500));
    let mut stdin = child.stdin.take().expect("stdin");
    stdin
        .write_all(format!("{secret}\n").as_bytes())
        .expect("typing the password");
    drop(stdin);
    let out = child.wait_with_output().expect("waiting for script");
    let seen = String::from_utf8_lossy(&out.stdout);
    assert!(seen.contains("password for admin: "), "no prompt: {seen:?}");
    // The password was read: the command went on to want a terminal certificate.
    assert!(seen.contains("no terminal certificate"), "{seen:?}");
    assert!(!seen.contains(secret), "the password was echoed: {seen:?}");
}
