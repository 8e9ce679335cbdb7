//! Hostile peers: each malformed input gets the spec's reaction, and where the spec says the
//! session survives, it still delivers a track afterwards (moved from `tests/hostile.rs`).

use std::time::Duration;

use crate::raw::{Harness, V, encode, harness, harness_at, read_to_end, subscribe};
use crate::support::{init_tracing, quiescent, within};
use bytes::Bytes;
use moql_model::Path;
use moql_session::testing::mem;
use moql_session::{Accepting, SessionError};
use moql_wire::{
    Announce, AnnounceMessage, AnnounceOk, AnnounceStart, AnnounceStatus, CodeScope, Decode,
    Encode, ErrorCode, FrameDecoder, Group, RouteCost, Subscribe, Version,
};
use web_transport_trait::{Error as _, RecvStream as _, SendStream as _, Session as _};

/// Sends raw bytes on a new bidirectional stream and returns how the server answered.
async fn bidi<T: web_transport_trait::Session>(
    client: &T,
    bytes: &[u8],
    fin: bool,
) -> Result<Vec<u8>, Option<u32>> {
    let (mut send, mut recv) = client.open_bi().await.unwrap();
    send.write_all(bytes).await.unwrap();
    if fin {
        send.finish().unwrap();
    }
    let answer = within("the server's answer", read_to_end(&mut recv)).await;
    drop(send);
    answer
}

/// Subscribes to demo/clock with correct bytes and checks a group arrives: the session works.
async fn still_delivers(h: &Harness, id: u64) {
    let (send, _recv) = subscribe(h, id, 1000).await;
    let seq = h.track.latest().map_or(0, |l| l + 1);
    let group = h.track.create_group(seq).unwrap();
    group.write(seq, format!("tick {seq}")).unwrap();
    group.finish().unwrap();

    // The server's Setup stream (type 1) may come first: skip it.
    let bytes = within("a group stream", async {
        loop {
            let mut uni = h.client.accept_uni().await.unwrap();
            let bytes = Bytes::from(read_to_end(&mut uni).await.unwrap());
            if bytes.first() == Some(&0x00) {
                return bytes;
            }
        }
    })
    .await;
    let mut rest = bytes.slice(1..);
    let header = Group::decode(&mut rest, V).unwrap();
    assert_eq!((header.subscribe_id, header.sequence), (id, seq));
    let frame = FrameDecoder::new().decode(&mut rest, V).unwrap();
    assert_eq!(frame.payload, format!("tick {seq}"));
    drop(send);
    // Let the unsubscribe land before the next check.
    within("the unsubscribe", async {
        while let Some(current) = h.track.subscription() {
            h.track.subscription_changed(Some(current)).await.unwrap();
        }
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn an_unknown_bidi_stream_type_is_reset_with_0_and_the_session_survives() {
    let h = harness().await;
    // Spec 3.3: "Unknown bidirectional type … the reference drops the stream — in practice
    // RESET code 0".
    assert_eq!(
        bidi(&h.client, &[0x07, 0x01, 0x02], true).await,
        Err(Some(0))
    );
    still_delivers(&h, 0).await;
}

#[tokio::test(start_paused = true)]
async fn an_unknown_uni_stream_type_is_stopped_and_the_session_survives() {
    let h = harness().await;
    let mut uni = h.client.open_uni().await.unwrap();
    uni.write_all(&[0x02, 0xaa]).await.unwrap();
    let _ = uni.finish();
    still_delivers(&h, 0).await;
}

#[tokio::test(start_paused = true)]
async fn a_truncated_request_is_dropped_and_the_session_survives() {
    let h = harness().await;
    // SUBSCRIBE whose declared length (0x15) runs past what is sent before FIN.
    let full = encode(&Subscribe {
        id: 9,
        broadcast: Path::new("demo").unwrap(),
        track: "clock".into(),
        priority: 0,
        ordered: false,
        max_latency: 0,
        start: None,
        end: None,
        frame_start: 0,
        frame_end: None,
    });
    let mut bytes = vec![0x02];
    bytes.extend_from_slice(&full[..full.len() - 3]);
    assert_eq!(
        bidi(&h.client, &bytes, true).await,
        Err(Some(0)),
        "spec 3.3: RESET 0"
    );
    still_delivers(&h, 0).await;
}

#[tokio::test(start_paused = true)]
async fn an_oversize_length_is_refused_without_allocating_and_the_session_survives() {
    let h = harness().await;
    // A SUBSCRIBE claiming a 1 GiB body: refused from the length alone.
    let mut bytes = vec![0x02];
    bytes.extend_from_slice(&[0xc0, 0, 0, 0, 0x40, 0, 0, 0]);
    bytes.extend_from_slice(&[0u8; 64]);
    assert_eq!(bidi(&h.client, &bytes, false).await, Err(Some(0)));
    still_delivers(&h, 0).await;
}

#[tokio::test(start_paused = true)]
async fn a_path_of_more_than_32_segments_is_refused_and_the_session_survives() {
    let h = harness().await;
    // Encode a SUBSCRIBE for a 32-segment path, then swap in a 33-segment one of the same
    // length ("…/aaa" becomes "…/a/a"), which no encoder here would produce.
    let valid = format!("{}/aaa", vec!["a"; 31].join("/"));
    let hostile = vec!["a"; 33].join("/");
    assert_eq!(valid.len(), hostile.len());
    let mut body = encode(&Subscribe {
        id: 9,
        broadcast: Path::new(&valid).unwrap(),
        track: "clock".into(),
        priority: 0,
        ordered: false,
        max_latency: 0,
        start: None,
        end: None,
        frame_start: 0,
        frame_end: None,
    });
    let at = body
        .windows(valid.len())
        .position(|w| w == valid.as_bytes())
        .unwrap();
    body[at..at + valid.len()].copy_from_slice(hostile.as_bytes());
    let mut bytes = vec![0x02];
    bytes.extend_from_slice(&body);
    assert_eq!(
        bidi(&h.client, &bytes, false).await,
        Err(Some(0)),
        "spec 2.4: a decode error; spec 3.3: the request is dropped with RESET 0"
    );
    still_delivers(&h, 0).await;
}

#[tokio::test(start_paused = true)]
async fn a_string_that_is_not_utf8_is_refused_and_the_session_survives() {
    let h = harness().await;
    // The vector "invalid-utf8-track-name": SUBSCRIBE with track name ff fe.
    let mut bytes = vec![0x02];
    bytes.extend_from_slice(&hex("0e010464656d6f02fffe0000000000"));
    assert_eq!(bidi(&h.client, &bytes, true).await, Err(Some(0)));
    still_delivers(&h, 0).await;
}

#[tokio::test(start_paused = true)]
async fn an_update_that_does_not_decode_resets_the_subscription_with_5() {
    let h = harness().await;
    let (mut send, mut recv) = subscribe(&h, 1, 0).await;
    // A SUBSCRIBE_UPDATE with trailing bytes inside its length.
    send.write_all(&hex("06000000000000")).await.unwrap();
    // Spec 4.4: "A SUBSCRIBE_UPDATE that fails to decode makes the reference publisher RESET
    // with code 5."
    assert_eq!(
        within("the reset", read_to_end(&mut recv)).await,
        Err(Some(5))
    );
    drop(send);
    still_delivers(&h, 2).await;
}

#[tokio::test(start_paused = true)]
async fn an_update_cut_short_by_fin_resets_the_subscription_with_5() {
    let h = harness().await;
    let (mut send, mut recv) = subscribe(&h, 1, 0).await;
    // The first bytes of a SUBSCRIBE_UPDATE (length 6, then two of its six bytes), then FIN:
    // the request was understood, so this is a malformed later message (spec 4.4: RESET 5),
    // not a request that did not decode (spec 3.3: RESET 0).
    send.write_all(&hex("060000")).await.unwrap();
    send.finish().unwrap();
    assert_eq!(
        within("the reset", read_to_end(&mut recv)).await,
        Err(Some(5))
    );
    drop(send);
    still_delivers(&h, 2).await;
}

#[tokio::test(start_paused = true)]
async fn bytes_after_an_announce_request_reset_it_with_5() {
    let h = harness().await;
    let mut bytes = vec![0x01];
    bytes.extend_from_slice(&hex("020000")); // ANNOUNCE_REQUEST prefix "" exclude 0
    bytes.push(0x42); // spec 4.2: nothing may follow
    let (mut send, mut recv) = h.client.open_bi().await.unwrap();
    send.write_all(&bytes).await.unwrap();
    let answer = within("the reset", read_to_end(&mut recv)).await;
    assert_eq!(answer, Err(Some(5)));
    drop(send);
    still_delivers(&h, 0).await;
}

#[tokio::test(start_paused = true)]
async fn an_ended_announce_for_a_path_never_announced_is_ignored() {
    let h = harness().await;
    // The server subscribes to our announcements: answer its announce stream.
    let (mut send, mut recv) = within("the server's announce stream", h.client.accept_bi())
        .await
        .unwrap();
    let mut buf = [0u8; 64];
    let n = within("ANNOUNCE_REQUEST", recv.read(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(buf[0], 0x01, "announce stream type");
    assert!(n >= 2);
    send.write_all(&encode(&AnnounceOk {
        hop_id: 77,
        active_count: 0,
    }))
    .await
    .unwrap();
    // Spec 5.4 step 6: "`ended` for a path that is not active is silently ignored".
    let ghost = Announce {
        status: AnnounceStatus::Ended,
        suffix: Path::new("ghost").unwrap(),
        hops: vec![],
    };
    send.write_all(&encode(&ghost)).await.unwrap();
    quiescent().await;
    let server = within("the server session", &mut { h.server })
        .await
        .unwrap();
    assert!(server.close_reason().is_none(), "the session survives");
    drop((send, recv));
    // A fresh harness shape is not needed: the server is still serving on this connection.
    let (mut s2, _r2) = h.client.open_bi().await.unwrap();
    s2.write_all(&[0x06]).await.unwrap();
    s2.write_all(&hex("0b0464656d6f05636c6f636b"))
        .await
        .unwrap(); // TRACK demo clock
    let mut r2 = _r2;
    let info = within("TRACK_INFO", read_to_end(&mut r2)).await.unwrap();
    assert_eq!(info, hex("060000538843e8"), "default TRACK_INFO, spec 5.9");
}

#[tokio::test(start_paused = true)]
async fn streams_left_without_a_header_are_stopped_with_3_after_the_header_timeout() {
    let h = harness().await;
    let start = tokio::time::Instant::now();
    // One byte of a two-byte varint: a uni stream type, a group header, a bidi stream type.
    let mut no_type = h.client.open_uni().await.unwrap();
    no_type.write_all(&[0x40]).await.unwrap();
    let mut no_header = h.client.open_uni().await.unwrap();
    no_header.write_all(&[0x00, 0x40]).await.unwrap();
    let (mut bidi_send, mut bidi_recv) = h.client.open_bi().await.unwrap();
    bidi_send.write_all(&[0x40]).await.unwrap();

    let bound = moql_session::DEFAULT_HEADER_TIMEOUT * 2;
    for stream in [&mut no_type, &mut no_header, &mut bidi_send] {
        let stopped = tokio::time::timeout(bound, stream.closed()).await;
        let err = stopped.expect("the stream is stopped").unwrap_err();
        assert_eq!(err.stream_error(), Some(ErrorCode::TIMEOUT.0));
    }
    assert_eq!(
        tokio::time::timeout(bound, read_to_end(&mut bidi_recv)).await,
        Ok(Err(Some(ErrorCode::TIMEOUT.0)))
    );
    assert!(start.elapsed() >= moql_session::DEFAULT_HEADER_TIMEOUT);
    still_delivers(&h, 0).await;
}

#[tokio::test(start_paused = true)]
async fn a_second_setup_stream_closes_the_session_with_15() {
    let h = harness().await;
    let server = within("the server session", h.server).await.unwrap();
    let mut again = h.client.open_uni().await.unwrap();
    again.write_all(&[0x01, 0x01, 0x00]).await.unwrap();
    again.finish().unwrap();
    let err = within("the close", server.closed()).await;
    assert!(
        matches!(
            err,
            SessionError::Protocol {
                code: ErrorCode::PROTOCOL_VIOLATION,
                ..
            }
        ),
        "spec 8: close with protocol violation (15), got {err:?}"
    );
    let client_err = within("the client to see it", h.client.closed()).await;
    assert_eq!(client_err.session_error().map(|(code, _)| code), Some(15));
}

#[tokio::test(start_paused = true)]
async fn a_client_that_never_sends_setup_is_closed_after_the_timeout() {
    init_tracing();
    let (client, server) = mem::pair_at(V);
    let result = Accepting::new(server, V, Duration::from_millis(200)).await;
    assert!(matches!(
        result,
        Err(SessionError::Protocol {
            code: ErrorCode::TIMEOUT,
            ..
        })
    ));
    let err = within("the client to see the close", client.closed()).await;
    assert_eq!(
        err.session_error().map(|(code, _)| code),
        Some(ErrorCode::TIMEOUT.0)
    );
}

pub(crate) fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// moq-lite-06.md 6.7, 9: on lite-06 a second ANNOUNCE_START for a path the stream already
/// holds closes the session with PROTOCOL_VIOLATION (3 in the lite-06 session registry).
#[tokio::test(start_paused = true)]
async fn a_lite06_duplicate_announce_start_closes_the_session_with_3() {
    const V6: Version = Version::Lite06;
    let h = harness_at(V6).await;
    // The server's announce stream to us: read its type and ANNOUNCE_REQUEST, answer as a
    // publisher with ANNOUNCE_OK and the same START twice.
    let (mut send, mut recv) = within("the announce stream", h.client.accept_bi())
        .await
        .unwrap();
    let mut head = [0u8; 16];
    let n = recv.read(&mut head).await.unwrap().unwrap();
    assert_eq!(head[0], 0x01, "an Announce stream ({n} bytes)");
    let start = AnnounceMessage::Start(AnnounceStart {
        suffix: Path::new("twice").unwrap(),
        hops: vec![],
        cost: RouteCost::default(),
    });
    let mut bytes = AnnounceOk {
        hop_id: 9,
        active_count: 1,
    }
    .encode_to_vec(V6)
    .unwrap();
    bytes.extend(start.encode_to_vec(V6).unwrap());
    bytes.extend(start.encode_to_vec(V6).unwrap());
    send.write_all(&bytes).await.unwrap();
    let err = within("the close", h.client.closed()).await;
    assert_eq!(
        err.session_error().map(|(code, _)| code),
        Some(ErrorCode::PROTOCOL_VIOLATION.to_wire(V6, CodeScope::Session)),
        "{err}"
    );
    assert_eq!(
        ErrorCode::PROTOCOL_VIOLATION.to_wire(V6, CodeScope::Session),
        3
    );
}
