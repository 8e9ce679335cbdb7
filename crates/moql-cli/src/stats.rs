//! Counters and summaries: [`Meter`] (groups, frames, bytes), rates between two snapshots,
//! latency [`Percentiles`], and the periodic progress line on stderr.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use tokio::task::JoinHandle;

/// How often long-running commands print a progress line.
pub(crate) const PROGRESS_INTERVAL: Duration = Duration::from_secs(5);

/// Groups, frames and payload bytes moved; shared between the task that counts and the one
/// that reports.
#[derive(Debug, Default)]
pub(crate) struct Meter {
    groups: AtomicU64,
    frames: AtomicU64,
    bytes: AtomicU64,
}

impl Meter {
    /// Counts one group.
    pub(crate) fn group(&self) {
        self.groups.fetch_add(1, Relaxed);
    }

    /// Counts one frame of `len` payload bytes.
    pub(crate) fn frame(&self, len: usize) {
        self.frames.fetch_add(1, Relaxed);
        self.bytes.fetch_add(len as u64, Relaxed);
    }

    /// The totals so far.
    pub(crate) fn snapshot(&self) -> Totals {
        Totals {
            groups: self.groups.load(Relaxed),
            frames: self.frames.load(Relaxed),
            bytes: self.bytes.load(Relaxed),
        }
    }
}

/// A [`Meter`]'s totals at one moment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub(crate) struct Totals {
    /// Groups.
    pub(crate) groups: u64,
    /// Frames.
    pub(crate) frames: u64,
    /// Payload bytes.
    pub(crate) bytes: u64,
}

impl Totals {
    /// What was added since `earlier`.
    pub(crate) fn since(self, earlier: Self) -> Self {
        Self {
            groups: self.groups.saturating_sub(earlier.groups),
            frames: self.frames.saturating_sub(earlier.frames),
            bytes: self.bytes.saturating_sub(earlier.bytes),
        }
    }

    /// These totals as per-second rates over `elapsed`.
    pub(crate) fn rate(self, elapsed: Duration) -> Rate {
        let secs = elapsed.as_secs_f64().max(1e-9);
        Rate {
            groups_per_s: self.groups as f64 / secs,
            frames_per_s: self.frames as f64 / secs,
            bytes_per_s: self.bytes as f64 / secs,
        }
    }
}

/// Per-second rates.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub(crate) struct Rate {
    /// Groups per second.
    pub(crate) groups_per_s: f64,
    /// Frames per second.
    pub(crate) frames_per_s: f64,
    /// Payload bytes per second.
    pub(crate) bytes_per_s: f64,
}

impl std::fmt::Display for Rate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:.1} groups/s, {:.1} frames/s, {}/s",
            self.groups_per_s,
            self.frames_per_s,
            human_bytes(self.bytes_per_s)
        )
    }
}

/// `bytes` with a decimal unit (B, kB, MB, GB), three significant digits.
pub(crate) fn human_bytes(bytes: f64) -> String {
    const UNITS: [&str; 4] = ["B", "kB", "MB", "GB"];
    let mut value = bytes;
    let mut unit = 0;
    while value >= 1000.0 && unit + 1 < UNITS.len() {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{value:.0} {}", UNITS[unit])
    } else {
        format!("{value:.2} {}", UNITS[unit])
    }
}

/// Latency percentiles in milliseconds, from samples in microseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub(crate) struct Percentiles {
    /// How many samples.
    pub(crate) samples: usize,
    /// Median.
    pub(crate) p50: f64,
    /// 90th percentile.
    pub(crate) p90: f64,
    /// 99th percentile.
    pub(crate) p99: f64,
    /// Largest sample.
    pub(crate) max: f64,
}

impl Percentiles {
    /// Nearest-rank percentiles of `samples` (microseconds; sorted in place). All zero when
    /// there are none.
    pub(crate) fn of(samples: &mut [u64]) -> Self {
        if samples.is_empty() {
            return Self::default();
        }
        samples.sort_unstable();
        let rank = |p: f64| {
            // Nearest rank: the smallest sample with at least p% of samples at or below it.
            let index = ((p / 100.0) * samples.len() as f64).ceil() as usize;
            samples[index.clamp(1, samples.len()) - 1] as f64 / 1000.0
        };
        Self {
            samples: samples.len(),
            p50: rank(50.0),
            p90: rank(90.0),
            p99: rank(99.0),
            max: samples[samples.len() - 1] as f64 / 1000.0,
        }
    }
}

impl std::fmt::Display for Percentiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms ({} samples)",
            self.p50, self.p90, self.p99, self.max, self.samples
        )
    }
}

/// Groups missing from one live track: a group counts as lost once a newer one arrived
/// without it, and stops counting if it arrives after all (late, not lost).
///
/// The first group seen is the baseline: a subscription starts at the latest group, so
/// earlier ones were never due.
#[derive(Debug, Default)]
pub(crate) struct Loss {
    highest: Option<u64>,
    missing: BTreeSet<u64>,
}

/// Gaps larger than this are counted but not remembered one by one (a late arrival from such
/// a gap is still counted as lost): bounds memory when a publisher jumps ahead.
const MAX_REMEMBERED_GAP: u64 = 100_000;

impl Loss {
    /// Records the arrival of group `sequence`; returns the change in lost groups.
    pub(crate) fn arrived(&mut self, sequence: u64) -> i64 {
        match self.highest {
            None => {
                self.highest = Some(sequence);
                0
            }
            Some(highest) if sequence > highest => {
                let gap = sequence - highest - 1;
                if gap <= MAX_REMEMBERED_GAP {
                    self.missing.extend(highest + 1..sequence);
                }
                self.highest = Some(sequence);
                gap as i64
            }
            Some(_) => -i64::from(self.missing.remove(&sequence)),
        }
    }
}

/// Microseconds since the Unix epoch (0 if the clock is before it).
pub(crate) fn now_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

/// `ms` since the Unix epoch as RFC 3339 UTC with milliseconds: `2026-01-31T12:34:56.700Z`.
pub(crate) fn format_utc(ms: u64) -> String {
    let secs = ms / 1000;
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's `civil_from_days`).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        ms % 1000
    )
}

/// Prints `label: <rates over the last interval> (total …)` on stderr every
/// [`PROGRESS_INTERVAL`] until the returned task is aborted; does nothing when `quiet`.
pub(crate) fn spawn_progress(label: &'static str, meter: Arc<Meter>, quiet: bool) -> Progress {
    if quiet {
        return Progress(None);
    }
    let task = tokio::spawn(async move {
        let mut last = meter.snapshot();
        let mut ticker = tokio::time::interval(PROGRESS_INTERVAL);
        ticker.tick().await;
        loop {
            ticker.tick().await;
            let now = meter.snapshot();
            let delta = now.since(last);
            last = now;
            eprintln!(
                "{label}: {} (total {} groups, {} frames, {})",
                delta.rate(PROGRESS_INTERVAL),
                now.groups,
                now.frames,
                human_bytes(now.bytes as f64)
            );
        }
    });
    Progress(Some(task))
}

/// The progress printer; stops when dropped.
#[derive(Debug)]
pub(crate) struct Progress(Option<JoinHandle<()>>);

impl Drop for Progress {
    fn drop(&mut self) {
        if let Some(task) = self.0.take() {
            task.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_formatting_matches_known_instants() {
        assert_eq!(format_utc(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(format_utc(951_782_400_123), "2000-02-29T00:00:00.123Z");
        assert_eq!(format_utc(1_767_225_599_999), "2025-12-31T23:59:59.999Z");
    }

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let mut samples: Vec<u64> = (1..=100).map(|ms| ms * 1000).collect();
        let p = Percentiles::of(&mut samples);
        assert_eq!(p.samples, 100);
        assert_eq!((p.p50, p.p90, p.p99, p.max), (50.0, 90.0, 99.0, 100.0));
        let mut one = vec![1500];
        let p = Percentiles::of(&mut one);
        assert_eq!((p.p50, p.p99, p.max), (1.5, 1.5, 1.5));
        assert_eq!(Percentiles::of(&mut []), Percentiles::default());
    }

    #[test]
    fn rates_divide_the_delta_by_the_elapsed_time() {
        let meter = Meter::default();
        let before = meter.snapshot();
        meter.group();
        meter.frame(500);
        meter.frame(1500);
        let delta = meter.snapshot().since(before);
        assert_eq!(
            delta,
            Totals {
                groups: 1,
                frames: 2,
                bytes: 2000
            }
        );
        let rate = delta.rate(Duration::from_secs(2));
        assert_eq!(rate.frames_per_s, 1.0);
        assert_eq!(rate.bytes_per_s, 1000.0);
    }

    #[test]
    fn a_skipped_group_is_lost_until_it_arrives_late() {
        let mut loss = Loss::default();
        assert_eq!(loss.arrived(7), 0, "the first group is the baseline");
        assert_eq!(loss.arrived(8), 0);
        assert_eq!(loss.arrived(11), 2, "9 and 10 were skipped");
        assert_eq!(loss.arrived(9), -1, "9 was late, not lost");
        assert_eq!(loss.arrived(9), 0, "a duplicate changes nothing");
        assert_eq!(loss.arrived(5), 0, "before the baseline");
    }

    #[test]
    fn bytes_print_with_decimal_units() {
        assert_eq!(human_bytes(999.0), "999 B");
        assert_eq!(human_bytes(1_500.0), "1.50 kB");
        assert_eq!(human_bytes(36_000_000.0), "36.00 MB");
    }
}
