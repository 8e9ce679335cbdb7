//! Unit tests of JWK keys, key files and their reload, the claim forms both relays use, and
//! the public rules.

use std::path::{Path as FsPath, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::Algorithm;
use moql_wire::Path;

use super::*;

/// A fixed "now": 2026-01-01T00:00:00Z.
const NOW: u64 = 1_767_225_600;

/// Made by the released reference CLI (moq 0.14.10): `moq auth generate --algorithm EdDSA
/// --id ref-ed --public …` (the public key file, base64url of the JWK JSON, as it writes it)
/// and `moq auth sign --root demo --publish 'alice/**' --subscribe '**' --expires
/// 4102444800` with the private half.
const REF_ED_PUBLIC: &str = "eyJhbGciOiJFZERTQSIsImtleV9vcHMiOlsidmVyaWZ5Il0sImt0eSI6Ik9LUCIsImNydiI6IkVkMjU1MTkiLCJ4IjoiYkx6ZlNrQ2J3V0FZblFpVmppX2wtWkw1eDZmZjBmZklnQk1CMnk0MFlnRSIsImtpZCI6InJlZi1lZCJ9";
const REF_ED_TOKEN: &str = "eyJ0eXAiOiJKV1QiLCJhbGciOiJFZERTQSIsImtpZCI6InJlZi1lZCJ9.eyJyb290IjoiZGVtbyIsInB1dCI6WyJhbGljZSJdLCJnZXQiOlsiIl0sImV4cCI6NDEwMjQ0NDgwMH0.GBjo1ftWiLEJElHiBdtrUSdAmvBObbR1dWo2xZ8Twiphcd3wkyGI4Cqzu-iq893DcL7nGy9wWwIzI6YiqbjoDw";
/// The same with `moq auth generate --algorithm HS256 --id ref-hs` (a test-only secret), a
/// token as above, and one granting the exact broadcast `alice` (`--publish alice`).
const REF_HS_KEY: &str = "eyJhbGciOiJIUzI1NiIsImtleV9vcHMiOlsidmVyaWZ5Iiwic2lnbiJdLCJrdHkiOiJvY3QiLCJrIjoiX2ctd1BERW5qRThRSzZvTGVuS2tCTGhFUU9ETDBIdDdUSlI5aGMzZzl6SSIsImtpZCI6InJlZi1ocyJ9";
const REF_HS_TOKEN: &str = "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiIsImtpZCI6InJlZi1ocyJ9.eyJyb290IjoiZGVtbyIsInB1dCI6WyJhbGljZSJdLCJnZXQiOlsiIl0sImV4cCI6NDEwMjQ0NDgwMH0.qIN52SMXpl83rmNrIG3igI3yaUe4w8UD9N_xFy_pXZY";
const REF_HS_EXACT_TOKEN: &str = "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiIsImtpZCI6InJlZi1ocyJ9.eyJyb290IjoiZGVtbyIsInB1Ymxpc2giOlsiYWxpY2UiXSwiZXhwIjo0MTAyNDQ0ODAwfQ.RWV67e51zKCy87Wt_ezLNAuYoHiDbB4X4gkgHV9ISro";

fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(NOW)
}

fn p(s: &str) -> Path {
    Path::new(s).unwrap()
}

fn claims(root: &str, publish: &[&str], subscribe: &[&str]) -> Claims {
    Claims {
        root: root.into(),
        publish: publish.iter().map(|s| s.to_string()).collect(),
        subscribe: subscribe.iter().map(|s| s.to_string()).collect(),
        exp: NOW + 3600,
        iat: Some(NOW),
        nbf: None,
    }
}

fn write(dir: &FsPath, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn jwk_auth(files: Vec<PathBuf>) -> Result<Auth, AuthError> {
    Auth::new(&AuthConfig {
        jwk_files: files,
        ..AuthConfig::default()
    })
}

fn sign_jwk(jwk: &Jwk, claims: &Claims) -> String {
    sign(claims, &SigningKey::Jwk(Box::new(jwk.clone())), None).unwrap()
}

fn decode_json(part: &str) -> serde_json::Value {
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

/// Before: tokens carried `pub`, a claim the reference's verifier refuses as unknown.
#[test]
fn tokens_carry_only_claims_both_relays_accept() {
    let jwk = generate_jwk(Algorithm::HS256, Some("k".into())).unwrap();
    let token = sign_jwk(&jwk, &claims("room", &["alice"], &[""]));
    let parts: Vec<&str> = token.split('.').collect();
    let payload = decode_json(parts[1]);
    assert_eq!(
        payload,
        serde_json::json!({"root": "room", "put": ["alice"], "get": [""], "exp": NOW + 3600, "iat": NOW})
    );
    assert_eq!(
        decode_json(parts[0])["kid"],
        "k",
        "the JWK's kid is in the header"
    );
}

#[test]
fn the_reference_claim_forms_are_read_with_their_meaning() {
    let read = |json: &str| serde_json::from_str::<Claims>(json);
    // Its prefixes, with `sub` as the registered subject (read and ignored), and `iss`/`jti`.
    let legacy =
        read(r#"{"root":"r","put":"a","get":[""],"sub":"user-7","iss":"x","jti":"1","exp":5}"#)
            .unwrap();
    assert_eq!(
        (legacy.publish, legacy.subscribe),
        (vec!["a".to_string()], vec![String::new()])
    );
    // Its patterns: subtrees become prefixes.
    let patterns = read(r#"{"publish":["a/b/**"],"subscribe":["**"],"exp":5}"#).unwrap();
    assert_eq!(patterns.publish, vec!["a/b".to_string()]);
    assert_eq!(patterns.subscribe, vec![String::new()]);
    // Ours: `sub` is subscribe prefixes.
    let ours = read(r#"{"pub":"a","sub":["b"],"exp":5}"#).unwrap();
    assert_eq!(
        (ours.publish, ours.subscribe),
        (vec!["a".to_string()], vec!["b".to_string()])
    );
    for refused in [
        // A pattern a prefix cannot say would be widened: refused instead.
        r#"{"publish":["alice"],"exp":5}"#,
        r#"{"subscribe":["*/chat"],"exp":5}"#,
        r#"{"subscribe":["a/*/**"],"exp":5}"#,
        // One document, one form.
        r#"{"put":["a"],"subscribe":["**"],"exp":5}"#,
        r#"{"pub":["a"],"get":["b"],"exp":5}"#,
        // `null` is not absence.
        r#"{"put":null,"publish":["a/**"],"exp":5}"#,
        // Ours still requires exp.
        r#"{"put":["a"]}"#,
    ] {
        assert!(read(refused).is_err(), "{refused}");
    }
}

/// Before: the relay read no JWKs and knew no EdDSA.
#[test]
fn jwk_keys_of_each_algorithm_sign_and_verify_from_files() {
    let dir = tempfile::tempdir().unwrap();
    for algorithm in [Algorithm::HS256, Algorithm::ES256, Algorithm::EdDSA] {
        let private = generate_jwk(algorithm, Some("k1".into())).unwrap();
        assert!(private.is_private());
        // HS256 has no public half: the relay holds the secret itself.
        let relay_key = private.to_public().unwrap_or_else(|_| private.clone());
        let file = write(
            dir.path(),
            &format!("{algorithm:?}.jwk"),
            &serde_json::to_string(&relay_key).unwrap(),
        );
        let auth = jwk_auth(vec![file]).unwrap();
        let token = sign_jwk(&private, &claims("room", &["alice"], &[""]));
        let grant = auth
            .authorize_at(&format!("/room?jwt={token}"), now())
            .unwrap_or_else(|err| panic!("{algorithm:?}: {err}"));
        assert_eq!(grant.publish, vec![p("alice")], "{algorithm:?}");
        // A public key cannot sign.
        if algorithm != Algorithm::HS256 {
            let public = SigningKey::Jwk(Box::new(relay_key));
            assert!(matches!(
                sign(&claims("", &[""], &[]), &public, None),
                Err(AuthError::Key(_))
            ));
        }
    }
}

#[test]
fn a_jwk_set_picks_the_key_by_kid() {
    let dir = tempfile::tempdir().unwrap();
    let old = generate_jwk(Algorithm::ES256, Some("old".into())).unwrap();
    let new = generate_jwk(Algorithm::EdDSA, Some("new".into())).unwrap();
    let set = serde_json::json!({"keys": [old.to_public().unwrap(), new.to_public().unwrap()]});
    let auth = jwk_auth(vec![write(dir.path(), "set.json", &set.to_string())]).unwrap();
    let all = claims("", &[""], &[""]);
    for key in [&old, &new] {
        let token = sign_jwk(key, &all);
        assert!(auth.authorize_at(&format!("/?jwt={token}"), now()).is_ok());
    }
    // The header's kid picks the key: `old`'s signature under the kid `new` is refused.
    let token = sign(&all, &SigningKey::Jwk(Box::new(old.clone())), Some("new")).unwrap();
    assert_eq!(
        auth.authorize_at(&format!("/?jwt={token}"), now()),
        Err(AuthError::WrongAlgorithm)
    );
    let stranger = generate_jwk(Algorithm::ES256, Some("gone".into())).unwrap();
    let token = sign_jwk(&stranger, &all);
    assert!(matches!(
        auth.authorize_at(&format!("/?jwt={token}"), now()),
        Err(AuthError::Invalid(msg)) if msg.contains("unknown key id")
    ));
}

/// Keys and tokens the released reference CLI made verify here, and grant what they grant
/// there (`put: alice` = `alice/**`).
#[test]
fn keys_and_tokens_from_the_reference_cli_are_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let auth = jwk_auth(vec![
        write(dir.path(), "ed.pub", REF_ED_PUBLIC),
        write(dir.path(), "hs.key", REF_HS_KEY),
    ])
    .unwrap();
    for token in [REF_ED_TOKEN, REF_HS_TOKEN] {
        let grant = auth
            .authorize_at(&format!("/demo?jwt={token}"), now())
            .unwrap();
        assert_eq!(
            (grant.publish, grant.subscribe),
            (vec![p("alice")], vec![Path::root()])
        );
    }
    // An exact-broadcast grant is refused rather than widened to a prefix.
    assert!(matches!(
        auth.authorize_at(&format!("/demo?jwt={REF_HS_EXACT_TOKEN}"), now()),
        Err(AuthError::Invalid(_))
    ));
    // Our signer with their private key makes tokens we accept (their verifier too: the
    // field interop suite).
    let key = SigningKey::from_text(REF_HS_KEY).unwrap();
    let token = sign(&claims("demo", &[], &[""]), &key, None).unwrap();
    assert!(
        auth.authorize_at(&format!("/demo?jwt={token}"), now())
            .is_ok()
    );
}

/// Before: keys were read once at start; rotating one needed a restart.
#[test]
fn a_changed_key_file_is_reloaded_and_a_broken_one_keeps_the_old_keys() {
    let dir = tempfile::tempdir().unwrap();
    let first = generate_jwk(Algorithm::ES256, Some("a".into())).unwrap();
    let second = generate_jwk(Algorithm::ES256, Some("b".into())).unwrap();
    let public = |jwk: &Jwk| serde_json::to_string(&jwk.to_public().unwrap()).unwrap();
    let file = write(dir.path(), "keys.jwk", &public(&first));
    let config = AuthConfig {
        jwk_files: vec![file.clone()],
        ..AuthConfig::default()
    };
    let auth = Auth::with_reload_interval(&config, Duration::ZERO).unwrap();
    let shared = auth.clone();
    let all = claims("", &[""], &[""]);
    let (one, two) = (sign_jwk(&first, &all), sign_jwk(&second, &all));
    let accepts = |token: &str| {
        shared
            .authorize_at(&format!("/?jwt={token}"), now())
            .is_ok()
    };
    assert!(accepts(&one) && !accepts(&two));

    // Rotate: a longer file (a set), so the change shows even within one mtime tick.
    let set = format!("{{\"keys\": [{}, {}]}}", public(&second), public(&first));
    std::fs::write(&file, set).unwrap();
    assert!(accepts(&two) && accepts(&one), "a clone sees the reload");
    std::fs::write(&file, public(&second)).unwrap();
    assert!(accepts(&two) && !accepts(&one), "the retired key is gone");

    // A half-written file: the keys stay.
    std::fs::write(&file, "{\"kty\": ").unwrap();
    assert!(accepts(&two));
}

#[test]
fn an_hs256_secret_comes_from_exactly_one_of_file_env_or_inline() {
    let dir = tempfile::tempdir().unwrap();
    let secret = generate_hs256_secret();
    let file = write(dir.path(), "secret", &format!("{secret}\n"));
    let from_file = KeyConfig::Hs256 {
        secret: None,
        secret_file: Some(file.clone()),
        secret_env: None,
        kid: None,
    };
    let auth = Auth::new(&AuthConfig {
        keys: vec![from_file],
        ..AuthConfig::default()
    })
    .unwrap();
    let token = sign(&claims("", &[""], &[]), &SigningKey::Hs256 { secret }, None).unwrap();
    assert!(auth.authorize_at(&format!("/?jwt={token}"), now()).is_ok());

    let none = KeyConfig::Hs256 {
        secret: None,
        secret_file: None,
        secret_env: None,
        kid: None,
    };
    let two = KeyConfig::Hs256 {
        secret: Some(generate_hs256_secret()),
        secret_file: Some(file),
        secret_env: None,
        kid: None,
    };
    let unset = KeyConfig::Hs256 {
        secret: None,
        secret_file: None,
        secret_env: Some("MOQL_TEST_SURELY_UNSET_VARIABLE".into()),
        kid: None,
    };
    for key in [none, two, unset] {
        let result = Auth::new(&AuthConfig {
            keys: vec![key.clone()],
            ..AuthConfig::default()
        });
        assert!(matches!(result, Err(AuthError::Key(_))), "{key:?}");
    }
    let toml = "[[keys]]\nalg = \"HS256\"\nsecret_env = \"RELAY_SECRET\"\nkid = \"k\"\n";
    let parsed: AuthConfig = toml::from_str(toml).unwrap();
    assert!(
        matches!(&parsed.keys[0], KeyConfig::Hs256 { secret_env: Some(name), .. } if name == "RELAY_SECRET")
    );
}

#[test]
fn bad_jwks_are_refused_when_loaded() {
    let dir = tempfile::tempdir().unwrap();
    let good = generate_jwk(Algorithm::ES256, None)
        .unwrap()
        .to_public()
        .unwrap();
    let mut value = serde_json::to_value(&good).unwrap();
    let mut cases = Vec::new();
    for (member, bad) in [
        ("alg", serde_json::json!("HS256")),
        ("crv", serde_json::json!("P-384")),
        ("x", serde_json::json!("AAAA")),
        ("scope", serde_json::json!({"put": ["a"]})),
    ] {
        let mut broken = value.clone();
        broken[member] = bad;
        cases.push(broken.to_string());
    }
    // A point that is not on the curve.
    value["y"] = serde_json::json!(URL_SAFE_NO_PAD.encode([7u8; 32]));
    cases.push(value.to_string());
    cases.push(r#"{"kty":"oct","k":"c2hvcnQ"}"#.into());
    cases.push("not a key".into());
    for (i, text) in cases.iter().enumerate() {
        let file = write(dir.path(), &format!("{i}.jwk"), text);
        assert!(
            matches!(jwk_auth(vec![file]), Err(AuthError::Key(_))),
            "{text}"
        );
    }
    // Two keys with one kid.
    let a = generate_jwk(Algorithm::EdDSA, Some("same".into()))
        .unwrap()
        .to_public()
        .unwrap();
    let b = generate_jwk(Algorithm::EdDSA, Some("same".into()))
        .unwrap()
        .to_public()
        .unwrap();
    let set = serde_json::json!({"keys": [a, b]}).to_string();
    assert!(jwk_auth(vec![write(dir.path(), "dup.jwk", &set)]).is_err());
}

/// Before: anonymous sessions got full rights under one prefix; now subscribe and publish
/// prefixes are separate.
#[test]
fn public_rules_grant_subscribe_and_publish_separately() {
    let text = "[public]\nsubscribe = [\"live\", \"lobby\"]\npublish = [\"cams\", \"lobby\"]\n";
    let config: AuthConfig = toml::from_str(text).unwrap();
    let auth = Auth::new(&config).unwrap();
    let grant = |path: &str| auth.authorize_at(path, now());
    let watch = grant("/live/match").unwrap();
    assert_eq!(
        (watch.subscribe, watch.publish),
        (vec![Path::root()], vec![])
    );
    let cam = grant("/cams").unwrap();
    assert_eq!((cam.subscribe, cam.publish), (vec![], vec![Path::root()]));
    assert_eq!(grant("/lobby/x").unwrap(), Grant::full(p("lobby/x")));
    assert_eq!(grant("/"), Err(AuthError::Missing));
    assert_eq!(grant("/lively"), Err(AuthError::Missing));

    // The string shorthand still means both (the flags are tested in main.rs).
    let shorthand: AuthConfig = toml::from_str("public = \"anon\"\n").unwrap();
    assert_eq!(shorthand.public, Some("anon".into()));
    assert!(!config.is_wide_open());
    let open: AuthConfig = toml::from_str("public = \"\"\n").unwrap();
    assert!(open.is_wide_open());
    assert!(toml::from_str::<AuthConfig>("[public]\nsubscribe = [\"a\"]\npublsh = []\n").is_err());
}
