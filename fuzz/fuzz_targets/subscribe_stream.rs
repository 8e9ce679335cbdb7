//! Fuzz target: A Subscribe stream: SUBSCRIBE + SUBSCRIBE_UPDATEs, or typed responses.
//! Calls `moql_wire::fuzz::subscribe_stream`, which tries every version and must never panic.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| moql_wire::fuzz::subscribe_stream(data));
