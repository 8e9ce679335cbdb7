//! Wire conformance.
