//! Zigzag mapping of signed integers to unsigned ones (spec section 2.7).
//!
//! `0→0, −1→1, 1→2, −2→3, 2→4, …`. Used for the FRAME timestamp delta. A varint holds the
//! result only when the signed input lies in `[−2^61, 2^61 − 1]`.

/// Smallest signed value whose zigzag form fits a varint: −2^61.
pub const ZIGZAG_MIN: i64 = -(1 << 61);

/// Largest signed value whose zigzag form fits a varint: 2^61 − 1.
pub const ZIGZAG_MAX: i64 = (1 << 61) - 1;

/// Maps a signed value to its zigzag form: `(s << 1) XOR (s >> 63)` (arithmetic shift).
pub const fn zigzag_encode(value: i64) -> u64 {
    ((value << 1) ^ (value >> 63)) as u64
}

/// Maps a zigzag value back: `(u >> 1) XOR −(u AND 1)`.
pub const fn zigzag_decode(value: u64) -> i64 {
    ((value >> 1) as i64) ^ -((value & 1) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_examples() {
        // spec 2.7: "+3000 → 6000; +20 → 40; −10 → 19; +33 → 66"
        assert_eq!(zigzag_encode(3000), 6000);
        assert_eq!(zigzag_encode(20), 40);
        assert_eq!(zigzag_encode(-10), 19);
        assert_eq!(zigzag_encode(33), 66);
        for (s, u) in [(0, 0), (-1, 1), (1, 2), (-2, 3), (2, 4)] {
            assert_eq!(zigzag_encode(s), u);
            assert_eq!(zigzag_decode(u), s);
        }
    }

    #[test]
    fn varint_range_edges() {
        assert_eq!(zigzag_encode(ZIGZAG_MAX), (1 << 62) - 2);
        assert_eq!(zigzag_encode(ZIGZAG_MIN), (1 << 62) - 1);
        assert_eq!(zigzag_decode((1 << 62) - 1), ZIGZAG_MIN);
        assert_eq!(zigzag_decode(u64::MAX), i64::MIN);
    }
}
