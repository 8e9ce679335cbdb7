//! Hostile peers against the real relay (`moql_relay::Relay` on loopback) with its default
//! limits and auth on: each test mounts one attack from the public edge, shows the bound that
//! stops it, and checks that an honest session on the same relay carries on.
//!
//! The bare-session hostile tests (malformed input, one session) live in
//! `crates/moql-session/tests/engine/hostile.rs`; these go through everything a relay on the
//! internet puts in front of a session.

#[path = "../support/mod.rs"]
mod support;

mod announce;
mod auth;
mod cache;
mod http;
mod quic;
mod tracks;
