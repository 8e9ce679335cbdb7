//! SUBSCRIBE_UPDATE (spec 5.7): any number, subscriber → publisher, after SUBSCRIBE. All
//! versions.
//!
//! ```text
//! SUBSCRIBE_UPDATE {
//!   Message Length (i)
//!   Subscriber Priority (8)
//!   Subscriber Ordered (8)         // lite-03 … lite-05 only
//!   Subscriber Max Latency (ms)    // "Max Age" on lite-06
//!   Group Start (g)                // lite-06: RAW (i), 0 = no floor
//!   Group End (g)
//!   Frame Start (i)                // lite-06 only
//!   Frame End (g)                  // lite-06 only
//! }
//! ```
//!
//! Every field replaces the previous value as a whole. The lite-06 layout is moq-lite-06.md
//! section 6.10; the per-version rules are shared with SUBSCRIBE (`delivery` module).

use bytes::{Buf, BufMut};

use super::Message;
use super::delivery::Delivery;
use crate::Version;
use crate::coding::{DecodeError, EncodeError};

/// SUBSCRIBE_UPDATE: replace a subscription's priority, order, latency and bounds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct SubscribeUpdate {
    /// Subscriber priority, higher is more important.
    pub priority: u8,
    /// `true` = oldest group first. Not on the lite-06 wire: ignored on encode, decoded as
    /// `false`.
    pub ordered: bool,
    /// Subscriber max latency (lite-06: Max Age) in milliseconds.
    pub max_latency: u64,
    /// New delivery floor. lite-03 … lite-05: `None` leaves the floor unchanged (it does not
    /// mean "latest"). lite-06: `None` (wire `0`) **clears** the floor (moq-lite-06.md 6.10);
    /// `Some(0)` encodes as `0` too and decodes back as `None`.
    pub start: Option<u64>,
    /// New inclusive cap; `None` removes the cap.
    pub end: Option<u64>,
    /// lite-06: first frame wanted in the `start` group. Must be 0 before lite-06.
    pub frame_start: u64,
    /// lite-06: inclusive last frame in the `end` group; requires `end`. Must be `None`
    /// before lite-06.
    pub frame_end: Option<u64>,
}

impl SubscribeUpdate {
    fn delivery(&self) -> Delivery {
        Delivery {
            priority: self.priority,
            ordered: self.ordered,
            max_latency: self.max_latency,
            start: self.start,
            end: self.end,
            frame_start: self.frame_start,
            frame_end: self.frame_end,
        }
    }
}

/// The error naming the lite-06 rule both ways.
const FRAME_END_RULE: &str = "SUBSCRIBE_UPDATE frame end without group end";

impl Message for SubscribeUpdate {
    const NAME: &'static str = "SUBSCRIBE_UPDATE";

    fn exists_in(_: Version) -> bool {
        true
    }

    fn check(&self, version: Version) -> Result<(), EncodeError> {
        self.delivery().check(version, FRAME_END_RULE)
    }

    fn body_len(&self, version: Version) -> usize {
        self.delivery().len(version)
    }

    fn encode_body<B: BufMut>(&self, buf: &mut B, version: Version) -> Result<(), EncodeError> {
        self.delivery().encode(buf, version)
    }

    fn decode_body<B: Buf>(buf: &mut B, version: Version) -> Result<Self, DecodeError> {
        let d = Delivery::decode(buf, version, FRAME_END_RULE)?;
        Ok(Self {
            priority: d.priority,
            ordered: d.ordered,
            max_latency: d.max_latency,
            start: d.start,
            end: d.end,
            frame_start: d.frame_start,
            frame_end: d.frame_end,
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
            ..SubscribeUpdate::default()
        };
        for v in [Version::Lite05, Version::Lite04, Version::Lite03] {
            let bytes = update.encode_to_vec(v).unwrap();
            assert_eq!(bytes, [0x06, 0x04, 0x00, 0x41, 0xf4, 0x00, 0x0a]);
            assert_eq!(SubscribeUpdate::decode_exact(&bytes, v).unwrap(), update);
        }
        // moq-lite-06.md section 8.3: "07 04 41 f4 00 0a 00 00", and without the cap
        // "07 04 41 f4 00 00 00 00".
        let v = Version::Lite06;
        let bytes = update.encode_to_vec(v).unwrap();
        assert_eq!(bytes, [0x07, 0x04, 0x41, 0xf4, 0x00, 0x0a, 0x00, 0x00]);
        assert_eq!(SubscribeUpdate::decode_exact(&bytes, v).unwrap(), update);
        let uncapped = SubscribeUpdate {
            end: None,
            ..update
        };
        let bytes = uncapped.encode_to_vec(v).unwrap();
        assert_eq!(bytes, [0x07, 0x04, 0x41, 0xf4, 0x00, 0x00, 0x00, 0x00]);
        assert_eq!(SubscribeUpdate::decode_exact(&bytes, v).unwrap(), uncapped);
    }

    #[test]
    fn lite06_rules() {
        let v = Version::Lite06;
        // Frame End without Group End, both ways.
        assert!(matches!(
            SubscribeUpdate::decode_exact(&[0x07, 0x04, 0x41, 0xf4, 0x00, 0x00, 0x00, 0x03], v),
            Err(DecodeError::InvalidValue(_))
        ));
        let bad = SubscribeUpdate {
            frame_end: Some(0),
            ..SubscribeUpdate::default()
        };
        assert!(matches!(
            bad.encode_to_vec(v),
            Err(EncodeError::InvalidValue(_))
        ));
        assert_eq!(
            bad.encode_to_vec(Version::Lite05),
            Err(EncodeError::Version)
        );
        // Raw start and frame bounds.
        let update = SubscribeUpdate {
            start: Some(7),
            end: Some(9),
            frame_start: 4,
            frame_end: Some(2),
            ..SubscribeUpdate::default()
        };
        let bytes = update.encode_to_vec(v).unwrap();
        assert_eq!(bytes, [0x06, 0x00, 0x00, 0x07, 0x0a, 0x04, 0x03]);
        assert_eq!(SubscribeUpdate::decode_exact(&bytes, v).unwrap(), update);
    }
}
