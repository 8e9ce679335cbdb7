//! Interop with the field's JavaScript client: `@moq/net` 0.3.4 under Node.js, which has no
//! WebTransport and so connects over WebSocket (QMux, spec 1.5), subscribes through a real
//! relay to a track published over QUIC.
//!
//! Needs `node` and `tests/node/node_modules` (`npm ci` in `tests/node`; `cargo xtask test`
//! does it). Without them the test prints why and passes, unless `MOQL_REQUIRE_NODE=1` (set by
//! the xtask step), which makes their absence a failure.

mod support;

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use moql_model::{BroadcastProducer, Path, TrackInfo};
use moql_relay::{Relay, RelayConfig};
use support::within;
use tokio::io::{AsyncBufReadExt, BufReader};

fn node_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("node")
}

/// Why the check cannot run here, if it cannot.
fn missing() -> Option<String> {
    let node = std::process::Command::new("node")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    if !node.is_ok_and(|s| s.success()) {
        return Some("`node` is not installed".into());
    }
    let module = node_dir().join("node_modules/@moq/net/package.json");
    if !module.exists() {
        return Some(format!(
            "{} is missing (run `npm ci` in tests/node)",
            module.display()
        ));
    }
    None
}

#[tokio::test]
async fn moq_net_under_node_subscribes_over_websocket() {
    if let Some(why) = missing() {
        assert!(
            std::env::var_os("MOQL_REQUIRE_NODE").is_none_or(|v| v != "1"),
            "MOQL_REQUIRE_NODE=1 but {why}"
        );
        eprintln!("SKIPPED moq_net_under_node_subscribes_over_websocket: {why}");
        return;
    }
    support::init_tracing();
    let config = RelayConfig {
        bind: "127.0.0.1:0".parse().unwrap(),
        drain_seconds: 0.2,
        ..RelayConfig::default()
    };
    let relay = Relay::bind(config).await.expect("relay binds");
    let port = relay.local_addr().unwrap().port();

    // Published straight into the relay's origin: the JavaScript side is what is under test.
    let broadcast = BroadcastProducer::new();
    let track = broadcast.create_track("clock", TrackInfo::DEFAULT).unwrap();
    relay
        .origin()
        .publish(&Path::new("node-demo").unwrap(), broadcast.consume())
        .unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let relay = tokio::spawn(async move {
        relay
            .run(async move {
                let _ = stopped.await;
            })
            .await
    });

    // A group every 50 ms, as long as the subscriber runs (bounded: 20 s at most).
    let producer = track.clone();
    let ticker = tokio::spawn(async move {
        for seq in 0..400u64 {
            let group = producer.create_group(seq).unwrap();
            for i in 0..3 {
                group.write(seq * 1000 + i, format!("{seq}:{i}")).unwrap();
            }
            group.finish().unwrap();
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });

    let mut child = tokio::process::Command::new("node")
        .arg("subscribe.mjs")
        .arg(format!("http://127.0.0.1:{port}/"))
        .args(["node-demo", "clock", "3"])
        .current_dir(node_dir())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("node starts");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut output = Vec::new();
    within("@moq/net's output", async {
        while let Some(line) = lines.next_line().await.unwrap() {
            output.push(serde_json::from_str::<serde_json::Value>(&line).unwrap());
        }
    })
    .await;
    let status = within("node to exit", child.wait()).await.unwrap();
    assert!(
        status.success(),
        "node failed ({status}); printed {output:?}"
    );

    assert_eq!(output.len(), 4, "{output:?}");
    assert_eq!(output[0]["version"], "moq-lite-05", "{output:?}");
    assert_eq!(output[0]["transport"], "websocket", "{output:?}");
    let mut last = None;
    for group in &output[1..] {
        let seq = group["group"].as_u64().expect("a sequence");
        let frames: Vec<String> = (0..3).map(|i| format!("{seq}:{i}")).collect();
        assert_eq!(group["frames"], serde_json::json!(frames), "{output:?}");
        assert!(last.is_none_or(|l| seq > l), "in order: {output:?}");
        last = Some(seq);
    }

    ticker.abort();
    let _ = stop.send(());
    within("the relay to stop", relay)
        .await
        .unwrap()
        .expect("relay runs");
}
