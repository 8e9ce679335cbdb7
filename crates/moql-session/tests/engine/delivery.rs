//! Delivery policy seen on the wire: a stale group stream blocked on flow control is reset
//! with Old (moved from `tests/max_latency.rs`; the in-memory pair's flow control blocks the
//! writer as QUIC's does).

use bytes::Bytes;
use moql_wire::{Decode, ErrorCode, Group};
use web_transport_trait::{RecvStream as _, Session as _};

use crate::raw::{self, V, harness, read_to_end};
use crate::support::{quiescent, within};

/// moq-lite-06.md 10.5: a subscriber that stops reading leaves its group stream blocked on
/// flow control; once that group is stale (max latency 0 and a newer group started) the
/// stream is reset with Old (2 on lite-05), and the newer group still arrives.
#[tokio::test(start_paused = true)]
async fn a_group_stream_blocked_on_a_reader_that_stopped_is_reset_as_old_once_stale() {
    let h = harness().await;
    let (_send, _recv) = raw::subscribe(&h, 7, 0).await;
    // Far more than a stream's flow-control window (the pair's default is 64 KiB).
    let big = h.track.create_group(0).unwrap();
    big.write(0, vec![7u8; 8 << 20]).unwrap();
    big.finish().unwrap();

    // Group 0's stream: read its type byte and stop reading.
    let mut blocked = within("group 0's stream", async {
        loop {
            let mut uni = h.client.accept_uni().await.unwrap();
            let mut first = [0u8; 1];
            uni.read(&mut first).await.unwrap();
            if first[0] == 0x00 {
                return uni;
            }
            read_to_end(&mut uni).await.unwrap();
        }
    })
    .await;
    // Every task idle: the publisher's write of group 0 is blocked on the window.
    quiescent().await;
    let fresh = h.track.create_group(1).unwrap();
    fresh.write(1000, "fresh").unwrap();
    fresh.finish().unwrap();

    let mut next = within("group 1's stream", h.client.accept_uni())
        .await
        .unwrap();
    let bytes = within("group 1", read_to_end(&mut next)).await.unwrap();
    let mut buf = Bytes::from(bytes);
    assert_eq!(buf.split_to(1)[0], 0x00);
    let header = Group::decode(&mut buf, V).unwrap();
    assert_eq!(header.sequence, 1);
    // Not read: a reader draining group 0 here would unblock it before an expiry check
    // (10 ms for max latency 0) could find it behind, since no time passes while tasks run.
    within("group 0 to be reset", blocked.closed())
        .await
        .unwrap();
    assert_eq!(
        read_to_end(&mut blocked).await,
        Err(Some(ErrorCode::OLD.0)),
        "the stale, blocked stream is reset with Old"
    );
}
