//! Rendering: every figure present with its type, labels where set, `# EOF` last; counters
//! only grow.

use std::time::Duration;

use moql_session::SessionError;
use moql_wire::{ErrorCode, Version};

use super::session::end_code;
use super::*;

#[test]
fn render_writes_openmetrics_with_labels_and_an_eof() {
    let metrics = Metrics::new();
    let labels = SessionLabels::new("quic", Version::Lite03);
    assert_eq!(labels.version, "lite-03");
    let meter = metrics.meter(&labels);
    meter.payload_sent(1024);
    meter.payload_received(10);
    meter.fetch_received();
    meter.fetch_answered(Duration::from_millis(3));
    let open = metrics.session_started(labels);
    metrics.set_cache_bytes(77);
    metrics.http_request("fetch", 404);
    let text = metrics.render();
    assert!(
        text.contains(
            "# HELP moql_relay_sessions Open client sessions (SETUP done and authorized).\n\
         # TYPE moql_relay_sessions gauge\n\
         moql_relay_sessions{transport=\"quic\",version=\"lite-03\"} 1\n"
        ),
        "{text}"
    );
    assert!(
        text.contains(
            "\nmoql_relay_bytes_out_total{transport=\"quic\",version=\"lite-03\"} 1024\n"
        )
    );
    assert!(text.contains("\nmoql_relay_fetches_total{via=\"wire\"} 1\n"));
    assert!(text.contains("\nmoql_relay_fetches_total{via=\"http\"} 0\n"));
    assert!(text.contains("\nmoql_relay_fetch_duration_seconds_count{via=\"wire\"} 1\n"));
    assert!(text.contains("\nmoql_relay_cache_bytes{tier=\"memory\"} 77\n"));
    assert!(text.contains("\nmoql_relay_cache_bytes{tier=\"disk\"} 0\n"));
    assert!(text.contains("\nmoql_relay_http_requests_total{route=\"fetch\",status=\"404\"} 1\n"));
    assert!(text.ends_with("# EOF\n"));

    metrics.session_ended(open, Some("6".into()));
    let text = metrics.render();
    assert!(text.contains("\nmoql_relay_sessions{transport=\"quic\",version=\"lite-03\"} 0\n"));
    assert!(text.contains(
        "\nmoql_relay_session_errors_total{transport=\"quic\",version=\"lite-03\",code=\"6\"} 1\n"
    ));
    assert!(text.contains(
        "\nmoql_relay_session_duration_seconds_count{transport=\"quic\",version=\"lite-03\"} 1\n"
    ));
    // The session's end takes nothing back from the counters.
    assert!(
        text.contains(
            "\nmoql_relay_bytes_out_total{transport=\"quic\",version=\"lite-03\"} 1024\n"
        )
    );
}

#[test]
fn a_normal_close_is_no_error_and_a_lost_connection_is_labelled_transport() {
    let closed = |code| SessionError::Closed {
        code,
        reason: String::new(),
    };
    assert_eq!(end_code(&closed(ErrorCode::CANCEL)), None);
    assert_eq!(end_code(&closed(ErrorCode::UNAUTHORIZED)), Some("6".into()));
    assert_eq!(
        end_code(&SessionError::Transport("lost".into())),
        Some("transport".into())
    );
}
