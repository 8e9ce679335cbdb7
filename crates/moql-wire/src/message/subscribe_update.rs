//! SUBSCRIBE_UPDATE (spec 5.7): any number, subscriber → publisher, after SUBSCRIBE. All
//! versions.
//!
//! ```text
//! SUBSCRIBE_UPDATE {
//!   Message Length (i)
//!   Subscriber Priority (8)
//!   Subscriber Ordered (8)
//!   Subscriber Max Latency (ms)
//!   Group Start (g)
//!   Group End (g)
//! }
//! ```
//!
//! Every field replaces the previous value as a whole.

use bytes::{Buf, BufMut};

use super::Message;
use crate::Version;
use crate::coding::{
    DecodeError, EncodeError, VarInt, check_group_opt, check_varints, decode_varint, encode_varint,
    group_opt_len, put_bool, put_group_opt, read_bool, read_group_opt, read_u8,
};

/// SUBSCRIBE_UPDATE: replace a subscription's priority, order, latency and bounds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct SubscribeUpdate {
    /// Subscriber priority, higher is more important.
    pub priority: u8,
    /// `true` = oldest group first.
    pub ordered: bool,
    /// Subscriber max latency in milliseconds.
    pub max_latency: u64,
    /// New delivery floor; `None` leaves the floor unchanged (it does not mean "latest").
    pub start: Option<u64>,
    /// New inclusive cap; `None` removes the cap.
    pub end: Option<u64>,
}

impl Message for SubscribeUpdate {
    const NAME: &'static str = "SUBSCRIBE_UPDATE";

    fn exists_in(_: Version) -> bool {
        true
    }

    fn check(&self, _: Version) -> Result<(), EncodeError> {
        check_varints(&[self.max_latency])?;
        check_group_opt(self.start)?;
        check_group_opt(self.end)
    }

    fn body_len(&self, _: Version) -> usize {
        2 + VarInt::size_of(self.max_latency) + group_opt_len(self.start) + group_opt_len(self.end)
    }

    fn encode_body<B: BufMut>(&self, buf: &mut B, _: Version) -> Result<(), EncodeError> {
        buf.put_u8(self.priority);
        put_bool(buf, self.ordered);
        encode_varint(buf, self.max_latency)?;
        put_group_opt(buf, self.start)?;
        put_group_opt(buf, self.end)
    }

    fn decode_body<B: Buf>(buf: &mut B, _: Version) -> Result<Self, DecodeError> {
        Ok(Self {
            priority: read_u8(buf)?,
            ordered: read_bool(buf)?,
            max_latency: decode_varint(buf)?,
            start: read_group_opt(buf)?,
            end: read_group_opt(buf)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Decode, Encode};

    #[test]
    fn spec_example_round_trips() {
        // spec 7.4: "06 04 00 41 f4 00 0a" = prio 4, 500 ms, start absent, end 9
        let update = SubscribeUpdate {
            priority: 4,
            ordered: false,
            max_latency: 500,
            start: None,
            end: Some(9),
        };
        for v in Version::ALL {
            let bytes = update.encode_to_vec(v).unwrap();
            assert_eq!(bytes, [0x06, 0x04, 0x00, 0x41, 0xf4, 0x00, 0x0a]);
            assert_eq!(SubscribeUpdate::decode_exact(&bytes, v).unwrap(), update);
        }
    }
}
