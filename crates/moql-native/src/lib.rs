#![doc = include_str!("../README.md")]

mod cert_store;
mod client;
mod connection;
mod error;
mod kind;
mod quinn_config;
mod raw;
mod server;
mod socket;
#[cfg(feature = "websocket")]
mod tcp;
mod tls;
mod url;
#[cfg(feature = "websocket")]
pub mod ws;

#[cfg(test)]
mod tests;

pub use cert_store::{
    CertStore, generated_not_after, needs_renewal, renewal_time, server_crypto_from,
};
pub use client::{Client, ClientConfig, ClientTls, Connected};
pub use connection::{Connection, ConnectionError, RecvStream, SendStream};
pub use error::TransportError;
pub use kind::TransportKind;
pub use raw::{RawError, RawRecvStream, RawSendStream, RawSession};
pub use server::{Incoming, NO_COMMON_VERSION_STATUS, Server, ServerConfig};
#[cfg(feature = "websocket")]
pub use tcp::accept_tcp;
pub use tls::{
    Certificate, GENERATED_BACKDATE, GENERATED_VALIDITY, client_crypto, fingerprint_of, provider,
    server_crypto,
};
