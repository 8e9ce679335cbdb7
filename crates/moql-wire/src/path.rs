//! [`Path`]: a validated, normalized broadcast path (spec section 2.4).
//!
//! Both references normalize every path after decoding and before encoding:
//! "1. strip every leading and trailing `/`; 2. collapse each run of consecutive `/` into one."
//! A path has at most [`MAX_PATH_SEGMENTS`] segments, prefixes match whole segments, and the
//! empty path is the root.

use std::borrow::Borrow;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use crate::limits::MAX_PATH_SEGMENTS;

/// A normalized broadcast path: no leading, trailing or doubled `/`, at most 32 segments.
///
/// Cheap to clone (a shared `Arc<str>`). Ordering, equality and hashing are those of the
/// normalized string, and `Path: Borrow<str>`, so a map keyed by `Path` can be queried with a
/// normalized `&str`.
///
/// ```
/// use moql_wire::Path;
///
/// let room = Path::new("/room//")?;
/// assert_eq!(room.as_str(), "room");
/// let cam = room.join(&Path::new("cam/1")?)?;
/// assert!(cam.has_prefix(&room));
/// assert!(!Path::new("roomy")?.has_prefix(&room)); // whole segments only
/// assert_eq!(cam.strip_prefix(&room), Some(Path::new("cam/1")?));
/// # Ok::<(), moql_wire::PathError>(())
/// ```
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Path(Arc<str>);

/// Why a string is not a valid broadcast path.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    /// More than [`MAX_PATH_SEGMENTS`] segments.
    #[error("path has more than 32 segments")]
    TooManySegments,
}

impl Path {
    /// The root (empty) path: a prefix of every path.
    pub fn root() -> Self {
        Self(Arc::from(""))
    }

    /// Normalizes `path` (trims `/` at both ends, collapses runs of `/`) and checks the
    /// segment limit.
    ///
    /// # Errors
    ///
    /// [`PathError::TooManySegments`] above 32 segments.
    pub fn new(path: &str) -> Result<Self, PathError> {
        if is_normalized(path) {
            check_segments(path)?;
            return Ok(Self(Arc::from(path)));
        }
        Ok(Self(Arc::from(normalize(path)?)))
    }

    /// Like [`Path::new`] but reuses the allocation when `path` is already normalized.
    pub(crate) fn from_string(path: String) -> Result<Self, PathError> {
        if is_normalized(&path) {
            check_segments(&path)?;
            return Ok(Self(Arc::from(path)));
        }
        Ok(Self(Arc::from(normalize(&path)?)))
    }

    /// The normalized string.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `true` for the root (empty) path.
    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }

    /// The `/`-separated segments; none for the root.
    pub fn segments(&self) -> impl DoubleEndedIterator<Item = &str> + '_ {
        self.0.split('/').filter(|s| !s.is_empty())
    }

    /// Number of segments (0 for the root).
    pub fn segment_count(&self) -> usize {
        if self.is_root() {
            0
        } else {
            self.0.bytes().filter(|&b| b == b'/').count() + 1
        }
    }

    /// `true` if `prefix` is a whole-segment prefix of `self` (spec 2.4: "`room` is a prefix of
    /// `room` and of `room/cam`, but **not** of `roomy`. The empty path is a prefix of
    /// everything.")
    pub fn has_prefix(&self, prefix: &Self) -> bool {
        self.suffix_after(prefix).is_some()
    }

    /// The suffix of `self` after `prefix` and the following `/` (spec 2.4), or `None` if
    /// `prefix` is not a whole-segment prefix. A path equal to the prefix gives the root.
    pub fn strip_prefix(&self, prefix: &Self) -> Option<Self> {
        let rest = self.suffix_after(prefix)?;
        if rest.len() == self.0.len() {
            return Some(self.clone());
        }
        Some(Self(Arc::from(rest)))
    }

    fn suffix_after<'a>(&'a self, prefix: &Self) -> Option<&'a str> {
        if prefix.is_root() {
            return Some(&self.0);
        }
        let rest = self.0.strip_prefix(&*prefix.0)?;
        if rest.is_empty() {
            Some(rest)
        } else {
            rest.strip_prefix('/')
        }
    }

    /// `self + "/" + suffix`, omitting the `/` when either side is empty (spec 2.4).
    ///
    /// # Errors
    ///
    /// [`PathError::TooManySegments`] if the result has more than 32 segments.
    pub fn join(&self, suffix: &Self) -> Result<Self, PathError> {
        if suffix.is_root() {
            return Ok(self.clone());
        }
        if self.is_root() {
            return Ok(suffix.clone());
        }
        if self.segment_count() + suffix.segment_count() > MAX_PATH_SEGMENTS {
            return Err(PathError::TooManySegments);
        }
        Ok(Self(Arc::from(format!("{}/{}", self.0, suffix.0))))
    }
}

fn is_normalized(path: &str) -> bool {
    !path.starts_with('/') && !path.ends_with('/') && !path.contains("//")
}

fn check_segments(normalized: &str) -> Result<(), PathError> {
    // spec 2.4: "a path may contain at most **32** non-empty `/`-separated segments."
    if !normalized.is_empty()
        && normalized.bytes().filter(|&b| b == b'/').count() >= MAX_PATH_SEGMENTS
    {
        return Err(PathError::TooManySegments);
    }
    Ok(())
}

fn normalize(path: &str) -> Result<String, PathError> {
    let mut out = String::with_capacity(path.len());
    for (count, segment) in path.split('/').filter(|s| !s.is_empty()).enumerate() {
        if count == MAX_PATH_SEGMENTS {
            return Err(PathError::TooManySegments);
        }
        if count > 0 {
            out.push('/');
        }
        out.push_str(segment);
    }
    Ok(out)
}

impl Default for Path {
    /// The root path.
    fn default() -> Self {
        Self::root()
    }
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Path({:?})", &*self.0)
    }
}

impl FromStr for Path {
    type Err = PathError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

impl TryFrom<&str> for Path {
    type Error = PathError;

    fn try_from(value: &str) -> Result<Self, Self::Error> {
        Self::new(value)
    }
}

impl TryFrom<String> for Path {
    type Error = PathError;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::from_string(value)
    }
}

impl AsRef<str> for Path {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl Borrow<str> for Path {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl PartialEq<str> for Path {
    fn eq(&self, other: &str) -> bool {
        &*self.0 == other
    }
}

impl PartialEq<&str> for Path {
    fn eq(&self, other: &&str) -> bool {
        &*self.0 == *other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Path {
        Path::new(s).unwrap()
    }

    #[test]
    fn normalizes_like_the_spec() {
        assert_eq!(p("/demo//"), "demo");
        assert_eq!(p("/a//b/"), "a/b");
        assert_eq!(p("///"), "");
        assert_eq!(p(""), "");
        assert!(p("//").is_root());
        assert_eq!(Path::default(), Path::root());
    }

    #[test]
    fn segment_limit_is_32() {
        let ok = vec!["a"; 32].join("/");
        assert_eq!(p(&ok).segment_count(), 32);
        let too_many = vec!["a"; 33].join("/");
        assert_eq!(Path::new(&too_many), Err(PathError::TooManySegments));
        assert_eq!(
            Path::new(&format!("/{too_many}/")),
            Err(PathError::TooManySegments)
        );
        // Empty segments do not count.
        assert!(Path::new(&format!("{ok}//")).is_ok());
    }

    #[test]
    fn prefixes_match_whole_segments() {
        assert!(p("room").has_prefix(&p("room")));
        assert!(p("room/cam").has_prefix(&p("room")));
        assert!(!p("roomy").has_prefix(&p("room")));
        assert!(p("anything").has_prefix(&Path::root()));
        assert!(!p("room").has_prefix(&p("room/cam")));
    }

    #[test]
    fn strip_and_join_are_inverse() {
        let prefix = p("room");
        assert_eq!(p("room/cam/1").strip_prefix(&prefix), Some(p("cam/1")));
        assert_eq!(p("room").strip_prefix(&prefix), Some(Path::root()));
        assert_eq!(p("roomy").strip_prefix(&prefix), None);
        assert_eq!(p("a").strip_prefix(&Path::root()), Some(p("a")));
        assert_eq!(prefix.join(&p("cam/1")).unwrap(), p("room/cam/1"));
        assert_eq!(prefix.join(&Path::root()).unwrap(), prefix);
        assert_eq!(Path::root().join(&prefix).unwrap(), prefix);
        let half = p(&vec!["a"; 16].join("/"));
        assert_eq!(half.join(&half).unwrap().segment_count(), 32);
        let more = p(&vec!["a"; 17].join("/"));
        assert_eq!(half.join(&more), Err(PathError::TooManySegments));
    }

    #[test]
    fn segments_iterate() {
        assert_eq!(p("a/b/c").segments().collect::<Vec<_>>(), ["a", "b", "c"]);
        assert_eq!(Path::root().segments().count(), 0);
        assert_eq!(format!("{:?}", p("a/b")), "Path(\"a/b\")");
        assert_eq!(p("a/b").to_string(), "a/b");
    }
}
