//! PROBE (spec 5.11): bandwidth reports, publisher → subscriber on a Probe stream.
//!
//! ```text
//! PROBE {
//!   Message Length (i)
//!   Bitrate (i)        // bits per second; 0 = unknown
//!   RTT (i)            // smoothed RTT in ms; 0 = unknown. lite-04+ (absent on lite-03)
//! }
//! ```
//!
//! The reference rounds a *measured* 0 up to 1 before sending; that is the sender's job, this
//! codec writes the values it is given.

use bytes::{Buf, BufMut};

use super::Message;
use crate::Version;
use crate::coding::{
    DecodeError, EncodeError, VarInt, check_varints, decode_varint, encode_varint,
};

/// PROBE: the publisher's current bandwidth and RTT estimate.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Probe {
    /// Estimated bitrate in bits per second; 0 = unknown.
    pub bitrate: u64,
    /// Smoothed RTT in milliseconds; 0 = unknown. Not on the wire in lite-03: ignored on
    /// encode and decoded as 0.
    pub rtt: u64,
}

impl Message for Probe {
    const NAME: &'static str = "PROBE";

    fn exists_in(_: Version) -> bool {
        true
    }

    fn check(&self, version: Version) -> Result<(), EncodeError> {
        check_varints(&[self.bitrate])?;
        if version.probe_has_rtt() {
            check_varints(&[self.rtt])?;
        }
        Ok(())
    }

    fn body_len(&self, version: Version) -> usize {
        let rtt = if version.probe_has_rtt() {
            VarInt::size_of(self.rtt)
        } else {
            0
        };
        VarInt::size_of(self.bitrate) + rtt
    }

    fn encode_body<B: BufMut>(&self, buf: &mut B, version: Version) -> Result<(), EncodeError> {
        encode_varint(buf, self.bitrate)?;
        if version.probe_has_rtt() {
            encode_varint(buf, self.rtt)?;
        }
        Ok(())
    }

    fn decode_body<B: Buf>(buf: &mut B, version: Version) -> Result<Self, DecodeError> {
        let bitrate = decode_varint(buf)?;
        let rtt = if version.probe_has_rtt() {
            decode_varint(buf)?
        } else {
            0
        };
        Ok(Self { bitrate, rtt })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Decode, Encode};

    #[test]
    fn spec_example_round_trips() {
        // spec 7.7: "05 80 1e 84 80 28" = 2 000 000 bit/s, 40 ms
        let probe = Probe {
            bitrate: 2_000_000,
            rtt: 40,
        };
        let bytes = probe.encode_to_vec(Version::Lite05).unwrap();
        assert_eq!(bytes, [0x05, 0x80, 0x1e, 0x84, 0x80, 0x28]);
        assert_eq!(Probe::decode_exact(&bytes, Version::Lite05).unwrap(), probe);
    }

    #[test]
    fn lite03_has_no_rtt() {
        let probe = Probe {
            bitrate: 2_000_000,
            rtt: 40,
        };
        let bytes = probe.encode_to_vec(Version::Lite03).unwrap();
        assert_eq!(bytes, [0x04, 0x80, 0x1e, 0x84, 0x80]);
        assert_eq!(Probe::decode_exact(&bytes, Version::Lite03).unwrap().rtt, 0);
    }
}
