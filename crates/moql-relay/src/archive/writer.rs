//! The disk tier's one writer thread: takes queued groups, writes each to its file, keeps
//! the index and its bounds, and sweeps aged groups. One thread, so files are written in
//! order and the async runtime never waits on the disk.
//!
//! A write that fails (disk full, directory removed or made read-only) puts the tier in
//! *degraded* mode: a WARN line, `moql_relay_disk_degraded 1`, and groups are dropped (and
//! counted) instead of written, so the relay carries on from memory. After
//! [`RETRY_AFTER`] the next group is tried again; success ends the mode.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use moql_model::Frame;

use super::Inner;
use super::codec::Record;
use super::index::{Key, Stored};

/// How often aged groups are swept when no group arrives: a quarter second, so a group
/// leaves within that of its `max_age`, at the cost of one look at each rule's oldest entry.
const SWEEP: Duration = Duration::from_millis(250);

/// How long a degraded tier waits before it tries to write again.
pub(crate) const RETRY_AFTER: Duration = Duration::from_secs(30);

/// One group to write.
pub(crate) struct Job {
    pub(crate) key: Key,
    pub(crate) rule: usize,
    pub(crate) timescale: u64,
    pub(crate) frames: Vec<Frame>,
    /// Payload bytes, as counted against the queue's byte bound.
    pub(crate) bytes: u64,
}

/// Runs until every sender is gone.
pub(crate) fn run(inner: Arc<Inner>, jobs: Receiver<Job>) {
    let mut next_id = 0u64;
    let mut retry_at: Option<Instant> = None;
    loop {
        match jobs.recv_timeout(SWEEP) {
            Ok(job) => {
                inner.queued_bytes.fetch_sub(job.bytes, Ordering::Relaxed);
                if retry_at.is_some_and(|at| Instant::now() < at) {
                    inner.metrics.disk_dropped.inc();
                } else {
                    next_id += 1;
                    retry_at = write(&inner, job, next_id);
                }
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
        let expired = inner.index().expire(Instant::now());
        remove(&inner, &expired);
    }
}

/// Writes one group; returns when to try again if the write failed.
fn write(inner: &Inner, job: Job, id: u64) -> Option<Instant> {
    let metrics = &inner.metrics;
    let (broadcast, track, sequence) = job.key.clone();
    let record = Record {
        broadcast,
        track,
        sequence,
        timescale: job.timescale,
        frames: job.frames,
    };
    let bytes = match record.encode() {
        Ok(bytes) => bytes,
        Err(err) => {
            tracing::debug!(%err, "disk tier: group not archived");
            metrics.disk_dropped.inc();
            return None;
        }
    };
    if let Err(err) = inner.store.write(id, &bytes) {
        metrics.disk_write_errors.inc();
        metrics.disk_dropped.inc();
        if !inner.degraded.swap(true, Ordering::Relaxed) {
            tracing::warn!(%err, retry_in = ?RETRY_AFTER, "disk tier failing: past groups kept in memory only");
        }
        metrics.disk_degraded.set(1);
        return Some(Instant::now() + RETRY_AFTER);
    }
    if inner.degraded.swap(false, Ordering::Relaxed) {
        tracing::info!("disk tier writing again");
        metrics.disk_degraded.set(0);
    }
    metrics.disk_writes.inc();
    let stored = Stored {
        id,
        bytes: bytes.len() as u64,
    };
    let removed = inner
        .index()
        .insert(job.key, job.rule, stored, Instant::now());
    remove(inner, &removed);
    None
}

/// Deletes files the index let go, and refreshes the size gauges.
fn remove(inner: &Inner, ids: &[u64]) {
    for &id in ids {
        inner.store.remove(id);
    }
    let index = inner.index();
    inner.metrics.disk_bytes.set(index.bytes());
    inner.metrics.disk_groups.set(index.groups());
}
