//! Unit tests of token verification, grants and the key tools.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use moql_wire::Path;

use super::scope::{Target, narrow};
use super::*;

/// A fixed "now": 2026-01-01T00:00:00Z.
const NOW: u64 = 1_767_225_600;

fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(NOW)
}

fn p(s: &str) -> Path {
    Path::new(s).unwrap()
}

fn paths(list: &[&str]) -> Vec<Path> {
    list.iter().map(|s| p(s)).collect()
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

struct Hs {
    secret: String,
    auth: Auth,
}

fn hs256(kid: Option<&str>) -> Hs {
    let secret = generate_hs256_secret();
    let auth = Auth::new(&AuthConfig {
        keys: vec![KeyConfig::Hs256 {
            secret: Some(secret.clone()),
            secret_file: None,
            secret_env: None,
            kid: kid.map(str::to_string),
        }],
        public: None,
        jwk_files: Vec::new(),
    })
    .unwrap();
    Hs { secret, auth }
}

fn hs_token(secret: &str, kid: Option<&str>, claims: &Claims) -> String {
    let key = SigningKey::Hs256 {
        secret: secret.into(),
    };
    sign(claims, &key, kid).unwrap()
}

/// A token with a hand-made header and payload and the given signature part.
fn raw_token(header: &str, payload: &str, signature: &str) -> String {
    format!(
        "{}.{}.{signature}",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(payload)
    )
}

#[test]
fn an_hs256_token_grants_its_claims_at_its_root() {
    let hs = hs256(None);
    let token = hs_token(&hs.secret, None, &claims("room", &["alice"], &[""]));
    let grant = hs
        .auth
        .authorize_at(&format!("/room?jwt={token}"), now())
        .unwrap();
    assert_eq!(grant.root, p("room"));
    assert_eq!(grant.publish, paths(&["alice"]));
    assert_eq!(grant.subscribe, paths(&[""]));
    assert_eq!(grant.expires, Some(now() + Duration::from_secs(3600)));
    assert!(grant.can_publish(&p("alice/cam")));
    assert!(!grant.can_publish(&p("bob")));
    assert!(!grant.can_publish(&p("alicex")), "whole segments only");
    assert!(grant.can_subscribe(&p("bob/cam")));
    assert!(!grant.is_expired(now()));
    assert!(grant.is_expired(now() + Duration::from_secs(3600)));
}

#[test]
fn an_es256_token_from_the_key_tools_round_trips() {
    let (private_pem, public_pem) = generate_es256().unwrap();
    assert!(private_pem.starts_with("-----BEGIN PRIVATE KEY-----\n"));
    assert!(public_pem.starts_with("-----BEGIN PUBLIC KEY-----\n"));
    // What jsonwebtoken's verifier needs, directly.
    jsonwebtoken::DecodingKey::from_ec_pem(public_pem.as_bytes()).unwrap();

    let auth = Auth::new(&AuthConfig {
        keys: vec![KeyConfig::Es256 {
            public_pem,
            kid: None,
        }],
        public: None,
        jwk_files: Vec::new(),
    })
    .unwrap();
    let key = SigningKey::Es256 { private_pem };
    let token = sign(&claims("", &[""], &[""]), &key, None).unwrap();
    let grant = auth.authorize_at(&format!("/?jwt={token}"), now()).unwrap();
    assert_eq!(grant.root, Path::root());
    assert_eq!(grant.publish, paths(&[""]));

    // Signed by another key pair: a bad signature.
    let (other, _) = generate_es256().unwrap();
    let key = SigningKey::Es256 { private_pem: other };
    let token = sign(&claims("", &[""], &[""]), &key, None).unwrap();
    assert_eq!(
        auth.authorize_at(&format!("/?jwt={token}"), now()),
        Err(AuthError::Invalid("bad signature".into()))
    );
}

#[test]
fn an_es256_public_key_is_read_from_a_file_path() {
    let (private_pem, public_pem) = generate_es256().unwrap();
    let file = std::env::temp_dir().join(format!("moql-auth-test-{}.pem", std::process::id()));
    std::fs::write(&file, public_pem).unwrap();
    let auth = Auth::new(&AuthConfig {
        keys: vec![KeyConfig::Es256 {
            public_pem: file.display().to_string(),
            kid: None,
        }],
        public: None,
        jwk_files: Vec::new(),
    });
    std::fs::remove_file(&file).unwrap();
    let token = sign(
        &claims("", &[], &[""]),
        &SigningKey::Es256 { private_pem },
        None,
    )
    .unwrap();
    assert!(
        auth.unwrap()
            .authorize_at(&format!("/?jwt={token}"), now())
            .is_ok()
    );
}

#[test]
fn expired_and_not_yet_valid_tokens_are_refused() {
    let hs = hs256(None);
    let mut expired = claims("", &[""], &[""]);
    expired.exp = NOW;
    let token = hs_token(&hs.secret, None, &expired);
    assert_eq!(
        hs.auth.authorize_at(&format!("/?jwt={token}"), now()),
        Err(AuthError::Expired)
    );
    let mut early = claims("", &[""], &[""]);
    early.nbf = Some(NOW + 1);
    let token = hs_token(&hs.secret, None, &early);
    assert_eq!(
        hs.auth.authorize_at(&format!("/?jwt={token}"), now()),
        Err(AuthError::NotYetValid)
    );
}

#[test]
fn a_token_signed_with_another_secret_is_refused() {
    let hs = hs256(None);
    let other = generate_hs256_secret();
    let token = hs_token(&other, None, &claims("", &[""], &[""]));
    assert_eq!(
        hs.auth.authorize_at(&format!("/?jwt={token}"), now()),
        Err(AuthError::Invalid("bad signature".into()))
    );
}

#[test]
fn alg_none_is_refused() {
    let hs = hs256(None);
    let payload = serde_json::to_string(&claims("", &[""], &[""])).unwrap();
    for header in [r#"{"alg":"none"}"#, r#"{"alg":"None","typ":"JWT"}"#] {
        let token = raw_token(header, &payload, "");
        assert_eq!(
            hs.auth.authorize_at(&format!("/?jwt={token}"), now()),
            Err(AuthError::WrongAlgorithm),
            "{header}"
        );
    }
    // The literal form from the brief: `eyJhbGciOiJub25lIn0` is `{"alg":"none"}`.
    let token = format!("eyJhbGciOiJub25lIn0.{}.", URL_SAFE_NO_PAD.encode(&payload));
    assert_eq!(
        hs.auth.authorize_at(&format!("/?jwt={token}"), now()),
        Err(AuthError::WrongAlgorithm)
    );
}

#[test]
fn a_token_is_only_checked_with_a_key_of_its_own_algorithm() {
    let (_, public_pem) = generate_es256().unwrap();
    let auth = Auth::new(&AuthConfig {
        keys: vec![KeyConfig::Es256 {
            public_pem: public_pem.clone(),
            kid: None,
        }],
        public: None,
        jwk_files: Vec::new(),
    })
    .unwrap();
    // The classic confusion attack: HMAC keyed with the public key's PEM text.
    let forged = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims("", &[""], &[""]),
        &jsonwebtoken::EncodingKey::from_secret(public_pem.as_bytes()),
    )
    .unwrap();
    assert_eq!(
        auth.authorize_at(&format!("/?jwt={forged}"), now()),
        Err(AuthError::WrongAlgorithm)
    );
    // And the reverse: an ES256 token offered to an HS256-only relay.
    let (private_pem, _) = generate_es256().unwrap();
    let es = sign(
        &claims("", &[""], &[""]),
        &SigningKey::Es256 { private_pem },
        None,
    )
    .unwrap();
    assert_eq!(
        hs256(None).auth.authorize_at(&format!("/?jwt={es}"), now()),
        Err(AuthError::WrongAlgorithm)
    );
    // Unsupported algorithms are refused the same way.
    let token = raw_token(r#"{"alg":"RS256"}"#, "{}", "AAAA");
    assert_eq!(
        auth.authorize_at(&format!("/?jwt={token}"), now()),
        Err(AuthError::WrongAlgorithm)
    );
}

#[test]
fn malformed_tokens_are_refused_as_invalid() {
    let hs = hs256(None);
    let good = hs_token(&hs.secret, None, &claims("", &[""], &[""]));
    let (header, rest) = good.split_once('.').unwrap();
    let signature = rest.rsplit_once('.').unwrap().1;
    let cases = [
        "garbage".to_string(),
        "a.b".to_string(),
        "a.b.c.d".to_string(),
        format!("!!!.{rest}"),
        raw_token("not json", "{}", "AAAA"),
        // Valid signature over claims without `exp`.
        hs_token_raw(&hs.secret, r#"{"root":""}"#),
        // Critical header extensions we do not understand (RFC 7515 4.1.11).
        hs_token_with_header(
            &hs.secret,
            r#"{"alg":"HS256","crit":["b64"],"b64":false}"#,
            r#"{"exp":9999999999,"sub":""}"#,
        ),
        // `pub` of the wrong type.
        hs_token_raw(&hs.secret, r#"{"pub":7,"exp":9999999999}"#),
        // Payload swapped under the original signature.
        format!(
            "{header}.{}.{signature}",
            URL_SAFE_NO_PAD.encode(r#"{"root":"","pub":[""],"exp":9999999999}"#)
        ),
    ];
    for token in cases {
        let result = hs.auth.authorize_at(&format!("/?jwt={token}"), now());
        assert!(
            matches!(result, Err(AuthError::Invalid(_))),
            "{token}: {result:?}"
        );
    }
}

/// An HS256 token over an arbitrary JSON payload.
fn hs_token_raw(secret: &str, payload: &str) -> String {
    hs_token_with_header(secret, r#"{"alg":"HS256","typ":"JWT"}"#, payload)
}

/// An HS256 token with an arbitrary header and payload, correctly signed.
fn hs_token_with_header(secret: &str, header: &str, payload: &str) -> String {
    let key = jsonwebtoken::EncodingKey::from_base64_secret(secret).unwrap();
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(payload)
    );
    let signature = jsonwebtoken::crypto::sign(
        signing_input.as_bytes(),
        &key,
        jsonwebtoken::Algorithm::HS256,
    )
    .unwrap();
    format!("{signing_input}.{signature}")
}

#[test]
fn grants_narrow_to_a_deeper_connection_path_and_never_widen() {
    let hs = hs256(None);
    let token = hs_token(
        &hs.secret,
        None,
        &claims("room", &["alice/cam", "bob"], &["", "x"]),
    );
    let grant = hs
        .auth
        .authorize_at(&format!("/room/alice?jwt={token}"), now())
        .unwrap();
    assert_eq!(grant.root, p("room/alice"));
    assert_eq!(grant.publish, paths(&["cam"]));
    assert_eq!(grant.subscribe, paths(&[""]));

    assert_eq!(
        hs.auth.authorize_at(&format!("/other?jwt={token}"), now()),
        Err(AuthError::OutsideRoot)
    );
    assert_eq!(
        hs.auth.authorize_at(&format!("/?jwt={token}"), now()),
        Err(AuthError::OutsideRoot),
        "a token cannot open a session above its root"
    );
    assert_eq!(
        hs.auth.authorize_at(&format!("/roomy?jwt={token}"), now()),
        Err(AuthError::OutsideRoot)
    );

    let publish_only = hs_token(&hs.secret, None, &claims("room", &["alice"], &[]));
    assert_eq!(
        hs.auth
            .authorize_at(&format!("/room/bob?jwt={publish_only}"), now()),
        Err(AuthError::NoGrant)
    );
}

#[test]
fn narrowing_keeps_a_minimal_sorted_set() {
    let all = paths(&["a", "a-b", "a/b", "c/d/e", "c"]);
    assert_eq!(narrow(&all, &Path::root()), paths(&["a", "a-b", "c"]));
    assert_eq!(narrow(&all, &p("c/d")), paths(&[""]));
    assert_eq!(
        narrow(&paths(&["c/d/e", "c/d/f"]), &p("c/d")),
        paths(&["e", "f"])
    );
    assert_eq!(narrow(&all, &p("z")), Vec::<Path>::new());
}

#[test]
fn subscribe_within_scopes_an_announce_prefix() {
    let grant = Grant {
        root: p("room"),
        publish: vec![],
        subscribe: paths(&["alice/cam", "bob"]),
        expires: None,
    };
    assert_eq!(grant.subscribe_within(&p("alice")), paths(&["cam"]));
    assert_eq!(grant.subscribe_within(&p("bob/x")), paths(&[""]));
    assert_eq!(
        grant.subscribe_within(&Path::root()),
        paths(&["alice/cam", "bob"])
    );
    assert!(grant.publish_within(&Path::root()).is_empty());
}

#[test]
fn the_public_prefix_is_open_without_a_token_and_nothing_else_is() {
    let secret = generate_hs256_secret();
    let auth = Auth::new(&AuthConfig {
        keys: vec![KeyConfig::Hs256 {
            secret: Some(secret.clone()),
            secret_file: None,
            secret_env: None,
            kid: None,
        }],
        public: Some("anon".into()),
        jwk_files: Vec::new(),
    })
    .unwrap();
    assert_eq!(
        auth.authorize_at("/anon/demo", now()),
        Ok(Grant::full(p("anon/demo")))
    );
    assert_eq!(
        auth.authorize_at("/anon", now()),
        Ok(Grant::full(p("anon")))
    );
    assert_eq!(
        auth.authorize_at("/anonymous", now()),
        Err(AuthError::Missing)
    );
    assert_eq!(auth.authorize_at("/", now()), Err(AuthError::Missing));
    // A token is judged as a token even under the public prefix.
    let other = hs_token(&generate_hs256_secret(), None, &claims("", &[""], &[""]));
    assert!(matches!(
        auth.authorize_at(&format!("/anon?jwt={other}"), now()),
        Err(AuthError::Invalid(_))
    ));

    let closed = Auth::new(&AuthConfig::default()).unwrap();
    assert_eq!(closed.authorize_at("/anon", now()), Err(AuthError::Missing));
    let open = Auth::new(&AuthConfig {
        keys: vec![],
        public: Some("".into()),
        jwk_files: Vec::new(),
    })
    .unwrap();
    assert_eq!(open.authorize_at("/", now()), Ok(Grant::full(Path::root())));
}

#[test]
fn the_kid_selects_the_key() {
    let (first, second) = (generate_hs256_secret(), generate_hs256_secret());
    let auth = Auth::new(&AuthConfig {
        keys: vec![
            KeyConfig::Hs256 {
                secret: Some(first.clone()),
                secret_file: None,
                secret_env: None,
                kid: Some("one".into()),
            },
            KeyConfig::Hs256 {
                secret: Some(second.clone()),
                secret_file: None,
                secret_env: None,
                kid: Some("two".into()),
            },
        ],
        public: None,
        jwk_files: Vec::new(),
    })
    .unwrap();
    let all = claims("", &[""], &[""]);
    for (secret, kid) in [(&first, "one"), (&second, "two")] {
        let token = hs_token(secret, Some(kid), &all);
        assert!(auth.authorize_at(&format!("/?jwt={token}"), now()).is_ok());
    }
    // Right secret, wrong kid: only the named key is tried.
    let token = hs_token(&first, Some("two"), &all);
    assert_eq!(
        auth.authorize_at(&format!("/?jwt={token}"), now()),
        Err(AuthError::Invalid("bad signature".into()))
    );
    let token = hs_token(&first, Some("three"), &all);
    assert_eq!(
        auth.authorize_at(&format!("/?jwt={token}"), now()),
        Err(AuthError::Invalid("unknown key id \"three\"".into()))
    );
    // Without a kid, every key of the algorithm is tried.
    let token = hs_token(&second, None, &all);
    assert!(auth.authorize_at(&format!("/?jwt={token}"), now()).is_ok());
}

#[test]
fn request_targets_are_percent_decoded() {
    assert_eq!(
        Target::parse("/room%20a//b/?x=1&jwt=a%2Eb.c&y").unwrap(),
        Target {
            path: p("room a/b"),
            jwt: Some("a.b.c".into())
        }
    );
    assert_eq!(
        Target::parse("").unwrap(),
        Target {
            path: Path::root(),
            jwt: None
        }
    );
    for bad in ["/a?jwt=x&jwt=y", "/a?jwt=", "/%zz", "/a%2", "/%+1", "/%ff"] {
        assert!(
            matches!(Target::parse(bad), Err(AuthError::Invalid(_))),
            "{bad}"
        );
    }
}

#[test]
fn claims_accept_one_string_and_the_reference_aliases() {
    let parsed: Claims =
        serde_json::from_str(r#"{"root":"r","put":"a","get":["b","c"],"exp":5}"#).unwrap();
    assert_eq!(parsed.publish, vec!["a".to_string()]);
    assert_eq!(parsed.subscribe, vec!["b".to_string(), "c".to_string()]);
    let json = serde_json::to_value(claims("r", &["a"], &[])).unwrap();
    assert_eq!(
        json,
        serde_json::json!({"root": "r", "put": ["a"], "exp": NOW + 3600, "iat": NOW})
    );
}

#[test]
fn the_toml_key_shape_parses_and_rejects_typos() {
    let secret = generate_hs256_secret();
    let (_, public_pem) = generate_es256().unwrap();
    let text = format!(
        r#"
public = "anon"

[[keys]]
alg = "HS256"
secret = "{secret}"
kid = "main"

[[keys]]
alg = "ES256"
public_pem = """
{public_pem}"""
"#
    );
    let config: AuthConfig = toml::from_str(&text).unwrap();
    assert_eq!(config.public, Some("anon".into()));
    assert_eq!(config.keys[0].kid(), Some("main"));
    assert!(matches!(config.keys[1], KeyConfig::Es256 { kid: None, .. }));
    assert!(Auth::new(&config).is_ok());
    assert!(!format!("{:?}", config.keys[0]).contains(&secret));

    let typo = "[[keys]]\nalg = \"HS256\"\nsecert = \"x\"\n";
    assert!(toml::from_str::<AuthConfig>(typo).is_err());
    let unknown_alg = "[[keys]]\nalg = \"RS256\"\nsecret = \"x\"\n";
    assert!(toml::from_str::<AuthConfig>(unknown_alg).is_err());
}

#[test]
fn bad_key_configs_are_refused() {
    let short = base64::engine::general_purpose::STANDARD.encode([0u8; 16]);
    let cases = [
        KeyConfig::Hs256 {
            secret: Some(short),
            secret_file: None,
            secret_env: None,
            kid: None,
        },
        KeyConfig::Hs256 {
            secret: Some("not base64!".into()),
            secret_file: None,
            secret_env: None,
            kid: None,
        },
        KeyConfig::Es256 {
            public_pem: "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n".into(),
            kid: None,
        },
        KeyConfig::Es256 {
            public_pem: "/nonexistent/moql/key.pem".into(),
            kid: None,
        },
    ];
    for key in cases {
        let result = Auth::new(&AuthConfig {
            keys: vec![key.clone()],
            public: None,
            jwk_files: Vec::new(),
        });
        assert!(matches!(result, Err(AuthError::Key(_))), "{key:?}");
    }
    let secret = generate_hs256_secret();
    let twice = KeyConfig::Hs256 {
        secret: Some(secret),
        secret_file: None,
        secret_env: None,
        kid: Some("k".into()),
    };
    assert!(matches!(
        Auth::new(&AuthConfig {
            keys: vec![twice.clone(), twice],
            public: None,
            jwk_files: Vec::new(),
        }),
        Err(AuthError::Key(_))
    ));
}

#[test]
fn generated_secrets_are_32_random_bytes() {
    let (a, b) = (generate_hs256_secret(), generate_hs256_secret());
    assert_ne!(a, b);
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(&a)
        .unwrap();
    assert_eq!(bytes.len(), 32);
}

#[test]
fn refusals_close_with_unauthorized() {
    for err in [
        AuthError::Missing,
        AuthError::Invalid(String::new()),
        AuthError::Expired,
        AuthError::NotYetValid,
        AuthError::WrongAlgorithm,
        AuthError::OutsideRoot,
        AuthError::NoGrant,
    ] {
        assert_eq!(err.code(), ErrorCode::UNAUTHORIZED, "{err}");
    }
    assert_eq!(AuthError::Key(String::new()).code(), ErrorCode(564));
    assert!(AuthError::OutsideRoot.is_forbidden());
    assert!(!AuthError::Expired.is_forbidden());
}

#[test]
fn the_deadline_is_fixed_when_the_grant_is_made_and_never_in_the_past() {
    use std::time::Instant;
    let path = Path::new("room").unwrap();
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000);
    let clock = Instant::now();
    let mut grant = Grant::full(path);
    assert_eq!(grant.deadline(now, clock), None, "anonymous: no expiry");
    grant.expires = Some(now + Duration::from_secs(5));
    assert_eq!(
        grant.deadline(now, clock),
        Some(clock + Duration::from_secs(5))
    );
    // Judged after `exp` (a handshake outlasted the token): due at once, not never.
    assert_eq!(
        grant.deadline(now + Duration::from_secs(60), clock),
        Some(clock)
    );
}
