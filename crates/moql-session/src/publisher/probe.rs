//! Serving a Probe stream (spec 4.6): periodic PROBE reports from the transport's congestion
//! controller and RTT estimate.

use std::time::{Duration, Instant};

use moql_wire::Probe;
use web_transport_trait::Stats;

use crate::context::Context;
use crate::error::StreamError;
use crate::io::{Reader, Writer};

/// How often the estimate is sampled (spec 4.6: "every 100 ms").
const SAMPLE: Duration = Duration::from_millis(100);
/// A report is sent at least this often while something is measurable.
const REFRESH: Duration = Duration::from_secs(10);

pub(crate) async fn serve<T: web_transport_trait::Session>(
    ctx: &Context<T>,
    writer: &mut Writer<T::SendStream>,
    reader: &mut Reader<T::RecvStream>,
) -> Result<(), StreamError> {
    let version = ctx.version;
    let mut last: Option<(Probe, Instant)> = None;
    let mut interval = tokio::time::interval(SAMPLE);
    loop {
        tokio::select! {
            // Spec 4.6: any byte from the subscriber is an error (RESET 5); a FIN ends it.
            end = reader.expect_end() => return end,
            _ = interval.tick() => {
                // Spec 5.11: a measured 0 is sent as 1 (0 means unknown).
                let probe = {
                    let stats = ctx.transport.stats();
                    Probe {
                        bitrate: stats.estimated_send_rate().map_or(0, |b| b.max(1)),
                        rtt: stats.rtt().map_or(0, |r| (r.as_millis() as u64).max(1)),
                    }
                };
                if should_report(last.as_ref(), &probe, Instant::now()) {
                    writer.encode(&probe, version).await?;
                    last = Some((probe, Instant::now()));
                }
            }
        }
    }
}

/// Spec 4.6: the first report at once; then when the RTT moved by ≥ 25 %, when the bitrate
/// moved by a threshold decaying from 25 % (100 ms after the last report) to 0 % (10 s), when
/// a metric appears or disappears, or every 10 s regardless. Nothing measurable: nothing sent
/// (after one all-zero retraction).
fn should_report(last: Option<&(Probe, Instant)>, probe: &Probe, now: Instant) -> bool {
    let Some((previous, at)) = last else {
        return probe.bitrate != 0 || probe.rtt != 0;
    };
    if probe.bitrate == 0 && probe.rtt == 0 {
        return previous.bitrate != 0 || previous.rtt != 0;
    }
    let elapsed = now.saturating_duration_since(*at);
    if elapsed >= REFRESH {
        return true;
    }
    if (previous.bitrate == 0) != (probe.bitrate == 0) || (previous.rtt == 0) != (probe.rtt == 0) {
        return true;
    }
    let moved = |old: u64, new: u64| -> f64 {
        if old == 0 {
            0.0
        } else {
            (new as f64 - old as f64).abs() / old as f64
        }
    };
    if moved(previous.rtt, probe.rtt) >= 0.25 {
        return true;
    }
    let progress = elapsed.saturating_sub(SAMPLE).as_secs_f64() / (REFRESH - SAMPLE).as_secs_f64();
    let threshold = 0.25 * (1.0 - progress.clamp(0.0, 1.0));
    moved(previous.bitrate, probe.bitrate) >= threshold
        && moved(previous.bitrate, probe.bitrate) > 0.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probe(bitrate: u64, rtt: u64) -> Probe {
        Probe { bitrate, rtt }
    }

    #[test]
    fn first_report_only_when_measurable() {
        let now = Instant::now();
        assert!(should_report(None, &probe(1_000, 20), now));
        assert!(!should_report(None, &probe(0, 0), now));
    }

    #[test]
    fn rtt_moves_of_a_quarter_are_reported() {
        let t0 = Instant::now();
        let last = (probe(1_000_000, 40), t0);
        assert!(!should_report(
            Some(&last),
            &probe(1_000_000, 45),
            t0 + SAMPLE
        ));
        assert!(should_report(
            Some(&last),
            &probe(1_000_000, 50),
            t0 + SAMPLE
        ));
    }

    #[test]
    fn bitrate_threshold_decays_and_ten_seconds_force_a_report() {
        let t0 = Instant::now();
        let last = (probe(1_000_000, 40), t0);
        assert!(!should_report(
            Some(&last),
            &probe(1_100_000, 40),
            t0 + SAMPLE
        ));
        assert!(should_report(
            Some(&last),
            &probe(1_100_000, 40),
            t0 + Duration::from_secs(8)
        ));
        assert!(should_report(
            Some(&last),
            &probe(1_000_000, 40),
            t0 + REFRESH
        ));
    }

    #[test]
    fn losing_every_metric_is_reported_once() {
        let t0 = Instant::now();
        let last = (probe(1_000_000, 40), t0);
        assert!(should_report(Some(&last), &probe(0, 0), t0 + SAMPLE));
        let retracted = (probe(0, 0), t0);
        assert!(!should_report(Some(&retracted), &probe(0, 0), t0 + REFRESH));
    }
}
