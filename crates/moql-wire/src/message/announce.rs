//! ANNOUNCE (spec 5.4; the draft's ANNOUNCE_BROADCAST): publisher → subscriber on an Announce
//! stream, after ANNOUNCE_OK on lite-05. lite-03 to lite-05 only: lite-06 replaced it with
//! the typed [`AnnounceMessage`](crate::AnnounceMessage) (moq-lite-06.md section 3).
//!
//! ```text
//! ANNOUNCE {
//!   Message Length (i)
//!   Status (8)                 // ONE BYTE: 0 ended, 1 active (2 = active on lite-05)
//!   Broadcast Path Suffix (p)
//!   Hop Count (i)              // 0..=32
//!   Hop ID (i) ...             // lite-04+: Hop Count entries; lite-03: none
//! }
//! ```
//!
//! Hop list contents differ by version (older-versions.md): lite-03 carries only the count
//! (which includes the sender); lite-04 lists IDs ending with the sender's own; lite-05 lists
//! IDs without the sender (whose ID is in ANNOUNCE_OK). This codec carries the list as it is
//! on the wire; adding or stripping the sender is the session's job (see
//! [`Version::announce_lists_sender`]).

use bytes::{Buf, BufMut};

use super::Message;
use crate::Version;
use crate::coding::{
    DecodeError, EncodeError, VarInt, check_varints, decode_varint, encode_string, encode_varint,
    read_path, read_u8, string_len,
};
use crate::limits::MAX_HOPS;
use crate::path::Path;

/// Whether the announced broadcast is available.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum AnnounceStatus {
    /// 0: no longer available.
    Ended,
    /// 1: available; on lite-05 a second `Active` for an active path is a restart.
    #[default]
    Active,
}

/// ANNOUNCE: a broadcast under the requested prefix became available, changed route, or ended.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Announce {
    /// Active or ended.
    pub status: AnnounceStatus,
    /// Path relative to the ANNOUNCE_REQUEST prefix (root = the prefix itself).
    pub suffix: Path,
    /// The route, origin publisher first; at most 32 entries, 0 = unknown hop.
    ///
    /// On lite-03 only the count is on the wire: encoding writes `hops.len()` and ignores the
    /// values, decoding yields that many zeros.
    pub hops: Vec<u64>,
}

impl Message for Announce {
    const NAME: &'static str = "ANNOUNCE";

    fn exists_in(version: Version) -> bool {
        !version.has_announce_ids()
    }

    fn check(&self, version: Version) -> Result<(), EncodeError> {
        if self.hops.len() > MAX_HOPS {
            return Err(EncodeError::BoundsExceeded);
        }
        if version.has_hop_ids() {
            check_varints(&self.hops)?;
        }
        Ok(())
    }

    fn body_len(&self, version: Version) -> usize {
        let mut len =
            1 + string_len(self.suffix.as_str()) + VarInt::size_of(self.hops.len() as u64);
        if version.has_hop_ids() {
            len += self.hops.iter().map(|&h| VarInt::size_of(h)).sum::<usize>();
        }
        len
    }

    fn encode_body<B: BufMut>(&self, buf: &mut B, version: Version) -> Result<(), EncodeError> {
        buf.put_u8(match self.status {
            AnnounceStatus::Ended => 0,
            AnnounceStatus::Active => 1,
        });
        encode_string(buf, self.suffix.as_str())?;
        encode_varint(buf, self.hops.len() as u64)?;
        if version.has_hop_ids() {
            for &hop in &self.hops {
                encode_varint(buf, hop)?;
            }
        }
        Ok(())
    }

    fn decode_body<B: Buf>(buf: &mut B, version: Version) -> Result<Self, DecodeError> {
        // spec 2.2: "The ANNOUNCE status field is a single byte in the reference".
        let status = match read_u8(buf)? {
            0 => AnnounceStatus::Ended,
            1 => AnnounceStatus::Active,
            // spec 5.4: "`2`: … the reference decodes it exactly like `1`"; before lite-05
            // "anything else (including 2) is a decode error" (older-versions.md).
            2 if version.has_announce_restart() => AnnounceStatus::Active,
            _ => return Err(DecodeError::InvalidValue("ANNOUNCE status")),
        };
        let suffix = read_path(buf)?;
        let count = decode_varint(buf)?;
        // spec 5.4: "Hop Count > 32 → decode error" — checked before reading or allocating.
        if count > MAX_HOPS as u64 {
            return Err(DecodeError::BoundsExceeded);
        }
        // Lossless: count <= 32.
        let count = count as usize;
        let hops = if version.has_hop_ids() {
            let mut hops = Vec::with_capacity(count);
            for _ in 0..count {
                hops.push(decode_varint(buf)?);
            }
            hops
        } else {
            // lite-03: "The receiver fills the chain with 'unknown' (0) entries."
            vec![0; count]
        };
        Ok(Self {
            status,
            suffix,
            hops,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Decode, Encode};

    #[test]
    fn spec_examples_round_trip() {
        // spec 7.2: "07 01 04 64 65 6d 6f 00" and "08 01 04 64 65 6d 6f 01 05"
        let demo = Path::new("demo").unwrap();
        let local = Announce {
            status: AnnounceStatus::Active,
            suffix: demo.clone(),
            hops: vec![],
        };
        let bytes = local.encode_to_vec(Version::Lite05).unwrap();
        assert_eq!(bytes, [0x07, 0x01, 0x04, b'd', b'e', b'm', b'o', 0x00]);
        assert_eq!(
            Announce::decode_exact(&bytes, Version::Lite05).unwrap(),
            local
        );

        let relayed = Announce {
            status: AnnounceStatus::Active,
            suffix: demo,
            hops: vec![5],
        };
        let bytes = relayed.encode_to_vec(Version::Lite05).unwrap();
        assert_eq!(
            bytes,
            [0x08, 0x01, 0x04, b'd', b'e', b'm', b'o', 0x01, 0x05]
        );
    }

    #[test]
    fn lite03_carries_only_a_count() {
        let a = Announce {
            status: AnnounceStatus::Ended,
            suffix: Path::root(),
            hops: vec![9, 9],
        };
        let bytes = a.encode_to_vec(Version::Lite03).unwrap();
        assert_eq!(bytes, [0x03, 0x00, 0x00, 0x02]);
        let back = Announce::decode_exact(&bytes, Version::Lite03).unwrap();
        assert_eq!(back.hops, [0, 0]);
    }

    #[test]
    fn status_two_is_active_only_on_lite05() {
        let bytes = [0x03, 0x02, 0x00, 0x00];
        assert_eq!(
            Announce::decode_exact(&bytes, Version::Lite05)
                .unwrap()
                .status,
            AnnounceStatus::Active
        );
        for v in [Version::Lite03, Version::Lite04] {
            assert!(matches!(
                Announce::decode_exact(&bytes, v),
                Err(DecodeError::InvalidValue(_))
            ));
        }
    }

    #[test]
    fn more_than_32_hops_is_refused() {
        let a = Announce {
            hops: vec![1; 33],
            ..Announce::default()
        };
        assert_eq!(
            a.encode_to_vec(Version::Lite05),
            Err(EncodeError::BoundsExceeded)
        );
        let bytes = [0x04, 0x01, 0x00, 0x21, 0x00];
        assert_eq!(
            Announce::decode_exact(&bytes, Version::Lite04),
            Err(DecodeError::BoundsExceeded)
        );
    }
}
