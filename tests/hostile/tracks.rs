//! Track tables: names that are requested once and never again.
