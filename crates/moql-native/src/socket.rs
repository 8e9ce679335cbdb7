//! The UDP socket under every quinn endpoint: dual-stack for an IPv6 wildcard, and with large
//! kernel buffers.
//!
//! Why the buffers: a relay has one socket for every session, so a frame fanned out to 500
//! subscribers comes back as a burst of up to 500 ACKs within a millisecond. Linux's default
//! receive buffer (about 208 KiB) overflowed under that load (`RcvbufErrors` in
//! `/proc/net/snmp`: ~950 drops per 10 s at 1 → 500), and every drop costs a loss-recovery
//! round. The kernel caps the request at `net.core.rmem_max` / `wmem_max`; what it granted is
//! logged at debug level.

use std::net::SocketAddr;
use std::sync::Arc;

use socket2::{Domain, Protocol, Socket, Type};

/// What each endpoint asks the kernel for, per direction.
pub(crate) const BUFFER_BYTES: usize = 4 * 1024 * 1024;

/// Binds a UDP socket for quinn at `addr` (dual-stack if it is the IPv6 wildcard).
pub(crate) fn bind(addr: SocketAddr) -> std::io::Result<std::net::UdpSocket> {
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    if addr.is_ipv6() && addr.ip().is_unspecified() {
        // Like quinn's own client binding: an IPv6 wildcard also serves IPv4 peers, whatever
        // the OS default for IPV6_V6ONLY is.
        socket.set_only_v6(false)?;
    }
    // Best effort: a smaller buffer still works, only with more drops under bursts.
    if let Err(err) = socket.set_recv_buffer_size(BUFFER_BYTES) {
        tracing::debug!(%err, "could not raise the UDP receive buffer");
    }
    if let Err(err) = socket.set_send_buffer_size(BUFFER_BYTES) {
        tracing::debug!(%err, "could not raise the UDP send buffer");
    }
    tracing::debug!(
        recv = socket.recv_buffer_size().ok(),
        send = socket.send_buffer_size().ok(),
        "UDP socket buffers"
    );
    socket.bind(&addr.into())?;
    Ok(socket.into())
}

/// A quinn endpoint (no server config yet) on a socket from [`bind`], its stateless-reset
/// key made from `reset_seed` when given (random otherwise; see `ServerConfig::reset_seed`).
pub(crate) fn endpoint(
    addr: SocketAddr,
    reset_seed: Option<&[u8; 32]>,
) -> std::io::Result<quinn::Endpoint> {
    let config = match reset_seed {
        Some(seed) => {
            let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, seed);
            // quinn drops short-header packets whose connection ID its generator did not
            // make (a keyed hash check) before it considers a reset: the generator's key must
            // survive the restart too. Derived apart from the reset key.
            let tag = ring::hmac::sign(&key, b"moql connection id key");
            let mut cid_key = [0u8; 8];
            cid_key.copy_from_slice(&tag.as_ref()[..8]);
            let cid_key = u64::from_le_bytes(cid_key);
            let mut config = quinn::EndpointConfig::new(Arc::new(key));
            config.cid_generator(move || {
                Box::new(quinn_proto::HashedConnectionIdGenerator::from_key(cid_key))
            });
            config
        }
        None => quinn::EndpointConfig::default(),
    };
    quinn::Endpoint::new(config, None, bind(addr)?, Arc::new(quinn::TokioRuntime))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_are_raised_and_the_ipv6_wildcard_is_dual_stack() {
        let socket = bind("[::]:0".parse().unwrap()).unwrap();
        let socket = Socket::from(socket);
        assert!(!socket.only_v6().unwrap());
        // Linux reports twice the granted size; the grant is min(request, rmem_max), and any
        // rmem_max above the ~208 KiB default shows up as a raise.
        let default = std::fs::read_to_string("/proc/sys/net/core/rmem_default")
            .ok()
            .and_then(|s| s.trim().parse::<usize>().ok());
        let max = std::fs::read_to_string("/proc/sys/net/core/rmem_max")
            .ok()
            .and_then(|s| s.trim().parse::<usize>().ok());
        if let (Some(default), Some(max)) = (default, max)
            && max > default
        {
            assert!(socket.recv_buffer_size().unwrap() > default);
        }
    }
}
