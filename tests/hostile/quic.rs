//! QUIC-level pressure: silent streams, buffered bytes, connection flow control.

use moql_model::{Path, Subscription, TrackConsumer};
use moql_native::{Client, ClientConfig, ClientTls};
use moql_session::testing::raw::{encode, send_setup};
use moql_wire::{
    Announce, AnnounceOk, AnnounceRequest, AnnounceStatus, Decode, ErrorCode, Group, Subscribe,
    SubscribeOk, SubscribeResponse, Version,
};
use web_transport_trait::{Error as _, RecvStream, SendStream as _, Session as _};

use crate::support::relay::TestRelay;
use crate::support::{TestClient, within};

/// A hand-driven lite-05 client of `relay` that has sent its SETUP.
async fn raw_client(relay: &TestRelay) -> impl web_transport_trait::Session {
    let client = Client::new(ClientConfig {
        tls: ClientTls::Fingerprints(vec![relay.fingerprint.clone()]),
        versions: vec![Version::Lite05],
        ..ClientConfig::default()
    })
    .unwrap();
    let url = relay.url("moql", "/");
    let session = within("connect", client.connect(&url))
        .await
        .unwrap()
        .session;
    send_setup(&session, Version::Lite05).await;
    session
}

/// A uni stream whose type never completes (one byte of a two-byte varint) must not hold up
/// the streams behind it: a second SETUP stream opened after it is still read, and closes
/// the session with 15 (spec 8).
#[tokio::test]
async fn a_silent_uni_stream_does_not_stall_the_streams_behind_it() {
    let relay = TestRelay::start(|_| {}).await;
    let client = raw_client(&relay).await;
    let mut silent = client.open_uni().await.unwrap();
    silent.write_all(&[0x40]).await.unwrap();
    let mut again = client.open_uni().await.unwrap();
    again.write_all(&[0x01, 0x01, 0x00]).await.unwrap();
    again.finish().unwrap();
    let err = within("the relay to read the stream behind", client.closed()).await;
    assert_eq!(
        err.session_error().map(|(code, _)| code),
        Some(ErrorCode::PROTOCOL_VIOLATION.0)
    );
    drop(silent);
    relay.shutdown().await;
}

/// This process's resident memory in bytes (Linux; 0 elsewhere).
fn resident() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|kb| {
            kb.trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<usize>()
                .ok()
        })
        .map_or(0, |kb| kb * 1024)
}

/// Reads from `recv` until `M` decodes from what arrived (after `skip` bytes).
async fn read_message<M: Decode, R: RecvStream>(recv: &mut R, skip: usize) -> M {
    read_rest(recv, Vec::new(), skip).await
}

/// [`read_message`], `bytes` already read.
async fn read_rest<M: Decode, R: RecvStream>(recv: &mut R, mut bytes: Vec<u8>, skip: usize) -> M {
    within("a message", async {
        loop {
            if bytes.len() > skip
                && let Ok((message, _)) = M::decode_from(&bytes[skip..], Version::Lite05)
            {
                return message;
            }
            let chunk = recv.read_chunk(4096).await.unwrap().expect("no FIN yet");
            bytes.extend_from_slice(&chunk);
        }
    })
    .await
}

/// A raw lite-05 publisher: answers the relay's announce request with one broadcast `pub`,
/// then the TRACK and SUBSCRIBE for its track. Returns the Subscribe ID and the open streams.
async fn publish_raw<S: web_transport_trait::Session>(
    client: &S,
    viewer: &TestClient,
) -> (u64, S::SendStream, S::RecvStream, TrackConsumer) {
    let (mut send, mut recv) = within("the announce stream", client.accept_bi())
        .await
        .unwrap();
    let _: AnnounceRequest = read_message(&mut recv, 1).await;
    let mut bytes = encode(&AnnounceOk::default(), Version::Lite05);
    bytes.extend(encode(
        &Announce {
            status: AnnounceStatus::Active,
            suffix: Path::new("pub").unwrap(),
            hops: vec![],
        },
        Version::Lite05,
    ));
    send.write_all(&bytes).await.unwrap();
    std::mem::forget((send, recv));

    let broadcast = crate::support::announced(&viewer.received, "pub").await;
    let track = broadcast
        .subscribe_track("video", Subscription::default())
        .unwrap();
    loop {
        let (mut send, mut recv) = within("a request", client.accept_bi()).await.unwrap();
        let first = within("the request", recv.read_chunk(4096)).await.unwrap();
        let bytes = first.expect("a request").to_vec();
        match bytes[0] {
            // TRACK: answer the default TRACK_INFO and finish.
            0x06 => {
                let _: moql_wire::Track = read_rest(&mut recv, bytes, 1).await;
                let info = encode(&moql_wire::TrackInfo::default(), Version::Lite05);
                send.write_all(&info).await.unwrap();
                send.finish().unwrap();
            }
            0x02 => {
                let subscribe: Subscribe = read_rest(&mut recv, bytes, 1).await;
                let ok = SubscribeResponse::Ok(SubscribeOk { group: 0 });
                send.write_all(&encode(&ok, Version::Lite05)).await.unwrap();
                return (subscribe.id, send, recv, track);
            }
            other => panic!("unexpected request type {other}"),
        }
    }
}

/// A publisher that opens group streams each holding most of a 20 MiB frame and never
/// finishing it: past the session's 64 MiB of incomplete frames, the relay stops each stream
/// that goes over with 493 instead of buffering it, and the session carries on.
#[tokio::test]
async fn incomplete_frames_are_bounded_per_session() {
    let relay = TestRelay::start(|_| {}).await;
    let viewer = relay.client("moql", "/").await;
    let client = raw_client(&relay).await;
    let (id, _sub_send, _sub_recv, mut track) = publish_raw(&client, &viewer).await;

    const HELD: usize = 8 << 20;
    let before = resident();
    // Every stream is written whole even after a refusal: a write can complete before the
    // relay reads the stream's last bytes (and refuses it then), and the budget a refusal
    // frees lets later streams in.
    let mut taken = Vec::new();
    let mut refused = Vec::new();
    for sequence in 0..16u64 {
        let mut stream = client.open_uni().await.unwrap();
        let mut bytes = vec![0x00];
        bytes.extend(encode(
            &Group {
                subscribe_id: id,
                sequence,
                frame_start: 0,
            },
            Version::Lite05,
        ));
        bytes.push(0x00); // timestamp delta
        bytes.extend((0x8000_0000u32 | (20 << 20)).to_be_bytes());
        bytes.resize(bytes.len() + HELD, 7);
        match within("the write", stream.write_all(&bytes)).await {
            Ok(()) => taken.push(stream),
            Err(err) => refused.push(err.stream_error()),
        }
    }
    // Which of the streams written whole the relay stopped since (a STOP is sent as soon as
    // the read that goes over happens; the rest it holds).
    let settle = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
    let mut held = 0;
    for stream in &mut taken {
        match tokio::time::timeout_at(settle, stream.closed()).await {
            Ok(Err(err)) => refused.push(err.stream_error()),
            Ok(Ok(())) => panic!("the relay finished reading an unfinished stream"),
            Err(_) => held += 1,
        }
    }
    assert!(
        !refused.is_empty()
            && refused
                .iter()
                .all(|code| *code == Some(ErrorCode::TOO_MANY_REQUESTS.0)),
        "refusals: {refused:?}; {held} streams of {HELD} bytes held"
    );
    assert!(
        held * HELD <= moql_session::DEFAULT_MAX_RECEIVE_BUFFER,
        "{held} streams of {HELD} bytes held"
    );
    // For the record (`--nocapture`): what the attack cost this process (relay and attacker).
    eprintln!(
        "incomplete frames: {held} of 16 streams held, resident {} -> {} MiB",
        before >> 20,
        resident() >> 20
    );

    // The session carries on: a whole group still reaches the viewer.
    let mut stream = client.open_uni().await.unwrap();
    let mut bytes = vec![0x00];
    bytes.extend(encode(
        &Group {
            subscribe_id: id,
            sequence: 100,
            frame_start: 0,
        },
        Version::Lite05,
    ));
    bytes.extend([0x00, 0x02, b'o', b'k']);
    stream.write_all(&bytes).await.unwrap();
    stream.finish().unwrap();
    let mut group = within("the whole group", async {
        loop {
            let group = track.next_group().await.unwrap().expect("a group");
            if group.sequence() == 100 {
                return group;
            }
        }
    })
    .await;
    let frame = within("its frame", group.next_frame())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&frame.payload[..], b"ok");
    drop(taken);
    relay.shutdown().await;
}
