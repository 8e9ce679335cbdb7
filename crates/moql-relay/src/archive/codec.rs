//! The file format of one archived group, and its check.
//!
//! ```text
//! magic "MQLG" | format 1 (u8) | broadcast len (u16) + bytes | track len (u16) + bytes
//! | sequence (u64) | timescale (u64) | frame count (u32)
//! | per frame: timestamp (u64) | payload len (u32) | payload
//! | CRC-32 (IEEE, u32) of every byte before it
//! ```
//! Integers are big-endian and fixed-width (a file is read whole, so there is nothing to gain
//! from varints). The key is stored too, so a file is only ever served for the key it was
//! written for. Decoding trusts nothing: a short, long, mis-keyed or mis-summed file is an
//! error, never a partial group.

use bytes::{Buf, BufMut, Bytes};
use moql_model::Frame;

const MAGIC: &[u8; 4] = b"MQLG";
const FORMAT: u8 = 1;
/// Bytes of a frame's fixed fields (timestamp, length).
const FRAME_HEADER: usize = 8 + 4;

/// Why a file is not a group we wrote.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum CodecError {
    /// Fewer bytes than the fields say.
    #[error("truncated")]
    Short,
    /// Not our magic and format.
    #[error("not an archived group (or another format)")]
    Format,
    /// The CRC does not match: the bytes changed after they were written.
    #[error("checksum mismatch")]
    Checksum,
    /// Written for another group.
    #[error("written for another key")]
    Key,
    /// A name, frame or count too large to encode.
    #[error("too large to archive")]
    TooLarge,
}

/// One group's key and content.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Record {
    pub(crate) broadcast: String,
    pub(crate) track: String,
    pub(crate) sequence: u64,
    pub(crate) timescale: u64,
    pub(crate) frames: Vec<Frame>,
}

impl Record {
    /// The file's bytes.
    ///
    /// # Errors
    ///
    /// [`CodecError::TooLarge`] for a name over 64 KiB, a frame over 4 GiB or over 2^32
    /// frames (none of which a relay accepts from the wire).
    pub(crate) fn encode(&self) -> Result<Vec<u8>, CodecError> {
        let too_large = |_| CodecError::TooLarge;
        let broadcast_len = u16::try_from(self.broadcast.len()).map_err(too_large)?;
        let track_len = u16::try_from(self.track.len()).map_err(too_large)?;
        let count = u32::try_from(self.frames.len()).map_err(too_large)?;
        let payload: usize = self.frames.iter().map(Frame::len).sum();
        let len = 4 + 1 + 2 + self.broadcast.len() + 2 + self.track.len() + 8 + 8 + 4;
        let mut out = Vec::with_capacity(len + self.frames.len() * FRAME_HEADER + payload + 4);
        out.put_slice(MAGIC);
        out.put_u8(FORMAT);
        out.put_u16(broadcast_len);
        out.put_slice(self.broadcast.as_bytes());
        out.put_u16(track_len);
        out.put_slice(self.track.as_bytes());
        out.put_u64(self.sequence);
        out.put_u64(self.timescale);
        out.put_u32(count);
        for frame in &self.frames {
            out.put_u64(frame.timestamp);
            out.put_u32(u32::try_from(frame.len()).map_err(too_large)?);
            out.put_slice(&frame.payload);
        }
        let crc = crc32fast::hash(&out);
        out.put_u32(crc);
        Ok(out)
    }

    /// Reads a file back, checking it was written for `broadcast`/`track`/`sequence`.
    ///
    /// # Errors
    ///
    /// A [`CodecError`] for anything but a whole, intact file of that key.
    pub(crate) fn decode(
        file: Bytes,
        broadcast: &str,
        track: &str,
        sequence: u64,
    ) -> Result<Self, CodecError> {
        if file.len() < 4 {
            return Err(CodecError::Short);
        }
        let (body, trailer) = file.split_at(file.len() - 4);
        let crc = u32::from_be_bytes([trailer[0], trailer[1], trailer[2], trailer[3]]);
        if crc32fast::hash(body) != crc {
            return Err(CodecError::Checksum);
        }
        let mut buf = file.slice(..file.len() - 4);
        let magic = take(&mut buf, 5)?;
        if &magic[..4] != MAGIC || magic[4] != FORMAT {
            return Err(CodecError::Format);
        }
        let stored_broadcast = string(&mut buf)?;
        let stored_track = string(&mut buf)?;
        need(&buf, 20)?;
        let stored_sequence = buf.get_u64();
        let timescale = buf.get_u64();
        let count = buf.get_u32() as usize;
        if stored_broadcast != broadcast || stored_track != track || stored_sequence != sequence {
            return Err(CodecError::Key);
        }
        // Every frame takes at least its header: a count the bytes cannot hold is refused
        // before anything is allocated for it.
        if count > buf.remaining() / FRAME_HEADER {
            return Err(CodecError::Short);
        }
        let mut frames = Vec::with_capacity(count);
        for _ in 0..count {
            need(&buf, FRAME_HEADER)?;
            let timestamp = buf.get_u64();
            let len = buf.get_u32() as usize;
            frames.push(Frame::new(timestamp, take(&mut buf, len)?));
        }
        if buf.has_remaining() {
            return Err(CodecError::Format);
        }
        Ok(Self {
            broadcast: stored_broadcast,
            track: stored_track,
            sequence,
            timescale,
            frames,
        })
    }
}

fn need(buf: &Bytes, n: usize) -> Result<(), CodecError> {
    if buf.remaining() < n {
        Err(CodecError::Short)
    } else {
        Ok(())
    }
}

/// The next `n` bytes, shared with the file (no copy).
fn take(buf: &mut Bytes, n: usize) -> Result<Bytes, CodecError> {
    need(buf, n)?;
    Ok(buf.split_to(n))
}

fn string(buf: &mut Bytes) -> Result<String, CodecError> {
    need(buf, 2)?;
    let len = buf.get_u16() as usize;
    let bytes = take(buf, len)?;
    String::from_utf8(bytes.to_vec()).map_err(|_| CodecError::Format)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> Record {
        Record {
            broadcast: "live/a".into(),
            track: "video".into(),
            sequence: 7,
            timescale: 90_000,
            frames: vec![
                Frame::new(0, "key"),
                Frame::new(3000, ""),
                Frame::new(6000, vec![0xAB; 300]),
            ],
        }
    }

    fn decode(file: Vec<u8>) -> Result<Record, CodecError> {
        Record::decode(Bytes::from(file), "live/a", "video", 7)
    }

    #[test]
    fn a_group_round_trips_byte_exact() {
        let file = record().encode().unwrap();
        assert_eq!(&file[..5], b"MQLG\x01");
        assert_eq!(decode(file).unwrap(), record());
        let empty = Record {
            frames: Vec::new(),
            ..record()
        };
        assert_eq!(decode(empty.encode().unwrap()).unwrap(), empty);
    }

    #[test]
    fn any_flipped_byte_or_cut_is_refused() {
        let file = record().encode().unwrap();
        for i in 0..file.len() {
            let mut bad = file.clone();
            bad[i] ^= 0x01;
            assert!(decode(bad).is_err(), "flip at {i} accepted");
        }
        for len in 0..file.len() {
            assert!(
                decode(file[..len].to_vec()).is_err(),
                "cut at {len} accepted"
            );
        }
    }

    #[test]
    fn a_file_of_another_key_is_refused() {
        let file = Bytes::from(record().encode().unwrap());
        assert_eq!(
            Record::decode(file.clone(), "live/a", "video", 8),
            Err(CodecError::Key)
        );
        assert_eq!(
            Record::decode(file, "live/b", "video", 7),
            Err(CodecError::Key)
        );
    }

    #[test]
    fn a_huge_frame_count_with_a_valid_checksum_allocates_nothing() {
        let mut file = Record {
            frames: Vec::new(),
            ..record()
        }
        .encode()
        .unwrap();
        file.truncate(file.len() - 4);
        let count_at = file.len() - 4;
        file[count_at..].copy_from_slice(&u32::MAX.to_be_bytes());
        let crc = crc32fast::hash(&file);
        file.extend_from_slice(&crc.to_be_bytes());
        assert_eq!(decode(file), Err(CodecError::Short));
    }
}
