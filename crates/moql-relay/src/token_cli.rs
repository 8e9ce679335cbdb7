//! `moql-relay token key|sign|verify`: make a key, sign a token with it, check a token.
//!
//! Keys live in files, never on the command line (where `ps` shows them to every user) and
//! never on stdout together with their public half: `key` writes the private JWK with mode
//! 0600 and the public JWK beside it, and prints only where they went. The files are the
//! reference's JWK format too, so its `moq auth serve --key` takes our public key and our
//! `sign`/`verify` take its `moq auth generate` output.

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use clap::Subcommand;
use moql_relay::auth::{self, AuthConfig, KeyConfig, SigningKey};

#[derive(Subcommand, Debug)]
pub(crate) enum TokenCommand {
    /// Write a new key: the private JWK to --out (mode 0600) and, for ES256/EdDSA, the public
    /// JWK to --public. HS256 has one file, which both the signer and the relay need.
    Key {
        /// `hs256`, `es256` or `eddsa`.
        #[arg(long, default_value = "es256")]
        alg: String,
        /// The private key file to create (refused if it exists).
        #[arg(long)]
        out: PathBuf,
        /// The public key file to create [default: --out with `.pub` before `.jwk`, or
        /// `.pub` appended].
        #[arg(long)]
        public: Option<PathBuf>,
        /// The key id tokens name in their header [default: 16 random hex digits].
        #[arg(long)]
        kid: Option<String>,
    },
    /// Sign a token with a private key; prints the token.
    Sign {
        /// The private key file: a JWK (ours or the reference's `moq auth generate`), an
        /// ES256 PKCS#8 PEM, or an HS256 secret in base64.
        #[arg(long, required_unless_present = "key_env", conflicts_with = "key_env")]
        key: Option<PathBuf>,
        /// An environment variable holding the key, in any form --key takes.
        #[arg(long, value_name = "NAME")]
        key_env: Option<String>,
        /// The root path the session is scoped to.
        #[arg(long, default_value = "")]
        root: String,
        /// A prefix (relative to root) the holder may publish (repeatable; "" = all).
        #[arg(long = "publish")]
        publish: Vec<String>,
        /// A prefix (relative to root) the holder may subscribe to (repeatable; "" = all).
        #[arg(long = "subscribe")]
        subscribe: Vec<String>,
        /// Validity in seconds from now.
        #[arg(long, default_value_t = 86_400)]
        expires_in: u64,
        /// Key ID to put in the header [default: the JWK's `kid`].
        #[arg(long)]
        kid: Option<String>,
    },
    /// Verify a token; prints its claims as JSON, or exits 1 saying why it is refused.
    Verify {
        /// The token [default: --token-env, or stdin].
        token: Option<String>,
        /// An environment variable holding the token.
        #[arg(long, value_name = "NAME", conflicts_with = "token")]
        token_env: Option<String>,
        /// A verification key file (repeatable): a JWK or JWK set, a public PEM (ES256 or
        /// Ed25519), or an HS256 secret in base64.
        #[arg(long, required = true)]
        key: Vec<PathBuf>,
    },
}

pub(crate) fn run(command: TokenCommand) -> anyhow::Result<()> {
    match command {
        TokenCommand::Key {
            alg,
            out,
            public,
            kid,
        } => key(&alg, &out, public, kid),
        TokenCommand::Sign {
            key,
            key_env,
            root,
            publish,
            subscribe,
            expires_in,
            kid,
        } => {
            let text = match (key, key_env) {
                (Some(path), _) => std::fs::read_to_string(&path)
                    .with_context(|| format!("reading {}", path.display()))?,
                (None, Some(name)) => {
                    std::env::var(&name).with_context(|| format!("reading the key from ${name}"))?
                }
                (None, None) => bail!("give the key with --key FILE or --key-env NAME"),
            };
            let key = SigningKey::from_text(&text).context("the signing key")?;
            if publish.is_empty() && subscribe.is_empty() {
                bail!("the token would grant nothing: give --publish and/or --subscribe");
            }
            let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
            let claims = auth::Claims {
                root,
                publish,
                subscribe,
                exp: now + expires_in,
                iat: Some(now),
                nbf: None,
            };
            println!("{}", auth::sign(&claims, &key, kid.as_deref())?);
            Ok(())
        }
        TokenCommand::Verify {
            token,
            token_env,
            key,
        } => verify(token, token_env, &key),
    }
}

fn key(alg: &str, out: &Path, public: Option<PathBuf>, kid: Option<String>) -> anyhow::Result<()> {
    let algorithm = auth::parse_algorithm(alg)?;
    let kid = match kid {
        Some(kid) => kid,
        None => random_kid()?,
    };
    let private = auth::generate_jwk(algorithm, Some(kid.clone()))?;
    let public_key = private.to_public().ok();
    let public_path = public.unwrap_or_else(|| public_path(out));
    if public_key.is_some() && public_path.exists() {
        bail!("{} exists; not overwriting it", public_path.display());
    }
    write_new(out, &serde_json::to_string_pretty(&private)?, true)?;
    println!("private key (kid {kid}): {} (mode 0600)", out.display());
    match public_key {
        Some(public_key) => {
            write_new(
                &public_path,
                &serde_json::to_string_pretty(&public_key)?,
                false,
            )?;
            println!(
                "public key: {} (give it to relays: [auth] jwk_files)",
                public_path.display()
            );
        }
        None => println!("HS256 is symmetric: the relay needs this same file ([auth] jwk_files)"),
    }
    Ok(())
}

/// `relay.jwk` → `relay.pub.jwk`; any other name gets `.pub` appended.
fn public_path(out: &Path) -> PathBuf {
    let name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let public = match name.strip_suffix(".jwk") {
        Some(stem) => format!("{stem}.pub.jwk"),
        None => format!("{name}.pub"),
    };
    out.with_file_name(public)
}

/// Creates `path` (refusing to replace a file) with `text`; `private` files get mode 0600
/// from the start, so the key is never readable by others, not even briefly.
fn write_new(path: &Path, text: &str, private: bool) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(if private { 0o600 } else { 0o644 });
    }
    #[cfg(not(unix))]
    let _ = private;
    let mut file = options
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    file.write_all(text.as_bytes())?;
    file.write_all(b"\n")?;
    Ok(())
}

fn random_kid() -> anyhow::Result<String> {
    use ring::rand::SecureRandom as _;
    let mut bytes = [0u8; 8];
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| anyhow::anyhow!("the random number generator failed"))?;
    Ok(hex::encode(bytes))
}

fn verify(
    token: Option<String>,
    token_env: Option<String>,
    keys: &[PathBuf],
) -> anyhow::Result<()> {
    let token = match (token, token_env) {
        (Some(token), _) if token != "-" => token,
        (None, Some(name)) => {
            std::env::var(&name).with_context(|| format!("reading the token from ${name}"))?
        }
        _ => {
            let mut text = String::new();
            std::io::stdin()
                .take(64 * 1024)
                .read_to_string(&mut text)
                .context("reading the token from stdin")?;
            text
        }
    };
    let mut config = AuthConfig::default();
    for path in keys {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let trimmed = text.trim_start();
        if trimmed.starts_with("-----BEGIN") {
            let display = path.display().to_string();
            let es256 = KeyConfig::Es256 {
                public_pem: display.clone(),
                kid: None,
            };
            let key = if auth::Auth::new(&AuthConfig {
                keys: vec![es256.clone()],
                ..AuthConfig::default()
            })
            .is_ok()
            {
                es256
            } else {
                KeyConfig::EdDsa {
                    public_pem: display,
                    kid: None,
                }
            };
            config.keys.push(key);
        } else if auth::parse_jwks(&text).is_ok() {
            config.jwk_files.push(path.clone());
        } else {
            config.keys.push(KeyConfig::Hs256 {
                secret: None,
                secret_file: Some(path.clone()),
                secret_env: None,
                kid: None,
            });
        }
    }
    let verifier = auth::Auth::new(&config).context("loading the keys")?;
    match verifier.verify_at(token.trim(), SystemTime::now()) {
        Ok(claims) => {
            println!("{}", serde_json::to_string_pretty(&claims)?);
            Ok(())
        }
        Err(err) => bail!("token refused: {err}"),
    }
}
