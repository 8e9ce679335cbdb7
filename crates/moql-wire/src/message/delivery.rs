//! The delivery fields SUBSCRIBE and SUBSCRIBE_UPDATE share, in their per-version layouts.
//!
//! ```text
//! lite-03 … lite-05:  Priority (8), Ordered (8), Max Latency (ms), Group Start (g), Group End (g)
//! lite-06:            Priority (8), Max Age (ms), Group Start (i), Group End (g),
//!                     Frame Start (i), Frame End (g)
//! ```
//!
//! moq-lite-06.md sections 6.9 and 6.10. On lite-06:
//!
//! * there is no Ordered byte: `ordered` is ignored on encode and decodes as `false`
//!   (the release always delivers newest first, moq-lite-06.md section 2 row 5);
//! * Group Start is a **raw** sequence where `0` means "no floor" (moq-lite-06.md 4): `start: None`
//!   encodes as `0` and `0` decodes as `None`; `Some(n)` encodes as `n`, so `Some(0)` also
//!   encodes as `0` and comes back as `None` (both mean "group 0 / no floor" on lite-06);
//! * Frame End without Group End is invalid: [`EncodeError::InvalidValue`] /
//!   [`DecodeError::InvalidValue`] (moq-lite-06.md 6.9, "Frame End present while Group End
//!   is absent → decode error").
//!
//! Before lite-06 the frame fields do not exist: a non-zero `frame_start` or a `frame_end`
//! fails to encode with [`EncodeError::Version`] rather than being silently dropped.

use bytes::{Buf, BufMut};

use crate::Version;
use crate::coding::{
    DecodeError, EncodeError, VarInt, check_group_opt, check_varints, decode_varint, encode_varint,
    group_opt_len, put_bool, put_group_opt, read_bool, read_group_opt, read_u8,
};

/// The shared fields, copied out of (and back into) the message structs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Delivery {
    pub(crate) priority: u8,
    pub(crate) ordered: bool,
    pub(crate) max_latency: u64,
    pub(crate) start: Option<u64>,
    pub(crate) end: Option<u64>,
    pub(crate) frame_start: u64,
    pub(crate) frame_end: Option<u64>,
}

impl Delivery {
    pub(crate) fn check(&self, version: Version, name: &'static str) -> Result<(), EncodeError> {
        check_varints(&[self.max_latency])?;
        if version.group_start_is_plus_one() {
            check_group_opt(self.start)?;
        } else {
            check_varints(&[self.start.unwrap_or(0)])?;
        }
        check_group_opt(self.end)?;
        if version.has_frame_bounds() {
            check_varints(&[self.frame_start])?;
            check_group_opt(self.frame_end)?;
            if self.frame_end.is_some() && self.end.is_none() {
                return Err(EncodeError::InvalidValue(name));
            }
        } else if self.frame_start != 0 || self.frame_end.is_some() {
            return Err(EncodeError::Version);
        }
        Ok(())
    }

    pub(crate) fn len(&self, version: Version) -> usize {
        let mut len = 1 + VarInt::size_of(self.max_latency) + group_opt_len(self.end);
        if version.has_ordered() {
            len += 1;
        }
        len += if version.group_start_is_plus_one() {
            group_opt_len(self.start)
        } else {
            VarInt::size_of(self.start.unwrap_or(0))
        };
        if version.has_frame_bounds() {
            len += VarInt::size_of(self.frame_start) + group_opt_len(self.frame_end);
        }
        len
    }

    pub(crate) fn encode<B: BufMut>(
        &self,
        buf: &mut B,
        version: Version,
    ) -> Result<(), EncodeError> {
        buf.put_u8(self.priority);
        if version.has_ordered() {
            put_bool(buf, self.ordered);
        }
        encode_varint(buf, self.max_latency)?;
        if version.group_start_is_plus_one() {
            put_group_opt(buf, self.start)?;
        } else {
            encode_varint(buf, self.start.unwrap_or(0))?;
        }
        put_group_opt(buf, self.end)?;
        if version.has_frame_bounds() {
            encode_varint(buf, self.frame_start)?;
            put_group_opt(buf, self.frame_end)?;
        }
        Ok(())
    }

    pub(crate) fn decode<B: Buf>(
        buf: &mut B,
        version: Version,
        name: &'static str,
    ) -> Result<Self, DecodeError> {
        let priority = read_u8(buf)?;
        let ordered = if version.has_ordered() {
            read_bool(buf)?
        } else {
            false
        };
        let max_latency = decode_varint(buf)?;
        let start = if version.group_start_is_plus_one() {
            read_group_opt(buf)?
        } else {
            Some(decode_varint(buf)?).filter(|&g| g != 0)
        };
        let end = read_group_opt(buf)?;
        let (frame_start, frame_end) = if version.has_frame_bounds() {
            (decode_varint(buf)?, read_group_opt(buf)?)
        } else {
            (0, None)
        };
        if frame_end.is_some() && end.is_none() {
            return Err(DecodeError::InvalidValue(name));
        }
        Ok(Self {
            priority,
            ordered,
            max_latency,
            start,
            end,
            frame_start,
            frame_end,
        })
    }
}
