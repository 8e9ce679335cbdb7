//! [`Store`]: the disk tier's files, one per group, named by a number (never by a broadcast
//! or track name a peer chose), in one directory the relay owns.
//!
//! A file is written under a temporary name and renamed into place, so a reader finds a
//! whole file or none. There is no fsync: a crash may lose the files written last, and since
//! the directory is emptied at every start, never serves a damaged one (the CRC would refuse
//! it anyway, see [`codec`](super::codec)).

use std::fs;
use std::io::{self, Read as _};
use std::path::{Path, PathBuf};

/// The extension of a stored group.
const GROUP_EXT: &str = "grp";
/// The extension of a group being written.
const TMP_EXT: &str = "tmp";

/// The directory of stored groups.
#[derive(Debug)]
pub(crate) struct Store {
    dir: PathBuf,
}

impl Store {
    /// Creates `dir` if needed and empties it of our files (the tier starts empty: the
    /// index is in memory only, so files of an earlier run could not be found anyway).
    ///
    /// # Errors
    ///
    /// The IO error if `dir` cannot be created, listed or written.
    pub(crate) fn open(dir: &Path) -> io::Result<Self> {
        fs::create_dir_all(dir)?;
        for entry in fs::read_dir(dir)? {
            let path = entry?.path();
            let ours = path
                .extension()
                .is_some_and(|ext| ext == GROUP_EXT || ext == TMP_EXT);
            if ours && path.is_file() {
                fs::remove_file(&path)?;
            }
        }
        let store = Self {
            dir: dir.to_path_buf(),
        };
        // Prove the directory is writable now rather than at the first group.
        let probe = store.tmp_path(u64::MAX);
        fs::write(&probe, b"")?;
        fs::remove_file(&probe)?;
        Ok(store)
    }

    fn path(&self, id: u64) -> PathBuf {
        self.dir.join(format!("{id:016x}.{GROUP_EXT}"))
    }

    fn tmp_path(&self, id: u64) -> PathBuf {
        self.dir.join(format!("{id:016x}.{TMP_EXT}"))
    }

    /// Writes file `id` whole (temporary name, then rename).
    ///
    /// # Errors
    ///
    /// The IO error (disk full, directory gone, …); no file `id` exists then.
    pub(crate) fn write(&self, id: u64, bytes: &[u8]) -> io::Result<()> {
        let tmp = self.tmp_path(id);
        let written = fs::write(&tmp, bytes).and_then(|()| fs::rename(&tmp, self.path(id)));
        if written.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        written
    }

    /// Reads file `id`, refusing one larger than `max` bytes.
    ///
    /// # Errors
    ///
    /// The IO error, or [`io::ErrorKind::InvalidData`] for a file over `max`.
    pub(crate) fn read(&self, id: u64, max: u64) -> io::Result<Vec<u8>> {
        let file = fs::File::open(self.path(id))?;
        let len = file.metadata()?.len();
        if len > max {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "file too large"));
        }
        let mut bytes = Vec::with_capacity(len as usize);
        file.take(max + 1).read_to_end(&mut bytes)?;
        if bytes.len() as u64 > max {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "file grew"));
        }
        Ok(bytes)
    }

    /// Deletes file `id` (a missing file is not an error).
    pub(crate) fn remove(&self, id: u64) {
        if let Err(err) = fs::remove_file(self.path(id))
            && err.kind() != io::ErrorKind::NotFound
        {
            tracing::debug!(id, %err, "disk tier: could not delete a group file");
        }
    }

    #[cfg(test)]
    pub(crate) fn file(&self, id: u64) -> PathBuf {
        self.path(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_written_read_and_removed_and_the_dir_starts_empty() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("0000000000000001.grp"), b"old run").unwrap();
        fs::write(dir.path().join("notes.txt"), b"not ours").unwrap();
        let store = Store::open(dir.path()).unwrap();
        assert!(!store.file(1).exists(), "an earlier run's group is removed");
        assert!(
            dir.path().join("notes.txt").exists(),
            "other files are left alone"
        );
        store.write(2, b"abc").unwrap();
        assert_eq!(store.read(2, 3).unwrap(), b"abc");
        assert_eq!(
            store.read(2, 2).unwrap_err().kind(),
            io::ErrorKind::InvalidData
        );
        store.remove(2);
        store.remove(2);
        assert!(store.read(2, 10).is_err());
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1, "no tmp left");
    }

    #[test]
    fn a_file_where_the_dir_should_be_fails_to_open() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("tier");
        fs::write(&file, b"").unwrap();
        assert!(Store::open(&file).is_err());
    }
}
