//! The layered loader: precedence, the environment mapping for every key, units, and errors
//! that name the key and its source.

use std::io::Write as _;

use super::{ConfigSources, RelayConfig, parse_setting};

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
        .collect()
}

fn flags(settings: &[&str]) -> Vec<(String, toml::Value)> {
    settings.iter().map(|s| parse_setting(s).unwrap()).collect()
}

fn file(text: &str) -> tempfile::NamedTempFile {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(text.as_bytes()).unwrap();
    file
}

fn load(sources: &ConfigSources) -> Result<RelayConfig, String> {
    RelayConfig::from_sources(sources).map_err(|err| err.to_string())
}

fn env_only(pairs: &[(&str, &str)]) -> Result<RelayConfig, String> {
    load(&ConfigSources {
        env: env(pairs),
        ..ConfigSources::default()
    })
}

#[test]
fn flags_override_the_environment_which_overrides_the_file() {
    let toml = file(
        "bind = \"127.0.0.1:1000\"\nlog = \"debug\"\ndrain_seconds = 1\n[cache]\nmax_latency_seconds = 3\n",
    );
    let config = load(&ConfigSources {
        file: Some(toml.path().to_path_buf()),
        env: env(&[
            ("MOQL_RELAY_BIND", "127.0.0.1:2000"),
            ("MOQL_RELAY_LOG", "trace"),
            ("PATH", "/bin"),
        ]),
        flags: flags(&["bind=127.0.0.1:3000"]),
    })
    .unwrap();
    assert_eq!(config.bind.port(), 3000, "the flag wins");
    assert_eq!(config.log, "trace", "the environment beats the file");
    assert_eq!(config.drain_seconds, 1.0, "the file beats the default");
    assert_eq!(config.cache.max_latency_seconds, Some(3.0));
    assert_eq!(config.limits.max_sessions, 10_000, "the default stays");
}

#[test]
fn nested_list_bool_duration_and_size_values_come_from_the_environment() {
    let config = env_only(&[
        ("MOQL_RELAY_HTTP", "false"),
        ("MOQL_RELAY_CACHE__MAX_LATENCY_SECONDS", "1m 30s"),
        ("MOQL_RELAY_LIMITS__CACHE_TOTAL_BYTES", "256MiB"),
        ("MOQL_RELAY_LIMITS__IDLE_TIMEOUT_SECONDS", "500ms"),
        ("MOQL_RELAY_LIMITS__MAX_SESSIONS", "7"),
        ("MOQL_RELAY_CLUSTER__PEERS", r#"["moql://a:1/", "moql://b:2/"]"#),
        ("MOQL_RELAY_CLUSTER__NODE", r#""7""#),
        ("MOQL_RELAY_TLS__GENERATE", r#"["relay.test"]"#),
        (
            "MOQL_RELAY_AUTH__KEYS",
            r#"[{ alg = "HS256", secret = "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA", kid = "k1" }]"#,
        ),
        (
            "MOQL_RELAY_CACHE__DISK",
            r#"[{ prefix = "live/", max_age = "2h", max_bytes = "1GiB" }]"#,
        ),
    ])
    .unwrap();
    assert!(!config.http);
    assert_eq!(config.cache.max_latency_seconds, Some(90.0));
    assert_eq!(config.limits.cache_total_bytes, 256 << 20);
    assert_eq!(config.limits.idle_timeout_seconds, 0.5);
    assert_eq!(config.limits.max_sessions, 7);
    assert_eq!(config.cluster.peers, ["moql://a:1/", "moql://b:2/"]);
    assert_eq!(config.cluster.node.as_deref(), Some("7"));
    assert_eq!(config.tls.generate, ["relay.test"]);
    assert_eq!(config.auth.keys.len(), 1);
    assert_eq!(config.auth.keys[0].kid(), Some("k1"));
    assert_eq!(config.cache.disk[0].prefix, "live/");
}

/// The leaf keys of the configuration, found from the deserializer itself (an unknown key's
/// error lists the known ones), so a field added later is covered without editing this test.
fn every_key() -> Vec<String> {
    fn known(prefix: &str) -> Vec<String> {
        let name = format!("MOQL_RELAY_{}NO_SUCH_KEY", prefix.to_ascii_uppercase());
        let err = RelayConfig::from_sources(&ConfigSources {
            env: vec![(name, "1".into())],
            ..ConfigSources::default()
        })
        .unwrap_err()
        .to_string();
        let (_, list) = err
            .split_once("the keys here are: ")
            .unwrap_or_else(|| panic!("{err}"));
        let (list, _) = list.split_once(" (").unwrap_or((list, ""));
        list.split(", ").map(str::to_string).collect()
    }
    let mut keys = Vec::new();
    for top in known("") {
        // A section answers a nested unknown key with its own list; a leaf with a type error.
        let name = format!("MOQL_RELAY_{}__NO_SUCH_KEY", top.to_ascii_uppercase());
        let probe = RelayConfig::from_sources(&ConfigSources {
            env: vec![(name, "1".into())],
            ..ConfigSources::default()
        });
        match probe {
            Err(err) if err.to_string().contains("unknown key") => {
                let section = format!("{}__", top.to_ascii_uppercase());
                keys.extend(known(&section).into_iter().map(|k| format!("{top}.{k}")));
            }
            _ => keys.push(top),
        }
    }
    keys
}

fn env_name(key: &str) -> String {
    format!("MOQL_RELAY_{}", key.replace('.', "__").to_ascii_uppercase())
}

#[test]
fn every_key_has_an_environment_variable_and_a_flag() {
    let keys = every_key();
    assert!(keys.len() > 30, "{keys:?}");
    assert!(keys.contains(&"limits.http_fetch_timeout_seconds".to_string()));
    for key in &keys {
        // A value no key accepts (a table): the error must be about this key's type, naming
        // the variable, which shows the variable reached the key.
        let name = env_name(key);
        let err = env_only(&[(&name, "{ x = 1 }")]).expect_err(key);
        assert!(!err.contains("unknown key"), "{name}: {err}");
        assert!(err.contains(key.as_str()) && err.contains(&name), "{err}");
        let err = load(&ConfigSources {
            flags: flags(&[&format!("{key}={{ x = 1 }}")]),
            ..ConfigSources::default()
        })
        .expect_err(key);
        assert!(
            err.contains(key.as_str()) && err.contains("command line"),
            "{err}"
        );
    }
}

#[test]
fn every_seconds_and_bytes_key_takes_human_units() {
    let keys = every_key();
    let durations: Vec<_> = keys.iter().filter(|k| k.ends_with("_seconds")).collect();
    let sizes: Vec<_> = keys.iter().filter(|k| k.ends_with("_bytes")).collect();
    assert!(durations.len() >= 10 && sizes.len() >= 4, "{keys:?}");
    for key in durations {
        for value in ["1500ms", "1.5", "2"] {
            env_only(&[(&env_name(key), value)]).unwrap_or_else(|e| panic!("{key}={value}: {e}"));
        }
        let err = env_only(&[(&env_name(key), "soon")]).expect_err(key);
        assert!(
            err.contains("not a duration") && err.contains(key.as_str()),
            "{err}"
        );
    }
    for key in sizes {
        for value in ["64KiB", "1 MB", "4096"] {
            env_only(&[(&env_name(key), value)]).unwrap_or_else(|e| panic!("{key}={value}: {e}"));
        }
        let err = env_only(&[(&env_name(key), "lots")]).expect_err(key);
        assert!(
            err.contains("not a size") && err.contains(key.as_str()),
            "{err}"
        );
    }
    let config = RelayConfig::parse(
        "drain_seconds = \"1500ms\"\n[limits]\ncache_track_bytes = \"1MiB\"\nsetup_timeout_seconds = 3\n",
    )
    .unwrap();
    assert_eq!(config.drain_seconds, 1.5);
    assert_eq!(config.limits.cache_track_bytes, 1 << 20);
    assert_eq!(config.limits.setup_timeout_seconds, 3.0);
}

#[test]
fn a_misspelt_variable_is_an_error_naming_it() {
    let err = env_only(&[("MOQL_RELAY_CACHE__MAX_LATENCY", "10s")]).unwrap_err();
    assert!(
        err.contains("MOQL_RELAY_CACHE__MAX_LATENCY") && err.contains("unknown key"),
        "{err}"
    );
    let err = env_only(&[("MOQL_RELAY_CACHE_MAX_LATENCY_SECONDS", "10s")]).unwrap_err();
    assert!(
        err.contains("MOQL_RELAY_CACHE_MAX_LATENCY_SECONDS"),
        "{err}"
    );
    let err = env_only(&[("MOQL_RELAY_CACHE__", "1")]).unwrap_err();
    assert!(err.contains("names no key"), "{err}");
    // The config file's own variable is not a setting.
    env_only(&[("MOQL_RELAY_CONFIG", "/nonexistent")]).unwrap();
}

#[test]
fn bad_values_are_one_line_errors_naming_key_and_source() {
    let toml = file("[limits]\nmax_sessions = \"many\"\n");
    let from_file = load(&ConfigSources {
        file: Some(toml.path().to_path_buf()),
        ..ConfigSources::default()
    })
    .unwrap_err();
    let cases = [
        (from_file, "limits.max_sessions", "file "),
        (
            env_only(&[("MOQL_RELAY_BIND", "not-an-address")]).unwrap_err(),
            "bind",
            "environment variable MOQL_RELAY_BIND",
        ),
        (
            env_only(&[("MOQL_RELAY_DRAIN_SECONDS", "2h")]).unwrap_err(),
            "drain_seconds",
            "environment variable MOQL_RELAY_DRAIN_SECONDS",
        ),
        (
            load(&ConfigSources {
                flags: flags(&["limits.idle_timeout_seconds=-3"]),
                ..ConfigSources::default()
            })
            .unwrap_err(),
            "limits.idle_timeout_seconds",
            "command line",
        ),
    ];
    for (err, key, source) in cases {
        assert!(err.contains(key) && err.contains(source), "{err}");
        assert!(!err.contains('\n'), "one line: {err}");
    }
    let syntax = file("[limits\nmax_sessions = 1\n");
    let err = load(&ConfigSources {
        file: Some(syntax.path().to_path_buf()),
        ..ConfigSources::default()
    })
    .unwrap_err();
    assert!(err.contains("line 1") && !err.contains('\n'), "{err}");
    let missing = load(&ConfigSources {
        file: Some("/nonexistent/relay.toml".into()),
        ..ConfigSources::default()
    })
    .unwrap_err();
    assert!(missing.contains("/nonexistent/relay.toml"), "{missing}");
}

#[test]
fn set_needs_a_key_and_an_equals_sign() {
    assert!(parse_setting("bind").is_err());
    assert!(parse_setting("=1").is_err());
    assert!(parse_setting("cache..x=1").is_err());
    let (key, value) = parse_setting("log=moql_session=debug").unwrap();
    assert_eq!(key, "log");
    assert_eq!(value.as_str(), Some("moql_session=debug"));
}
