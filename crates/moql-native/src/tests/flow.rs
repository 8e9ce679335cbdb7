//! Connection-level flow control: what a peer can make us hold in streams nobody reads.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::*;

/// A peer that opens many streams and fills them, while the application reads none of them,
/// gets credit for at most the connection receive window: quinn's default (unlimited) let
/// every stream fill its own window, 48 × 1.25 MB here.
#[tokio::test]
async fn unread_streams_hold_at_most_the_connection_window() {
    init_tracing();
    let mut server = server("127.0.0.1:0", &[Version::Lite05]);
    let client = pinned_client(&server, &[Version::Lite05]);
    let (connected, _unread, _) = establish(&mut server, &client, "moql", "127.0.0.1", "/").await;
    let session = connected.session;
    let written = Arc::new(AtomicUsize::new(0));
    let mut writers = tokio::task::JoinSet::new();
    for _ in 0..48 {
        let mut stream = session.open_uni().await.expect("open_uni");
        let written = written.clone();
        writers.spawn(async move {
            let chunk = vec![7u8; 64 * 1024];
            for _ in 0..32 {
                match stream.write(&chunk).await {
                    Ok(n) => written.fetch_add(n, Ordering::Relaxed),
                    Err(_) => return,
                };
            }
        });
    }
    // The writers stall once credit runs out: wait until no byte moved for a second.
    let mut last = 0;
    let mut still = 0;
    for _ in 0..600 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let now = written.load(Ordering::Relaxed);
        still = if now == last { still + 1 } else { 0 };
        last = now;
        if still == 20 {
            break;
        }
    }
    assert_eq!(
        still, 20,
        "the writers never stalled ({last} bytes written)"
    );
    let window = quinn_config::RECEIVE_WINDOW as usize;
    assert!(
        last <= window + 64 * 1024,
        "the peer got credit for {last} bytes, over the {window}-byte connection window"
    );
    writers.abort_all();
}
