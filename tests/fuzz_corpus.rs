//! Replays every seed in `fuzz/corpus/<target>/` through the matching `moql_wire::fuzz`
//! entry point on stable, so the fuzz targets' invariants (never panic, decode → encode →
//! decode round trips) are checked by every ordinary test run.

use std::fs;
use std::path::PathBuf;

/// A `moql_wire::fuzz` entry point.
type Entry = fn(&[u8]);

/// Each fuzz target and the function it calls.
const TARGETS: &[(&str, Entry)] = &[
    ("setup", moql_wire::fuzz::setup),
    ("announce_stream", moql_wire::fuzz::announce_stream),
    ("subscribe_stream", moql_wire::fuzz::subscribe_stream),
    ("track", moql_wire::fuzz::track),
    ("fetch", moql_wire::fuzz::fetch),
    ("probe", moql_wire::fuzz::probe),
    ("goaway", moql_wire::fuzz::goaway),
    ("group_stream", moql_wire::fuzz::group_stream),
    ("datagram", moql_wire::fuzz::datagram),
    ("stream_type", moql_wire::fuzz::stream_type),
];

fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus")
}

#[test]
fn every_corpus_seed_replays_cleanly() {
    let mut total = 0;
    for (target, run) in TARGETS {
        let dir = corpus_dir().join(target);
        let entries = fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        let mut seeds = 0;
        for entry in entries {
            let path = entry.expect("corpus entry").path();
            let data = fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            run(&data);
            seeds += 1;
        }
        assert!(seeds > 0, "fuzz target {target} has no corpus seeds");
        total += seeds;
    }
    assert!(total >= TARGETS.len());
}

#[test]
fn every_corpus_directory_has_a_target() {
    let mut dirs: Vec<String> = fs::read_dir(corpus_dir())
        .expect("corpus dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    // The `session` target plays scripts on a live session; moql-session's tests/engine/fuzz.rs replays
    // its seeds.
    dirs.retain(|d| d != "session");
    dirs.sort();
    let mut targets: Vec<String> = TARGETS.iter().map(|(t, _)| (*t).to_string()).collect();
    targets.sort();
    assert_eq!(dirs, targets);
}
