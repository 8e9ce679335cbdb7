//! Fuzz target: SETUP on every version.
//! Calls `moql_wire::fuzz::setup`, which tries every version and must never panic.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| moql_wire::fuzz::setup(data));
