//! Fuzz target: A Group stream: GROUP then FRAMEs up to FIN.
//! Calls `moql_wire::fuzz::group_stream`, which tries every version and must never panic.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| moql_wire::fuzz::group_stream(data));
