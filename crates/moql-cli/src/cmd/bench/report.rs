//! The bench's reports: one per interval (deltas) and a summary (totals), as JSON lines for
//! `--output` and as text for the terminal.

use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use anyhow::Context as _;
use serde::Serialize;

use super::{BenchArgs, Shared};
use crate::stats::{Percentiles, Rate, Totals, human_bytes};

/// One report: an interval's deltas, or the run's totals.
#[derive(Debug, Serialize)]
pub(super) struct Report<'a> {
    /// `interval` or `summary`.
    pub(super) kind: &'static str,
    /// Seconds since publishing started.
    pub(super) elapsed_s: f64,
    /// Sent in the window.
    pub(super) sent: Totals,
    /// Received in the window.
    pub(super) received: Totals,
    /// `sent` per second.
    pub(super) send_rate: Rate,
    /// `received` per second.
    pub(super) receive_rate: Rate,
    /// Groups lost so far (the current count: late arrivals are taken back).
    pub(super) groups_lost: u64,
    /// End-to-end latency of the window's groups.
    pub(super) latency_ms: Percentiles,
    /// Subscriptions made so far.
    pub(super) subscriptions: usize,
    /// Subscriptions that ended with an error.
    pub(super) failed_subscriptions: usize,
    /// The run's parameters (summary only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) config: Option<&'a BenchArgs>,
}

impl Report<'_> {
    /// A report of `kind` at `elapsed`: `sent` and `received` over `window`, with the
    /// current loss and subscription counts.
    pub(super) fn new(
        kind: &'static str,
        elapsed: Duration,
        (sent, received): (Totals, Totals),
        window: Duration,
        latency: Percentiles,
        shared: &Shared,
    ) -> Self {
        Self {
            kind,
            elapsed_s: elapsed.as_secs_f64(),
            sent,
            received,
            send_rate: sent.rate(window),
            receive_rate: received.rate(window),
            groups_lost: shared.lost.load(Relaxed),
            latency_ms: latency,
            subscriptions: shared.subscribed.load(Relaxed),
            failed_subscriptions: shared.failed.load(Relaxed),
            config: None,
        }
    }
}

/// Appends `report` as one JSON line.
pub(super) fn write_json(
    output: Option<&mut std::fs::File>,
    report: &Report<'_>,
) -> anyhow::Result<()> {
    use std::io::Write;
    if let Some(file) = output {
        let mut line = serde_json::to_vec(report)?;
        line.push(b'\n');
        file.write_all(&line).context("writing --output")?;
    }
    Ok(())
}

/// One interval as a line for stderr.
pub(super) fn human_interval(report: &Report<'_>) -> String {
    format!(
        "[{:6.1}s] send {:.0} frames/s {}/s | recv {:.0} frames/s {}/s, {} groups, lost {} | latency {}",
        report.elapsed_s,
        report.send_rate.frames_per_s,
        human_bytes(report.send_rate.bytes_per_s),
        report.receive_rate.frames_per_s,
        human_bytes(report.receive_rate.bytes_per_s),
        report.received.groups,
        report.groups_lost,
        report.latency_ms,
    )
}

/// The summary as a few lines for stdout.
pub(super) fn human_summary(report: &Report<'_>, args: &BenchArgs, publishers: usize) -> String {
    format!(
        "bench summary: {} connections ({publishers} publishing {} broadcasts each, up to {} \
         subscriptions each), {} fps × {} B, groups of {}, {:.1} s\n\
         sent:     {} groups, {} frames, {} ({})\n\
         received: {} groups, {} frames, {} ({}); lost {} groups; {} subscriptions, {} failed\n\
         latency:  {}",
        args.connections,
        args.broadcasts,
        args.subscribe,
        args.fps,
        args.frame_size,
        args.group_frames,
        report.elapsed_s,
        report.sent.groups,
        report.sent.frames,
        human_bytes(report.sent.bytes as f64),
        report.send_rate,
        report.received.groups,
        report.received.frames,
        human_bytes(report.received.bytes as f64),
        report.receive_rate,
        report.groups_lost,
        report.subscriptions,
        report.failed_subscriptions,
        report.latency_ms,
    )
}
