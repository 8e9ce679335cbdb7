//! Human units for durations and sizes in the configuration: every `*_seconds` key takes a
//! number of seconds (`30`, `0.5`) or a `humantime` duration (`"30s"`, `"500ms"`, `"2h"`),
//! and every `*_bytes` key an integer or a `bytesize` size (`"256MiB"`, `"1 GB"`). Numbers
//! stay accepted so configs written before units existed keep working.
//!
//! Used as `#[serde(deserialize_with = …)]` on fields that keep their plain types (`f64`
//! seconds, `usize` bytes), so code that builds a [`RelayConfig`](super::RelayConfig) in Rust
//! is unchanged. A bad value is a serde error, which the layered loader reports with the
//! key's name and where it came from.

use std::fmt;

use serde::Deserializer;
use serde::de::{self, Visitor};

/// Seconds as a number or a duration string; finite and not negative (the key's upper bound
/// is [`RelayConfig::validate`](super::RelayConfig::validate)'s).
pub(crate) fn seconds<'de, D: Deserializer<'de>>(deserializer: D) -> Result<f64, D::Error> {
    deserializer.deserialize_any(SecondsVisitor)
}

/// [`seconds`] for an optional key: absent stays `None`.
pub(crate) fn opt_seconds<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<f64>, D::Error> {
    seconds(deserializer).map(Some)
}

/// Bytes as an integer or a size string.
pub(crate) fn bytes<'de, D: Deserializer<'de>>(deserializer: D) -> Result<usize, D::Error> {
    deserializer.deserialize_any(BytesVisitor)
}

/// Parses a duration: a plain number is seconds, anything else `humantime` syntax.
pub(crate) fn parse_seconds(text: &str) -> Result<f64, String> {
    let text = text.trim();
    if let Ok(number) = text.parse::<f64>() {
        return finite_seconds(number);
    }
    humantime::parse_duration(text)
        .map(|duration| duration.as_secs_f64())
        .map_err(|err| {
            format!("{text:?} is not a duration ({err}); e.g. \"30s\", \"500ms\", \"2h\"")
        })
}

/// Parses a size: a plain integer is bytes, anything else `bytesize` syntax.
pub(crate) fn parse_bytes(text: &str) -> Result<usize, String> {
    let text = text.trim();
    if let Ok(number) = text.parse::<u64>() {
        return usize::try_from(number).map_err(|_| format!("{number} bytes is too large"));
    }
    let size: bytesize::ByteSize = text.parse().map_err(|err| {
        format!("{text:?} is not a size ({err}); e.g. \"4096\", \"256MiB\", \"1 GB\"")
    })?;
    usize::try_from(size.as_u64()).map_err(|_| format!("{text:?} is too large"))
}

fn finite_seconds(value: f64) -> Result<f64, String> {
    if value.is_finite() && value >= 0.0 {
        Ok(value)
    } else {
        Err(format!(
            "{value} is not a number of seconds (finite, not negative)"
        ))
    }
}

struct SecondsVisitor;

impl Visitor<'_> for SecondsVisitor {
    type Value = f64;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("seconds as a number, or a duration such as \"30s\" or \"500ms\"")
    }

    fn visit_f64<E: de::Error>(self, value: f64) -> Result<f64, E> {
        finite_seconds(value).map_err(E::custom)
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<f64, E> {
        #[allow(clippy::cast_precision_loss)] // a day is far below 2^52
        Ok(value as f64)
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<f64, E> {
        #[allow(clippy::cast_precision_loss)]
        finite_seconds(value as f64).map_err(E::custom)
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<f64, E> {
        parse_seconds(value).map_err(E::custom)
    }
}

struct BytesVisitor;

impl Visitor<'_> for BytesVisitor {
    type Value = usize;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("bytes as an integer, or a size such as \"256MiB\"")
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<usize, E> {
        usize::try_from(value).map_err(|_| E::custom(format!("{value} bytes is too large")))
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<usize, E> {
        u64::try_from(value)
            .map_err(|_| E::custom(format!("{value} is not a number of bytes (negative)")))
            .and_then(|value| self.visit_u64(value))
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<usize, E> {
        parse_bytes(value).map_err(E::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_take_numbers_and_human_units() {
        assert_eq!(parse_seconds("30"), Ok(30.0));
        assert_eq!(parse_seconds("0.5"), Ok(0.5));
        assert_eq!(parse_seconds("30s"), Ok(30.0));
        assert_eq!(parse_seconds("500ms"), Ok(0.5));
        assert_eq!(parse_seconds("2h"), Ok(7200.0));
        assert_eq!(parse_seconds("1m 30s"), Ok(90.0));
        for bad in ["-1", "nan", "inf", "30 parsecs", ""] {
            assert!(parse_seconds(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn sizes_take_integers_and_human_units() {
        assert_eq!(parse_bytes("4096"), Ok(4096));
        assert_eq!(parse_bytes("256MiB"), Ok(256 << 20));
        assert_eq!(parse_bytes("1 GB"), Ok(1_000_000_000));
        assert_eq!(parse_bytes("64KiB"), Ok(64 << 10));
        for bad in ["-1", "lots", "12 parsecs", ""] {
            assert!(parse_bytes(bad).is_err(), "{bad}");
        }
    }
}
