//! [`DiskArchive`]: the relay's disk tier for past groups ([`moql_model::Archive`]).
//!
//! Storage: plain files, one per finished group ([`store`]), each self-checking ([`codec`]:
//! key, frames, CRC-32), and an index in memory only ([`index`]). Plain files rather than an
//! embedded store: a group is written once, read whole and deleted whole, which is what a
//! file system does well, and a damaged file costs that one group. The tier starts empty
//! at every relay start (its directory is emptied): the index is not persisted.
//!
//! Flow: [`record`](moql_model::Archive::record) queues a finished group (bounded by
//! [`QUEUE_GROUPS`] and [`QUEUE_BYTES`]; over either, the group is dropped and counted) for
//! the one writer thread ([`writer`]); [`load`](moql_model::Archive::load) reads on tokio's
//! blocking pool. Retention is per broadcast prefix ([`rules`]).

mod codec;
mod index;
mod rules;
mod store;
mod writer;

use std::path::Path as FsPath;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{SyncSender, TrySendError};
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use moql_model::{Archive, ArchiveLoad, GroupConsumer, GroupProducer, GroupStatus, Lookup, Path};

pub(crate) use rules::Rules;

use crate::metrics::Metrics;
use codec::Record;
use index::{Index, Status};
use store::Store;
use writer::Job;

/// Groups queued for the writer at most: 256, several seconds of groups of a few hundred
/// tracks, so a disk that stalls for a moment loses nothing.
pub const QUEUE_GROUPS: usize = 256;

/// Payload bytes queued for the writer at most: 256 MiB, what the queue may pin in memory
/// while the disk is slow.
pub const QUEUE_BYTES: u64 = 256 * 1024 * 1024;

/// The largest file a read accepts: 1 GiB, above any group a relay caches (a group is at most
/// `limits.cache_track_bytes`).
const MAX_FILE: u64 = 1024 * 1024 * 1024;

/// What the writer thread and the readers share.
#[derive(Debug)]
pub(crate) struct Inner {
    store: Store,
    index: Mutex<Index>,
    metrics: Arc<Metrics>,
    queued_bytes: AtomicU64,
    degraded: AtomicBool,
}

impl Inner {
    fn index(&self) -> MutexGuard<'_, Index> {
        // The index holds no invariant a panicking holder could break half-way that matters
        // more than serving: keep going with it.
        self.index
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The disk tier. Clones share it.
#[derive(Clone, Debug)]
pub struct DiskArchive {
    inner: Arc<Inner>,
    rules: Arc<Rules>,
    jobs: SyncSender<Job>,
}

impl DiskArchive {
    /// Opens the tier in `dir` (emptied first) with `rules`, counting into `metrics`, and
    /// starts its writer thread.
    ///
    /// # Errors
    ///
    /// The IO error when `dir` cannot be created, emptied or written: the relay then runs
    /// without a disk tier.
    pub(crate) fn open(dir: &FsPath, rules: Rules, metrics: Arc<Metrics>) -> std::io::Result<Self> {
        let store = Store::open(dir)?;
        let inner = Arc::new(Inner {
            store,
            index: Mutex::new(Index::new(rules.clone())),
            metrics,
            queued_bytes: AtomicU64::new(0),
            degraded: AtomicBool::new(false),
        });
        let (jobs, receiver) = std::sync::mpsc::sync_channel(QUEUE_GROUPS);
        let thread_inner = inner.clone();
        std::thread::Builder::new()
            .name("moql-disk-tier".into())
            .spawn(move || writer::run(thread_inner, receiver))?;
        Ok(Self {
            inner,
            rules: Arc::new(rules),
            jobs,
        })
    }

    fn dropped(&self) {
        self.inner.metrics.disk_dropped.inc();
    }
}

impl Archive for DiskArchive {
    fn record(&self, broadcast: &Path, track: &str, group: GroupConsumer) {
        if group.status() != GroupStatus::Finished {
            return;
        }
        let Some(rule) = self.rules.find(broadcast) else {
            return;
        };
        let key = (broadcast.to_string(), track.to_string(), group.sequence());
        if self.inner.index().contains(&key) {
            return;
        }
        if self.inner.degraded.load(Ordering::Relaxed) {
            return self.dropped();
        }
        let bytes = group.byte_count() as u64;
        let queued = &self.inner.queued_bytes;
        if queued.fetch_add(bytes, Ordering::Relaxed) + bytes > QUEUE_BYTES {
            queued.fetch_sub(bytes, Ordering::Relaxed);
            return self.dropped();
        }
        let job = Job {
            key,
            rule,
            timescale: group.timescale(),
            frames: group.frames(),
            bytes,
        };
        if let Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) = self.jobs.try_send(job)
        {
            queued.fetch_sub(bytes, Ordering::Relaxed);
            self.dropped();
        }
    }

    fn load(&self, broadcast: &Path, track: &str, sequence: u64) -> ArchiveLoad {
        let key = (broadcast.to_string(), track.to_string(), sequence);
        let status = self.inner.index().status(&key);
        let inner = self.inner.clone();
        Box::pin(async move {
            let metrics = inner.metrics.clone();
            let lookup = match status {
                Status::Stored(stored) => read(inner, key, stored.id).await,
                Status::Expired => Lookup::Expired,
                Status::Missing => Lookup::Missing,
            };
            let counter = match lookup {
                Lookup::Found(_) => &metrics.disk_hits,
                _ => &metrics.disk_misses,
            };
            counter.inc();
            lookup
        })
    }
}

/// The tier `cache` configures: `None` without `disk_dir` or rules, and also when the
/// directory is unusable, which is logged (WARN) and shown as `moql_relay_disk_degraded 1`:
/// the relay then runs from memory alone rather than not at all.
///
/// # Errors
///
/// [`RelayError::Config`] for rules that do not parse.
pub(crate) fn open(
    cache: &crate::config::CacheConfig,
    metrics: &Arc<Metrics>,
) -> Result<Option<Arc<dyn Archive>>, crate::RelayError> {
    let rules = Rules::parse(&cache.disk)?;
    let Some(dir) = &cache.disk_dir else {
        if !rules.is_empty() {
            tracing::warn!("cache.disk rules without cache.disk_dir: no disk tier");
        }
        return Ok(None);
    };
    if rules.is_empty() {
        tracing::warn!(dir = %dir.display(), "cache.disk_dir without cache.disk rules: nothing is archived");
    }
    match DiskArchive::open(dir, rules, metrics.clone()) {
        Ok(archive) => {
            tracing::info!(dir = %dir.display(), "disk tier ready (emptied at start)");
            Ok(Some(Arc::new(archive)))
        }
        Err(err) => {
            tracing::warn!(dir = %dir.display(), %err, "disk tier unusable: past groups kept in memory only");
            metrics.disk_degraded.set(1);
            Ok(None)
        }
    }
}

/// Reads and checks file `id` on the blocking pool; a damaged file is forgotten and deleted.
async fn read(inner: Arc<Inner>, key: index::Key, id: u64) -> Lookup {
    let reader = inner.clone();
    let (broadcast, track, sequence) = key.clone();
    let read = tokio::task::spawn_blocking(move || {
        let bytes = reader.store.read(id, MAX_FILE)?;
        Record::decode(Bytes::from(bytes), &broadcast, &track, sequence)
            .map_err(|err| std::io::Error::new(std::io::ErrorKind::InvalidData, err))
    })
    .await;
    let record = match read {
        Ok(Ok(record)) => record,
        // Deleted by the sweep since the lookup: it just aged out.
        Ok(Err(err)) if err.kind() == std::io::ErrorKind::NotFound => return Lookup::Expired,
        Ok(Err(err)) => {
            tracing::warn!(%err, broadcast = key.0, track = key.1, sequence, "disk tier: damaged group file dropped");
            if let Some(id) = inner.index().forget(&key) {
                inner.store.remove(id);
            }
            return Lookup::Missing;
        }
        Err(_) => return Lookup::Missing,
    };
    let group = GroupProducer::new(sequence, record.timescale);
    for frame in record.frames {
        if group.write_frame(frame).is_err() {
            return Lookup::Missing;
        }
    }
    let _ = group.finish();
    Lookup::Found(group.consume())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use moql_model::Frame;

    use super::*;
    use crate::config::DiskRuleConfig;

    fn archive(dir: &FsPath, max_age: &str) -> (DiskArchive, Arc<Metrics>) {
        let rules = Rules::parse(&[DiskRuleConfig {
            prefix: "live".into(),
            max_age: max_age.into(),
            max_bytes: "1MiB".into(),
        }])
        .unwrap();
        let metrics = Arc::new(Metrics::default());
        (
            DiskArchive::open(dir, rules, metrics.clone()).unwrap(),
            metrics,
        )
    }

    fn finished(sequence: u64) -> GroupConsumer {
        let group = GroupProducer::new(sequence, 1000);
        group.write(10, "a").unwrap();
        group.write(20, vec![0u8; 100]).unwrap();
        group.finish().unwrap();
        group.consume()
    }

    /// Waits (bounded) until the writer has stored `n` groups.
    async fn stored(metrics: &Metrics, n: u64) {
        for _ in 0..200 {
            if metrics.disk_writes.get() >= n {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("the writer did not store {n} groups");
    }

    #[tokio::test]
    async fn a_recorded_group_loads_back_frame_exact() {
        let dir = tempfile::tempdir().unwrap();
        let (archive, metrics) = archive(dir.path(), "1h");
        let path = Path::new("live/a").unwrap();
        archive.record(&path, "video", finished(4));
        archive.record(&Path::new("vod/a").unwrap(), "video", finished(4));
        stored(&metrics, 1).await;
        let Lookup::Found(mut group) = archive.load(&path, "video", 4).await else {
            panic!("not found");
        };
        assert_eq!(group.timescale(), 1000);
        let frames = group.read_all().await.unwrap();
        assert_eq!(
            frames,
            vec![Frame::new(10, "a"), Frame::new(20, vec![0u8; 100])]
        );
        assert!(matches!(
            archive.load(&path, "video", 5).await,
            Lookup::Missing
        ));
        let other = Path::new("vod/a").unwrap();
        assert!(
            matches!(archive.load(&other, "video", 4).await, Lookup::Missing),
            "no rule"
        );
        assert_eq!(metrics.disk_groups.get(), 1);
        assert_eq!(metrics.disk_hits.get(), 1);
        assert_eq!(metrics.disk_misses.get(), 2);
    }

    #[tokio::test]
    async fn a_damaged_file_is_missing_never_served() {
        let dir = tempfile::tempdir().unwrap();
        let (archive, metrics) = archive(dir.path(), "1h");
        let path = Path::new("live/a").unwrap();
        archive.record(&path, "video", finished(1));
        stored(&metrics, 1).await;
        let file = archive.inner.store.file(1);
        let mut bytes = std::fs::read(&file).unwrap();
        let last = bytes.len() - 10;
        bytes[last] ^= 0xFF;
        std::fs::write(&file, bytes).unwrap();
        assert!(matches!(
            archive.load(&path, "video", 1).await,
            Lookup::Missing
        ));
        assert!(!file.exists(), "the damaged file is deleted");
        assert_eq!(metrics.disk_groups.get(), 1,);
        assert!(matches!(
            archive.load(&path, "video", 1).await,
            Lookup::Missing
        ));
    }

    #[tokio::test]
    async fn an_aged_group_reads_expired() {
        let dir = tempfile::tempdir().unwrap();
        let (archive, metrics) = archive(dir.path(), "100ms");
        let path = Path::new("live/a").unwrap();
        archive.record(&path, "video", finished(1));
        stored(&metrics, 1).await;
        for _ in 0..200 {
            if metrics.disk_groups.get() == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(matches!(
            archive.load(&path, "video", 1).await,
            Lookup::Expired
        ));
        assert!(matches!(
            archive.load(&path, "video", 2).await,
            Lookup::Missing
        ));
        assert!(!archive.inner.store.file(1).exists());
    }

    #[tokio::test]
    async fn a_failing_directory_degrades_and_counts_dropped_groups() {
        let dir = tempfile::tempdir().unwrap();
        let tier = dir.path().join("tier");
        let (archive, metrics) = archive(&tier, "1h");
        std::fs::remove_dir(&tier).unwrap();
        std::fs::write(&tier, b"a file where the dir was").unwrap();
        let path = Path::new("live/a").unwrap();
        archive.record(&path, "video", finished(1));
        for _ in 0..200 {
            if metrics.disk_degraded.get() == 1 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(metrics.disk_degraded.get(), 1);
        assert_eq!(metrics.disk_write_errors.get(), 1);
        archive.record(&path, "video", finished(2));
        assert_eq!(metrics.disk_dropped.get(), 2, "dropped while degraded");
        assert!(matches!(
            archive.load(&path, "video", 1).await,
            Lookup::Missing
        ));
    }
}
