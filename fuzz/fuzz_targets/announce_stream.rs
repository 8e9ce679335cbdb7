//! Fuzz target: An Announce stream: ANNOUNCE_REQUEST, or ANNOUNCE_OK followed by ANNOUNCEs.
//! Calls `moql_wire::fuzz::announce_stream`, which tries every version and must never panic.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| moql_wire::fuzz::announce_stream(data));
