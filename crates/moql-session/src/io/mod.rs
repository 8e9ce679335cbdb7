//! Async glue over `web_transport_trait` streams: a buffered message [`Reader`], a
//! [`Writer`] that resets on drop, the one FRAME encoder of group and fetch streams
//! ([`FrameWriter`]), and the transport wrapper that translates every error
//! code for the negotiated version ([`CodeMapped`]).

mod codes;
mod frames;
mod reader;
mod writer;

pub(crate) use codes::CodeMapped;
pub(crate) use frames::FrameWriter;
pub(crate) use reader::{Reader, ReceiveBudget};
pub(crate) use writer::Writer;
