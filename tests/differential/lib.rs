//! Differential tests of moql-wire against moq-net; see `differential.rs`.
