//! Grants that must expire: tokens, during and after the handshake.
