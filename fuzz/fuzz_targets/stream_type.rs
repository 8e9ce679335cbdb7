//! Fuzz target: The stream type header, bidirectional and unidirectional.
//! Calls `moql_wire::fuzz::stream_type`, which tries every version and must never panic.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| moql_wire::fuzz::stream_type(data));
