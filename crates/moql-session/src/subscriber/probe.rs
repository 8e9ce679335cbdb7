//! Our Probe stream (spec 4.6): opened only if the peer offered estimates (lite-05 SETUP
//! Probe ≥ 1); keeps the latest PROBE report for [`Session::probe`](crate::Session::probe).

use moql_wire::{BidiStream, Probe, ProbeLevel};

use crate::context::Context;
use crate::error::{StreamError, from_transport};
use crate::io::{Reader, Writer};

pub(crate) async fn run<T: web_transport_trait::Session>(ctx: Context<T>) {
    if let Err(err) = probe(&ctx).await {
        // Spec 4.6: probe failures never affect the session.
        tracing::debug!(%err, "probe stream ended");
    }
}

async fn probe<T: web_transport_trait::Session>(ctx: &Context<T>) -> Result<(), StreamError> {
    let version = ctx.version;
    if version.probe_requires_setup() {
        let setup = ctx.peer_setup().await.map_err(StreamError::transport)?;
        if setup.probe == ProbeLevel::None {
            return Ok(());
        }
    }
    let (send, recv) = ctx.transport.open_bi().await.map_err(from_transport)?;
    let mut writer = Writer::new(send);
    let mut reader = Reader::new(recv);
    // Spec 4.6: only the type byte; never a PROBE from the subscriber.
    writer.encode(&BidiStream::Probe, version).await?;
    while let Some(report) = reader.decode_maybe::<Probe>(version).await? {
        ctx.probe.send_replace(Some(report));
    }
    Ok(())
}
