//! The relay's `/metrics`, read over real sessions on loopback: counters stay monotonic when
//! sessions end, FETCHes are counted, and the output parses with a real OpenMetrics parser.

mod support;

use std::time::Duration;

use moql_model::Subscription;
use moql_wire::ErrorCode;
use support::relay::{TestRelay, produce, publish, read_group, wait_subscribed};
use support::within;

#[tokio::test]
async fn payload_byte_counters_keep_their_value_after_the_sessions_end() {
    let relay = TestRelay::start(|_| {}).await;
    let publisher = relay.client("moql", "/").await;
    let subscriber = relay.client("moql", "/").await;
    let (_broadcast, track) = publish(&publisher, "bytes");
    let remote = support::announced(&subscriber.received, "bytes").await;
    let mut sub = remote
        .subscribe_track("clock", Subscription::default())
        .unwrap();
    wait_subscribed(&track).await;
    for seq in 0..3 {
        produce(&track, seq, 2);
        read_group(&mut sub).await;
    }
    // Six frames of three payload bytes ("s:i") each way.
    let sent = relay
        .metric_until("moql_relay_bytes_out_total", |v| v >= 18)
        .await;
    let received = relay
        .metric_until("moql_relay_bytes_in_total", |v| v >= 18)
        .await;

    drop(sub);
    subscriber.session.close(ErrorCode::CANCEL, "done");
    publisher.session.close(ErrorCode::CANCEL, "done");
    relay.metric_until("moql_relay_sessions", |v| v == 0).await;
    // Past the relay's once-a-second refresh.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert!(relay.metric("moql_relay_bytes_out_total").await >= sent);
    assert!(relay.metric("moql_relay_bytes_in_total").await >= received);
    relay.shutdown().await;
}

#[tokio::test]
async fn fetches_over_the_wire_are_counted() {
    let relay = TestRelay::start(|_| {}).await;
    let publisher = relay.client("moql", "/").await;
    let (_broadcast, track) = publish(&publisher, "vod");
    for seq in 0..3 {
        produce(&track, seq, 1);
    }
    let fetcher = relay.client("moql", "/").await;
    let remote = support::announced(&fetcher.received, "vod").await;
    let consumer = remote.track("clock").unwrap();
    for seq in [0, 1] {
        let mut group = within("the fetch", consumer.fetch(seq, None).unwrap())
            .await
            .unwrap();
        within("its frames", group.read_all()).await.unwrap();
    }
    relay
        .metric_until("moql_relay_fetches_total", |v| v >= 2)
        .await;
    relay.shutdown().await;
}

/// The Prometheus project's own OpenMetrics parser (Debian's `python3-prometheus-client`),
/// strict about `# EOF`, counter `_total` suffixes, histogram buckets and label syntax. Prints
/// one `name type samples` line per family, or fails with the parser's error.
const PARSE: &str = "
import sys
from prometheus_client.openmetrics.parser import text_string_to_metric_families
for family in text_string_to_metric_families(sys.stdin.read()):
    print(family.name, family.type, len(family.samples))
";

/// Parses `text` with [`PARSE`]: `(name, type, samples)` per family. Without the parser the
/// test is skipped, except in CI (`CI=true`), where `.ci/run` installs it.
fn parse_openmetrics(text: &str) -> Option<Vec<(String, String, usize)>> {
    use std::io::Write as _;
    let python = "/usr/bin/python3";
    let available = std::process::Command::new(python)
        .args(["-c", "import prometheus_client.openmetrics.parser"])
        .output()
        .is_ok_and(|out| out.status.success());
    if !available {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI must have {python} with prometheus_client (Debian python3-prometheus-client)"
        );
        eprintln!("skipped: no OpenMetrics parser (apt-get install python3-prometheus-client)");
        return None;
    }
    let mut child = std::process::Command::new(python)
        .args(["-c", PARSE])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "the parser rejected /metrics: {}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(|line| {
                let words: Vec<&str> = line.split(' ').collect();
                (words[0].into(), words[1].into(), words[2].parse().unwrap())
            })
            .collect(),
    )
}

#[tokio::test]
async fn the_real_metrics_output_parses_as_openmetrics() {
    let relay = TestRelay::start(|_| {}).await;
    let publisher = relay.client("moql", "/").await;
    let (_broadcast, track) = publish(&publisher, "room/cam");
    produce(&track, 0, 2);
    let fetcher = relay.client("https", "/").await;
    let remote = support::announced(&fetcher.received, "room/cam").await;
    let consumer = remote.track("clock").unwrap();
    let mut group = within("the fetch", consumer.fetch(0, None).unwrap())
        .await
        .unwrap();
    within("its frames", group.read_all()).await.unwrap();
    let (status, _) = support::http_get(relay.addr, "/fetch/room/cam/clock?group=0").await;
    assert_eq!(status, 200);
    // A session that ends with an error code gets its own series.
    fetcher.session.close(ErrorCode::UNAUTHORIZED, "test");
    relay
        .metric_until("moql_relay_session_errors_total", |v| v >= 1)
        .await;

    let (status, body) = support::http_get(relay.admin, "/metrics").await;
    assert_eq!(status, 200);
    let text = String::from_utf8(body).unwrap();
    let Some(families) = parse_openmetrics(&text) else {
        return;
    };
    let kind = |name: &str| {
        families
            .iter()
            .find(|(n, _, _)| n == name)
            .map(|(_, kind, samples)| (kind.as_str(), *samples))
            .unwrap_or_else(|| panic!("no {name} in {families:?}"))
    };
    assert_eq!(kind("moql_relay_sessions").0, "gauge");
    assert_eq!(kind("moql_relay_bytes_out").0, "counter");
    assert_eq!(kind("moql_relay_session_errors").0, "counter");
    assert_eq!(
        kind("moql_relay_fetches"),
        ("counter", 2),
        "via wire and http"
    );
    assert_eq!(kind("moql_relay_fetch_duration_seconds").0, "histogram");
    assert_eq!(kind("moql_relay_session_duration_seconds").0, "histogram");
    assert_eq!(kind("moql_relay_cache_bytes"), ("gauge", 2));
    let fetches = support::relay::sum_samples(&text, "moql_relay_fetch_duration_seconds_count");
    assert!(
        fetches >= Some(2),
        "a wire and an HTTP fetch answered: {text}"
    );
    relay.shutdown().await;
}
