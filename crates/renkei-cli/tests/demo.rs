//! `renkei demo` runs every scenario and says so, with exit status 0.
#![allow(clippy::unwrap_used)]

use std::process::Command;

#[test]
fn the_demo_passes_every_scenario() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let out = Command::new(env!("CARGO_BIN_EXE_renkei"))
        .arg("demo")
        .current_dir(&root)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "demo failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("demo: 6 scenarios passed, 0 failed"),
        "{stdout}"
    );
    for s in [
        "Scenario a",
        "Scenario b",
        "Scenario c",
        "Scenario d",
        "Scenario e",
        "Scenario f",
    ] {
        assert!(stdout.contains(s), "{s} missing:\n{stdout}");
    }
}
