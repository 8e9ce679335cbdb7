//! Support crate for the workspace tests; the tests live in `[[test]]` targets.
