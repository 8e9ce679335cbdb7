//! Fuzz target: A sequence of PROBE reports.
//! Calls `moql_wire::fuzz::probe`, which tries every version and must never panic.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| moql_wire::fuzz::probe(data));
