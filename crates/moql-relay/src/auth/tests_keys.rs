//! Unit tests of JWK keys, key files and their reload, the claim forms, and public rules.
