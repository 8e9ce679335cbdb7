//! The HTTP/WebSocket port: connection caps, timeouts, slow readers.
