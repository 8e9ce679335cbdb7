//! Fuzz target: FETCH, and a fetch reply of FRAMEs up to FIN.
//! Calls `moql_wire::fuzz::fetch`, which tries every version and must never panic.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| moql_wire::fuzz::fetch(data));
