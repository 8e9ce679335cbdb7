//! Retention rules of the disk tier: per broadcast prefix, how long and how many bytes past
//! groups are kept (`[[cache.disk]]`). The longest matching prefix wins; a broadcast no rule
//! covers is not archived.

use std::time::Duration;

use bytesize::ByteSize;
use moql_model::Path;

use crate::config::DiskRuleConfig;
use crate::error::RelayError;

/// One parsed `[[cache.disk]]` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Rule {
    /// Broadcasts under this path (whole segments: `live` covers `live/a`, not `lively`).
    pub(crate) prefix: Path,
    /// A group is deleted once it was recorded this long ago.
    pub(crate) max_age: Duration,
    /// The groups of every broadcast under `prefix` together stay under this many bytes (file
    /// sizes); the oldest go first.
    pub(crate) max_bytes: u64,
}

/// The rules, in configuration order; a rule is named by its index.
#[derive(Clone, Debug, Default)]
pub(crate) struct Rules(Vec<Rule>);

impl Rules {
    /// Parses the configured rules: `max_age` in `humantime` syntax (`90s`, `2h`, `1day`),
    /// `max_bytes` in `bytesize` syntax (`512MiB`, `20GiB`, `1 GB`).
    ///
    /// # Errors
    ///
    /// [`RelayError::Config`] for an unparsable or zero value, or a prefix given twice.
    pub(crate) fn parse(configs: &[DiskRuleConfig]) -> Result<Self, RelayError> {
        let mut rules: Vec<Rule> = Vec::with_capacity(configs.len());
        for config in configs {
            let bad = |what: &str, err: &dyn std::fmt::Display| {
                RelayError::Config(format!(
                    "cache.disk prefix {:?}: bad {what}: {err}",
                    config.prefix
                ))
            };
            let prefix = Path::new(&config.prefix).map_err(|err| bad("prefix", &err))?;
            let max_age =
                humantime::parse_duration(&config.max_age).map_err(|err| bad("max_age", &err))?;
            let max_bytes = config
                .max_bytes
                .parse::<ByteSize>()
                .map_err(|err| bad("max_bytes", &err))?
                .as_u64();
            if max_age.is_zero() || max_bytes == 0 {
                return Err(bad("bound", &"max_age and max_bytes must be above 0"));
            }
            if rules.iter().any(|rule| rule.prefix == prefix) {
                return Err(bad("prefix", &"given twice"));
            }
            rules.push(Rule {
                prefix,
                max_age,
                max_bytes,
            });
        }
        Ok(Self(rules))
    }

    /// The rule for `broadcast`: the longest prefix that covers it.
    pub(crate) fn find(&self, broadcast: &Path) -> Option<usize> {
        self.0
            .iter()
            .enumerate()
            .filter(|(_, rule)| broadcast.has_prefix(&rule.prefix))
            .max_by_key(|(_, rule)| rule.prefix.segment_count())
            .map(|(index, _)| index)
    }

    /// Rule `index`.
    pub(crate) fn get(&self, index: usize) -> Option<&Rule> {
        self.0.get(index)
    }

    /// How many rules there are.
    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }

    /// True when no rule is configured (nothing is archived).
    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(prefix: &str, max_age: &str, max_bytes: &str) -> DiskRuleConfig {
        DiskRuleConfig {
            prefix: prefix.into(),
            max_age: max_age.into(),
            max_bytes: max_bytes.into(),
        }
    }

    fn path(p: &str) -> Path {
        Path::new(p).unwrap()
    }

    #[test]
    fn values_parse_in_human_units() {
        let rules = Rules::parse(&[config("live/", "2h", "20GiB")]).unwrap();
        let rule = rules.get(0).unwrap();
        assert_eq!(rule.prefix, path("live"));
        assert_eq!(rule.max_age, Duration::from_secs(7200));
        assert_eq!(rule.max_bytes, 20 * 1024 * 1024 * 1024);
        let rules = Rules::parse(&[config("", "90s", "1 MB")]).unwrap();
        assert_eq!(rules.get(0).unwrap().max_bytes, 1_000_000);
    }

    #[test]
    fn the_longest_prefix_wins_on_whole_segments() {
        let rules = Rules::parse(&[
            config("", "1m", "1MiB"),
            config("live", "1h", "1GiB"),
            config("live/vip", "1d", "10GiB"),
        ])
        .unwrap();
        assert_eq!(rules.find(&path("live/vip/cam")), Some(2));
        assert_eq!(rules.find(&path("live/a")), Some(1));
        assert_eq!(rules.find(&path("lively")), Some(0));
        let only = Rules::parse(&[config("live", "1h", "1GiB")]).unwrap();
        assert_eq!(only.find(&path("vod/a")), None, "no rule: not archived");
    }

    #[test]
    fn bad_values_are_refused_with_the_prefix_named() {
        for bad in [
            config("live", "soon", "1GiB"),
            config("live", "1h", "lots"),
            config("live", "0s", "1GiB"),
            config("live", "1h", "0B"),
        ] {
            let err = Rules::parse(&[bad]).unwrap_err().to_string();
            assert!(err.contains("\"live\""), "{err}");
        }
        let twice = [config("a", "1h", "1GiB"), config("a/", "2h", "1GiB")];
        assert!(Rules::parse(&twice).is_err());
    }
}
