//! Async glue over `web_transport_trait` streams: a buffered message [`Reader`] and a
//! [`Writer`] that resets on drop.

mod reader;
mod writer;

pub(crate) use reader::Reader;
pub(crate) use writer::Writer;
