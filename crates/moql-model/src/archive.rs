//! [`Archive`]: a second, slower tier behind the track caches that keeps finished groups
//! after the memory cache has let them go, and answers fetches of them later.
//!
//! The memory cache's window is the publisher's (its max latency, spec 11.5); an archive's
//! window is whoever configured it (a relay operator). A session hands every finished group
//! it receives to [`Archive::record`], and asks [`Archive::load`] before it goes upstream for
//! a group, or when the broadcast that held it is gone. The model only defines the contract;
//! the relay's disk tier implements it.

use std::fmt;
use std::future::Future;
use std::pin::Pin;

use crate::{GroupConsumer, Path};

/// What an archive knows of one group.
#[derive(Debug)]
pub enum Lookup {
    /// The group, complete, with the frames (timestamps and payloads) it was recorded with.
    Found(GroupConsumer),
    /// The group was archived and has since aged out (or was pushed out by the byte bound):
    /// it existed, it is older than every window. Still answered with 13 (NotFound) on the
    /// wire; a client-facing message can say "expired".
    Expired,
    /// The archive never held it (or lost it: a file that fails its check is missing, never
    /// served).
    Missing,
}

/// The answer of [`Archive::load`]: a boxed future, so the trait stays object safe.
pub type ArchiveLoad = Pin<Box<dyn Future<Output = Lookup> + Send + 'static>>;

/// A store of past groups, keyed by the broadcast's full path in the origin, the track name
/// and the group sequence.
///
/// Implementations are shared by every session of a process (`Arc<dyn Archive>`), so both
/// methods take `&self`, and neither may block the async runtime: `record` queues (and may
/// drop, under load or when the store fails), `load` does its IO in the returned future.
pub trait Archive: Send + Sync + fmt::Debug {
    /// Hands a finished group to the archive. Non-blocking; best effort: a group that is
    /// not [finished](crate::GroupStatus::Finished), already held, outside every retention
    /// rule, or over the archive's queue bound is dropped (implementations count that).
    fn record(&self, broadcast: &Path, track: &str, group: GroupConsumer);

    /// Looks up group `sequence` of `track` of `broadcast`. The future never fails: an IO
    /// error or a damaged copy is [`Lookup::Missing`].
    fn load(&self, broadcast: &Path, track: &str, sequence: u64) -> ArchiveLoad;
}

#[cfg(all(test, not(loom)))]
mod tests {
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};

    use futures::executor::block_on;

    use super::*;
    use crate::{Frame, GroupProducer, GroupStatus};

    /// The smallest archive: finished groups in a map.
    #[derive(Debug, Default)]
    struct Memory(Mutex<HashMap<(String, String, u64), Vec<Frame>>>);

    impl Archive for Memory {
        fn record(&self, broadcast: &Path, track: &str, group: GroupConsumer) {
            if group.status() == GroupStatus::Finished {
                let key = (broadcast.to_string(), track.to_string(), group.sequence());
                self.0.lock().unwrap().insert(key, group.frames());
            }
        }

        fn load(&self, broadcast: &Path, track: &str, sequence: u64) -> ArchiveLoad {
            let key = (broadcast.to_string(), track.to_string(), sequence);
            let frames = self.0.lock().unwrap().get(&key).cloned();
            Box::pin(async move {
                let Some(frames) = frames else {
                    return Lookup::Missing;
                };
                let group = GroupProducer::new(sequence, 1000);
                for frame in frames {
                    let _ = group.write_frame(frame);
                }
                let _ = group.finish();
                Lookup::Found(group.consume())
            })
        }
    }

    #[test]
    fn an_archive_is_object_safe_and_shareable() {
        let archive: Arc<dyn Archive> = Arc::new(Memory::default());
        let path = Path::new("live/a").unwrap();
        let open = GroupProducer::new(1, 1000);
        open.write(1, "x").unwrap();
        archive.record(&path, "video", open.consume());
        let done = GroupProducer::new(2, 1000);
        done.write(5, "y").unwrap();
        done.finish().unwrap();
        archive.record(&path, "video", done.consume());
        assert!(matches!(
            block_on(archive.load(&path, "video", 1)),
            Lookup::Missing
        ));
        let Lookup::Found(mut group) = block_on(archive.load(&path, "video", 2)) else {
            panic!("recorded group not found");
        };
        assert_eq!(
            block_on(group.read_all()).unwrap(),
            vec![Frame::new(5, "y")]
        );
        fn shared<T: Send + Sync>() {}
        shared::<Arc<dyn Archive>>();
    }
}
