//! Fuzz target: TRACK and TRACK_INFO.
//! Calls `moql_wire::fuzz::track`, which tries every version and must never panic.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| moql_wire::fuzz::track(data));
