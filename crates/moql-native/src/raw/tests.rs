//! [`RawSession`] over real loopback QUIC against a plain quinn peer, which shows the codes
//! exactly as they are on the wire: stream codes go out mapped and are read back in either
//! form, session close codes go out unmapped (spec 10.2).

use std::future::Future;

use bytes::Buf;
use moql_wire::{ErrorCode, Version};
use tokio::time::timeout;
use web_transport_trait::{Error as _, RecvStream as _, SendStream as _, Session as _, Stats as _};

use super::super::tests::{WAIT, establish, exchange, init_tracing, pinned_client, server};
use super::super::{Client, Connection, Server};
use super::{RawError, RawSession};

/// NotFound (13) as spec 10.2 maps it: `0x52e4a40fa8db + 13 + 0`.
const NOT_FOUND_MAPPED: u64 = 0x52e4_a40f_a8e8;
/// Cancel (0) mapped: what dropping a receive stream sends.
const CANCEL_MAPPED: u64 = 0x52e4_a40f_a8db;

/// A raw QUIC session pair plus a plain quinn handle on the server's connection.
struct Pair {
    client: RawSession,
    server: RawSession,
    /// The server's connection as plain quinn: codes exactly as on the wire.
    plain: quinn::Connection,
    endpoints: (Server, Client),
}

async fn pair() -> Pair {
    init_tracing();
    let mut server = server("127.0.0.1:0", &[Version::Lite05]);
    let client = pinned_client(&server, &[Version::Lite05]);
    let (connected, accepted, _) = establish(&mut server, &client, "moql", "127.0.0.1", "/").await;
    Pair {
        client: raw(&connected.session),
        plain: accepted.connection().expect("a QUIC transport").clone(),
        server: raw(&accepted),
        endpoints: (server, client),
    }
}

fn raw(transport: &Connection) -> RawSession {
    match transport {
        Connection::Quic(session) => session.clone(),
        other => panic!("expected raw QUIC, got {other:?}"),
    }
}

async fn within<T>(what: &str, work: impl Future<Output = T>) -> T {
    timeout(WAIT, work)
        .await
        .unwrap_or_else(|_| panic!("timed out: {what}"))
}

fn varint(value: u64) -> quinn::VarInt {
    quinn::VarInt::from_u64(value).expect("varint")
}

/// Read a plain quinn stream until it fails.
async fn plain_read_error(recv: &mut quinn::RecvStream) -> quinn::ReadError {
    let mut buf = [0u8; 64];
    loop {
        match recv.read(&mut buf).await {
            Ok(Some(_)) => {}
            Ok(None) => panic!("stream finished, expected a reset"),
            Err(err) => return err,
        }
    }
}

/// Read one of our streams until it fails.
async fn read_error<R: web_transport_trait::RecvStream>(recv: &mut R) -> R::Error {
    let mut buf = [0u8; 64];
    loop {
        match recv.read(&mut buf).await {
            Ok(Some(_)) => {}
            Ok(None) => panic!("stream finished, expected a reset"),
            Err(err) => return err,
        }
    }
}

#[tokio::test]
async fn a_reset_goes_out_mapped_and_reads_back_as_the_code() {
    let p = pair().await;

    // To a plain quinn peer: 13 is on the wire as 0x52e4a40fa8e8.
    let mut send = p.client.open_uni().await.expect("open");
    send.write_all(b"partial").await.expect("write");
    send.reset(ErrorCode::NOT_FOUND.0);
    let mut recv = within("accept", p.plain.accept_uni())
        .await
        .expect("accept");
    let err = within("the reset", plain_read_error(&mut recv)).await;
    assert_eq!(err, quinn::ReadError::Reset(varint(NOT_FOUND_MAPPED)));

    // To our own stream: read back as 13.
    let mut send = p.client.open_uni().await.expect("open");
    send.write_all(b"partial").await.expect("write");
    send.reset(ErrorCode::NOT_FOUND.0);
    let mut recv = within("accept", p.server.accept_uni())
        .await
        .expect("accept");
    let err = within("the reset", read_error(&mut recv)).await;
    assert!(matches!(err, RawError::Reset(13)), "{err:?}");
    assert_eq!(err.stream_error(), Some(13));
    assert_eq!(err.session_error(), None);
}

#[tokio::test]
async fn a_reset_code_is_read_back_mapped_or_unmapped() {
    let p = pair().await;
    for (wire, expected) in [(13, Some(13)), (NOT_FOUND_MAPPED, Some(13)), (0, Some(0))] {
        let mut send = p.plain.open_uni().await.expect("open");
        send.write_all(b"x").await.expect("write");
        send.reset(varint(wire)).expect("reset");
        let mut recv = within("accept", p.client.accept_uni())
            .await
            .expect("accept");
        let err = within("the reset", read_error(&mut recv)).await;
        assert_eq!(err.stream_error(), expected, "wire {wire:#x}: {err:?}");
    }

    // Neither mapped nor 32-bit: kept, but not a moq-lite stream code.
    let bogus = 1 << 40;
    let mut send = p.plain.open_uni().await.expect("open");
    send.write_all(b"x").await.expect("write");
    send.reset(varint(bogus)).expect("reset");
    let mut recv = within("accept", p.client.accept_uni())
        .await
        .expect("accept");
    let err = within("the reset", read_error(&mut recv)).await;
    assert!(
        matches!(err, RawError::UnknownCode(code) if code == bogus),
        "{err:?}"
    );
    assert_eq!(err.stream_error(), None);
}

#[tokio::test]
async fn stop_sending_goes_out_mapped_and_reads_back_either_form() {
    let p = pair().await;

    // Ours → plain quinn: mapped.
    let mut send = p.plain.open_uni().await.expect("open");
    send.write_all(b"x").await.expect("write");
    let mut recv = within("accept", p.client.accept_uni())
        .await
        .expect("accept");
    let mut byte = [0u8; 1];
    within("the byte", recv.read(&mut byte))
        .await
        .expect("read");
    recv.stop(ErrorCode::NOT_FOUND.0);
    let stopped = within("the stop", send.stopped()).await.expect("stopped");
    assert_eq!(stopped, Some(varint(NOT_FOUND_MAPPED)));

    // Plain quinn → ours, in both forms: 13 either way, from `closed` and from `write`.
    for wire in [13, NOT_FOUND_MAPPED] {
        let mut send = p.client.open_uni().await.expect("open");
        send.write_all(b"x").await.expect("write");
        let mut recv = within("accept", p.plain.accept_uni())
            .await
            .expect("accept");
        within("the byte", recv.read(&mut byte))
            .await
            .expect("read");
        recv.stop(varint(wire)).expect("stop");
        let err = within("closed", send.closed()).await.expect_err("stopped");
        assert!(
            matches!(err, RawError::Stopped(13)),
            "wire {wire:#x}: {err:?}"
        );
        assert_eq!(err.stream_error(), Some(13));
        let err = within("write", send.write(b"more"))
            .await
            .expect_err("stopped");
        assert_eq!(err.stream_error(), Some(13), "wire {wire:#x}: {err:?}");
    }
}

#[tokio::test]
async fn dropping_an_unfinished_recv_stream_stops_it_with_mapped_cancel() {
    let p = pair().await;
    let mut send = p.plain.open_uni().await.expect("open");
    send.write_all(b"unread").await.expect("write");
    let recv = within("accept", p.client.accept_uni())
        .await
        .expect("accept");
    drop(recv);
    let stopped = within("the stop", send.stopped()).await.expect("stopped");
    assert_eq!(stopped, Some(varint(CANCEL_MAPPED)), "not quinn's raw 0");

    // Read to the end first: nothing to stop.
    let mut send = p.plain.open_uni().await.expect("open");
    send.write_all(b"all").await.expect("write");
    send.finish().expect("finish");
    let mut recv = within("accept", p.client.accept_uni())
        .await
        .expect("accept");
    assert_eq!(
        &within("read", recv.read_all()).await.expect("read")[..],
        b"all"
    );
    drop(recv);
    assert_eq!(
        within("the ack", send.stopped()).await.expect("stopped"),
        None
    );
}

#[tokio::test]
async fn session_close_goes_out_unmapped_and_reads_back_as_the_code() {
    let p = pair().await;
    let (_held_send, mut held_recv) = p.client.open_bi().await.expect("open");

    p.server.close(ErrorCode::UNAUTHORIZED.0, "unauthorized");

    // The client's plain quinn view shows the wire value: 6, unmapped.
    let plain_client = p.client.connection().clone();
    match within("close", plain_client.closed()).await {
        quinn::ConnectionError::ApplicationClosed(close) => {
            assert_eq!(close.error_code, varint(6));
            assert_eq!(&close.reason[..], b"unauthorized");
        }
        other => panic!("expected an application close, got {other:?}"),
    }

    let err = within("closed", p.client.closed()).await;
    assert_eq!(err.session_error(), Some((6, "unauthorized".to_owned())));
    assert_eq!(err.stream_error(), None);
    // Streams and new operations fail with the same close.
    let err = within("read", read_error(&mut held_recv)).await;
    assert_eq!(err.session_error(), Some((6, "unauthorized".to_owned())));
    let err = p.client.open_uni().await.expect_err("closed");
    assert_eq!(err.session_error(), Some((6, "unauthorized".to_owned())));

    // The closing side's own view is a local close, not the peer's code.
    let err = within("closed", p.server.closed()).await;
    assert!(
        matches!(
            err,
            RawError::Connection(quinn::ConnectionError::LocallyClosed)
        ),
        "{err:?}"
    );
    assert_eq!(err.session_error(), None);
}

#[tokio::test]
async fn a_mapped_session_close_code_is_read_back_too() {
    let p = pair().await;
    p.plain.close(varint(ErrorCode(6).to_http3()), b"mapped");
    let err = within("closed", p.client.closed()).await;
    assert_eq!(err.session_error(), Some((6, "mapped".to_owned())));

    let p = pair().await;
    p.plain.close(varint(1 << 40), b"not a moq-lite code");
    let err = within("closed", p.client.closed()).await;
    assert!(
        matches!(
            err,
            RawError::Connection(quinn::ConnectionError::ApplicationClosed(_))
        ),
        "{err:?}"
    );
    assert_eq!(err.session_error(), None);
}

#[tokio::test]
async fn stats_report_rtt_bytes_and_a_send_rate() {
    let p = pair().await;
    exchange(&p.client, &p.server).await;
    let stats = p.client.stats();
    assert!(stats.rtt().is_some_and(|rtt| !rtt.is_zero()));
    assert!(stats.estimated_send_rate().is_some_and(|rate| rate > 0));
    assert!(stats.bytes_sent().is_some_and(|n| n > 0));
    assert!(stats.packets_received().is_some_and(|n| n > 0));
    assert_eq!(p.client.protocol(), Some("moq-lite-05"));
    let server_addr = p.endpoints.0.local_addr().expect("server address");
    assert_eq!(p.client.remote_address(), server_addr);
    assert_eq!(p.server.remote_address(), p.plain.remote_address());
}

#[tokio::test]
async fn a_cancelled_write_buf_consumes_nothing() {
    let p = pair().await;
    // Larger than quinn's default stream receive window, so writes block while unread.
    let data: Vec<u8> = (0..8 << 20).map(|i: u32| (i % 251) as u8).collect();
    let mut send = p.client.open_uni().await.expect("open");
    let mut buf = &data[..];
    let mut cancelled = 0;
    while buf.has_remaining() && cancelled < 3 {
        let before = buf.remaining();
        match timeout(
            std::time::Duration::from_millis(50),
            send.write_buf(&mut buf),
        )
        .await
        {
            Ok(written) => assert_eq!(before - buf.remaining(), written.expect("write")),
            Err(_) => {
                assert_eq!(buf.remaining(), before, "a cancelled write consumed bytes");
                cancelled += 1;
            }
        }
    }
    assert!(cancelled > 0, "the window never filled");

    let reader = tokio::spawn({
        let server = p.server.clone();
        async move {
            let mut recv = server.accept_uni().await.expect("accept");
            recv.read_all().await.expect("read")
        }
    });
    within("the rest", send.write_all_buf(&mut buf))
        .await
        .expect("write");
    send.finish().expect("finish");
    let received = within("the reader", reader).await.expect("reader");
    assert!(
        received[..] == data[..],
        "the stream has a hole or extra bytes"
    );
}
