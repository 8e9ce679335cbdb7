//! Fuzz target: A QUIC datagram body.
//! Calls `moql_wire::fuzz::datagram`, which tries every version and must never panic.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| moql_wire::fuzz::datagram(data));
