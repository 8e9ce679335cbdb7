//! The in-memory pair's contract, one behaviour per test, on a paused clock.

use bytes::Bytes;
use futures::FutureExt;
use moql_wire::Version;
use web_transport_trait::{Error as _, RecvStream as _, SendStream as _, Session as _};

use super::{Config, MemError, MemRecv, pair, pair_at, pair_with};

async fn read_all(recv: &mut MemRecv) -> Result<Vec<u8>, MemError> {
    let mut out = Vec::new();
    while let Some(chunk) = recv.read_chunk(usize::MAX).await? {
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

#[tokio::test(start_paused = true)]
async fn bidirectional_streams_carry_bytes_both_ways_and_arrive_in_open_order() {
    let (client, server) = pair();
    let (mut a, _a_recv) = client.open_bi().await.unwrap();
    let (mut b, mut b_recv) = client.open_bi().await.unwrap();
    // Written out of order: the later stream makes the earlier one visible first.
    b.write_all(b"second").await.unwrap();
    a.write_all(b"first").await.unwrap();
    a.finish().unwrap();
    b.finish().unwrap();

    let (_, mut first) = server.accept_bi().await.unwrap();
    let (mut reply, mut second) = server.accept_bi().await.unwrap();
    assert_eq!(read_all(&mut first).await.unwrap(), b"first");
    assert_eq!(read_all(&mut second).await.unwrap(), b"second");
    reply.write_all(b"answer").await.unwrap();
    reply.finish().unwrap();
    assert_eq!(read_all(&mut b_recv).await.unwrap(), b"answer");
}

#[tokio::test(start_paused = true)]
async fn a_stream_is_invisible_until_something_is_sent_on_it() {
    let (client, server) = pair();
    let _silent = client.open_uni().await.unwrap();
    assert!(server.accept_uni().now_or_never().is_none());
    let mut spoken = client.open_uni().await.unwrap();
    spoken.write_all(b"x").await.unwrap();
    // Both are visible now, the earlier first (QUIC opens lower IDs implicitly).
    let mut first = server.accept_uni().await.unwrap();
    let mut second = server.accept_uni().await.unwrap();
    assert!(first.read_chunk(16).now_or_never().is_none(), "nothing yet");
    assert_eq!(second.read_chunk(16).await.unwrap().unwrap(), "x");
}

#[tokio::test(start_paused = true)]
async fn unidirectional_streams_arrive_in_open_order() {
    let (client, server) = pair();
    for i in 0..5u8 {
        let mut send = client.open_uni().await.unwrap();
        send.write_all(&[i]).await.unwrap();
    }
    for i in 0..5u8 {
        let mut recv = server.accept_uni().await.unwrap();
        assert_eq!(
            read_all(&mut recv).await.unwrap(),
            vec![i],
            "dropped = finished"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn a_writer_waits_while_the_peer_holds_a_window_of_unread_bytes() {
    let (client, server) = pair_with(Config {
        window: 4,
        ..Config::default()
    });
    let mut send = client.open_uni().await.unwrap();
    assert_eq!(send.write(b"abcdef").await.unwrap(), 4, "a partial write");
    assert!(send.write(b"ef").now_or_never().is_none(), "blocked");
    let mut recv = server.accept_uni().await.unwrap();
    assert_eq!(recv.read_chunk(3).await.unwrap().unwrap(), "abc");
    assert_eq!(send.write(b"efgh").await.unwrap(), 3, "room for 3");
    assert!(send.write(b"h").now_or_never().is_none(), "full again");
    send.finish().unwrap();
    assert_eq!(read_all(&mut recv).await.unwrap(), b"defg");
}

#[tokio::test(start_paused = true)]
async fn a_blocked_write_resumes_when_the_reader_reads() {
    let (client, server) = pair_with(Config {
        window: 2,
        ..Config::default()
    });
    let mut send = client.open_uni().await.unwrap();
    let writer = tokio::spawn(async move {
        send.write_all(b"0123456789").await.unwrap();
        send.finish().unwrap();
    });
    let mut recv = server.accept_uni().await.unwrap();
    assert_eq!(read_all(&mut recv).await.unwrap(), b"0123456789");
    writer.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_reset_reaches_the_reader_with_its_code_and_discards_unread_bytes() {
    let (client, server) = pair();
    let mut send = client.open_uni().await.unwrap();
    send.write_all(b"lost").await.unwrap();
    let mut recv = server.accept_uni().await.unwrap();
    send.reset(7);
    let err = recv.read_chunk(16).await.unwrap_err();
    assert_eq!((err.stream_error(), err.session_error()), (Some(7), None));
    assert_eq!(recv.closed().await, Ok(()));
    assert_eq!(send.closed().await, Ok(()), "our reset closes it");
    assert_eq!(send.write(b"x").await, Err(MemError::ClosedStream));
}

#[tokio::test(start_paused = true)]
async fn a_stop_reaches_the_writer_with_its_code() {
    let (client, server) = pair();
    let (mut send, _recv) = client.open_bi().await.unwrap();
    send.write_all(b"hello").await.unwrap();
    let (_, mut recv) = server.accept_bi().await.unwrap();
    let waiting = tokio::spawn(async move {
        let closed = send.closed().await;
        (closed, send.write(b"more").await)
    });
    tokio::task::yield_now().await;
    recv.stop(9);
    let (closed, write) = waiting.await.unwrap();
    assert_eq!(closed.unwrap_err().stream_error(), Some(9));
    assert_eq!(write, Err(MemError::Stopped(9)));
    assert_eq!(recv.read_chunk(8).await, Err(MemError::ClosedStream));
}

#[tokio::test(start_paused = true)]
async fn dropping_a_receiver_before_the_fin_stops_with_0_and_after_it_does_nothing() {
    let (client, server) = pair();
    let mut early = client.open_uni().await.unwrap();
    early.write_all(b"a").await.unwrap();
    drop(server.accept_uni().await.unwrap());
    assert_eq!(early.closed().await, Err(MemError::Stopped(0)));

    let mut finished = client.open_uni().await.unwrap();
    finished.write_all(b"b").await.unwrap();
    finished.finish().unwrap();
    drop(server.accept_uni().await.unwrap());
    assert_eq!(
        finished.closed().await,
        Ok(()),
        "a FIN is acknowledged at once"
    );
}

#[tokio::test(start_paused = true)]
async fn a_close_reaches_the_peer_with_its_code_and_fails_pending_and_later_operations() {
    let (client, server) = pair();
    let mut send = client.open_uni().await.unwrap();
    send.write_all(b"kept").await.unwrap();
    let mut recv = server.accept_uni().await.unwrap();
    // Unwritten, so the server cannot accept it (dropping its receiver would reveal it).
    let (mut bidi, _bidi_recv) = client.open_bi().await.unwrap();
    let pending = {
        let server = server.clone();
        tokio::spawn(async move { server.accept_bi().await.map(|_| ()) })
    };
    tokio::task::yield_now().await;
    server.close(42, "bye");

    let err = pending.await.unwrap().unwrap_err();
    assert_eq!(err, MemError::LocallyClosed, "the closer's own operations");
    assert_eq!(err.session_error(), None);
    let seen = client.closed().await;
    assert_eq!(seen.session_error(), Some((42, "bye".to_string())));
    assert_eq!(client.open_uni().await.err(), Some(seen.clone()));
    assert_eq!(bidi.write(b"x").await, Err(seen.clone()));
    assert_eq!(client.send_datagram(Bytes::from_static(b"d")), Err(seen));
    // Bytes delivered before the close are still read, then the close.
    assert_eq!(recv.read_chunk(16).await.unwrap().unwrap(), "kept");
    assert_eq!(recv.read_chunk(16).await, Err(MemError::LocallyClosed));
}

#[tokio::test(start_paused = true)]
async fn dropping_every_handle_of_one_end_closes_with_0() {
    let (client, server) = pair();
    let stream = client.open_uni().await.unwrap();
    drop(client);
    assert!(
        server.closed().now_or_never().is_none(),
        "a stream holds the end"
    );
    drop(stream);
    assert_eq!(
        server.closed().await,
        MemError::Closed {
            code: 0,
            reason: String::new()
        }
    );
}

#[tokio::test(start_paused = true)]
async fn datagrams_are_bounded_drop_the_oldest_and_refuse_oversize() {
    let (client, server) = pair_with(Config {
        datagrams: 2,
        max_datagram_size: 4,
        ..Config::default()
    });
    assert_eq!(client.max_datagram_size(), 4);
    for d in ["1", "2", "3"] {
        client.send_datagram(Bytes::from(d)).unwrap();
    }
    assert_eq!(
        client.send_datagram(Bytes::from_static(b"12345")),
        Err(MemError::TooLarge)
    );
    assert_eq!(server.recv_datagram().await.unwrap(), "2");
    assert_eq!(server.recv_datagram().await.unwrap(), "3");
    assert!(server.recv_datagram().now_or_never().is_none());
}

#[tokio::test(start_paused = true)]
async fn the_protocol_carries_a_version_and_priorities_are_accepted() {
    let (client, server) = pair_at(Version::Lite04);
    for end in [&client, &server] {
        let alpn = end.protocol().map(str::as_bytes);
        assert_eq!(alpn.and_then(Version::from_alpn), Some(Version::Lite04));
    }
    assert_eq!(pair().0.protocol(), None);
    let mut send = client.open_uni().await.unwrap();
    send.set_priority(i32::MIN);
    send.write_all(b"x").await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_cancelled_write_takes_no_bytes() {
    let (client, server) = pair_with(Config {
        window: 1,
        ..Config::default()
    });
    let mut send = client.open_uni().await.unwrap();
    send.write_all(b"a").await.unwrap();
    let mut rest = Bytes::from_static(b"bc");
    assert!(send.write_buf(&mut rest).now_or_never().is_none());
    assert_eq!(rest, "bc", "nothing taken by the cancelled write");
    let mut recv = server.accept_uni().await.unwrap();
    assert_eq!(recv.read_chunk(8).await.unwrap().unwrap(), "a");
    send.write_all_buf(&mut rest).now_or_never();
    drop(send);
    assert_eq!(read_all(&mut recv).await.unwrap(), b"b");
}
