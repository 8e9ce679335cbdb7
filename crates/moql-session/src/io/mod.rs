//! Async glue over `web_transport_trait` streams: a buffered message [`Reader`], a
//! [`Writer`] that resets on drop, and the transport wrapper that translates every error
//! code for the negotiated version ([`CodeMapped`]).

mod codes;
mod reader;
mod writer;

pub(crate) use codes::CodeMapped;
pub(crate) use reader::Reader;
pub(crate) use writer::Writer;
