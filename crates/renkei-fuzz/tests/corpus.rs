//! Replays every kept fuzz input (`fuzz/corpus/<target>/*`) through the same function the
//! fuzzer calls, on stable Rust: the crash inputs found by fuzzing stay fixed, and the
//! corpus stays a valid regression suite without cargo-fuzz or nightly.

use std::path::PathBuf;

#[test]
fn every_corpus_file_replays_without_panic() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus");
    let mut replayed = 0;
    for (name, target) in renkei_fuzz::TARGETS {
        let dir = root.join(name);
        let entries = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("no corpus for target {name} at {}: {e}", dir.display()));
        let mut files = 0;
        for entry in entries {
            let path = entry.expect("corpus directory entry").path();
            let data = std::fs::read(&path).expect("corpus file");
            eprintln!("{name}: {}", path.display());
            target(&data);
            files += 1;
        }
        assert!(files > 0, "the corpus of {name} is empty");
        replayed += files;
    }
    eprintln!("replayed {replayed} corpus files");
}

/// Inputs shorter than any target's framing return early instead of indexing past the end.
#[test]
fn empty_and_tiny_inputs_are_harmless() {
    for (_, target) in renkei_fuzz::TARGETS {
        target(&[]);
        target(&[0]);
        target(&[1, 0xFF]);
        target(&[0xFF; 64]);
    }
}
