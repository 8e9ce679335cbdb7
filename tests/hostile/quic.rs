//! QUIC-level pressure: connection flow control, buffered bytes, silent streams.
