//! What a publisher can make the relay's cache hold.
