//! Unit tests that span modules; loom models live in `loom.rs`.

#[cfg(not(loom))]
mod channel;
#[cfg(loom)]
mod loom;
