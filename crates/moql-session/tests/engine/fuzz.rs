//! The session-level fuzz in bounded form, over the in-memory pair (moved from
//! `tests/hostile.rs`).

use moql_session::testing::script::{play, push_reply, push_stream};
use moql_wire::{Announce, AnnounceOk, AnnounceStatus, Group, Path};

use crate::hostile::hex;
use crate::raw::{encode, harness};
use crate::support::{quiescent, within};

/// Deterministic random scripts (xorshift64*), so a failing case is repeated by its seed.
struct Script(u64);

impl Script {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    /// A stream's bytes: a stream type (mostly known ones), then either noise or a valid
    /// first message with a few bytes flipped and a random cut, so the script reaches past
    /// the first decoder.
    fn stream_bytes(&mut self, uni: bool) -> Vec<u8> {
        let valid: Vec<Vec<u8>> = if uni {
            vec![
                [
                    vec![0x00],
                    encode(&Group {
                        subscribe_id: 0,
                        sequence: 3,
                        frame_start: 0,
                    }),
                ]
                .concat(),
                vec![0x01, 0x01, 0x00],
            ]
        } else {
            vec![
                hex("020b0004646d6f6f05636c6f636b00000000"),
                hex("010100"),
                hex("060b0464656d6f05636c6f636b"),
                hex("03090464656d6f05636c6f636b03"),
                hex("0400"),
                hex("0500"),
            ]
        };
        let bytes = if self.below(4) == 0 {
            let len = self.below(48) as usize;
            let mut noise = vec![self.below(8) as u8];
            noise.extend((0..len).map(|_| self.next() as u8));
            noise
        } else {
            valid[self.below(valid.len() as u64) as usize].clone()
        };
        self.mutate(bytes)
    }

    /// The client's replies on the server's Announce stream: ANNOUNCE_OK and ANNOUNCEs
    /// (starts, in-place re-routes, ends), mutated like [`stream_bytes`](Self::stream_bytes).
    fn reply_bytes(&mut self) -> Vec<u8> {
        let valid = [
            announce_reply(),
            announce(AnnounceStatus::Active, "a", vec![7, self.below(4)]),
            announce(AnnounceStatus::Ended, "a", vec![]),
            announce(AnnounceStatus::Active, "b/c", vec![]),
        ];
        let bytes = valid[self.below(valid.len() as u64) as usize].clone();
        self.mutate(bytes)
    }

    /// Flips a few bits and maybe cuts the end.
    fn mutate(&mut self, mut bytes: Vec<u8>) -> Vec<u8> {
        for _ in 0..self.below(4) {
            let at = self.below(bytes.len() as u64) as usize;
            bytes[at] ^= 1 << self.below(8);
        }
        if self.below(3) == 0 {
            bytes.truncate(self.below(bytes.len() as u64 + 1) as usize);
        }
        bytes
    }
}

fn announce(status: AnnounceStatus, suffix: &str, hops: Vec<u64>) -> Vec<u8> {
    encode(&Announce {
        status,
        suffix: Path::new(suffix).unwrap(),
        hops,
    })
}

/// ANNOUNCE_OK from hop 7, then `a` active.
fn announce_reply() -> Vec<u8> {
    let mut bytes = encode(&AnnounceOk {
        hop_id: 7,
        active_count: 1,
    });
    bytes.extend(announce(AnnounceStatus::Active, "a", vec![]));
    bytes
}

/// The committed seed `seed-announce-reply` of the `session` fuzz target: the client answers
/// the server's Announce stream, re-routes `a` in place twice, ends it, ends a path that was
/// never active, and finishes the stream. Regenerate with `MOQL_WRITE_SEEDS=1`.
#[test]
fn the_announce_reply_seed_is_its_recipe() {
    let mut script = Vec::new();
    push_reply(&mut script, false, &announce_reply());
    let mut reroutes = announce(AnnounceStatus::Active, "a", vec![7, 1]);
    reroutes.extend(announce(AnnounceStatus::Active, "a", vec![7, 2]));
    reroutes.extend(announce(AnnounceStatus::Ended, "a", vec![]));
    reroutes.extend(announce(AnnounceStatus::Ended, "never", vec![]));
    push_reply(&mut script, true, &reroutes);
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus/session/seed-announce-reply");
    if std::env::var_os("MOQL_WRITE_SEEDS").is_some() {
        std::fs::write(&path, &script).unwrap();
    }
    assert_eq!(std::fs::read(&path).unwrap(), script);
}

/// The session-level fuzz in bounded form: the committed seeds of the `session` fuzz target,
/// then seeded random scripts, on random streams of a live session: the server never panics,
/// and if it closes the session it does so with a spec code (`MOQL_SESSION_FUZZ_CASES` random
/// cases, default 24; `MOQL_SESSION_FUZZ_SEED` picks the first seed).
#[tokio::test(start_paused = true)]
async fn random_bytes_on_every_stream_never_panic_and_close_only_with_spec_codes() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static PANICS: AtomicUsize = AtomicUsize::new(0);
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        PANICS.fetch_add(1, Ordering::SeqCst);
        previous(info);
    }));
    let cases: u64 = std::env::var("MOQL_SESSION_FUZZ_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(24);
    let first: u64 = std::env::var("MOQL_SESSION_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    let corpus = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/session");
    let mut scripts: Vec<(String, Vec<u8>)> = std::fs::read_dir(&corpus)
        .expect("the session fuzz corpus")
        .map(|entry| {
            let path = entry.unwrap().path();
            (path.display().to_string(), std::fs::read(&path).unwrap())
        })
        .collect();
    assert!(!scripts.is_empty(), "no seeds in {}", corpus.display());
    for seed in first..first + cases {
        let mut random = Script(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        let mut bytes = Vec::new();
        for _ in 0..1 + random.below(5) {
            if random.below(4) == 0 {
                let fin = random.below(4) == 0;
                let body = random.reply_bytes();
                push_reply(&mut bytes, fin, &body);
                continue;
            }
            let bidi = random.below(2);
            let fin = random.below(2) << 1;
            let body = random.stream_bytes(bidi == 0);
            push_stream(&mut bytes, bidi == 1, fin != 0, &body);
        }
        scripts.push((format!("random seed {seed}"), bytes));
    }
    let mut closed = 0;
    for (name, script) in &scripts {
        let h = harness().await;
        let server = within("the server session", &mut { h.server })
            .await
            .unwrap();
        let open = play(&h.client, script).await;
        quiescent().await;
        if let Some(err) = server.close_reason() {
            closed += 1;
            assert!(
                err.code().name().is_some(),
                "{name}: closed with a code outside the spec: {err:?}"
            );
        }
        drop(open);
        server.close(moql_wire::ErrorCode::CANCEL, "case done");
    }
    eprintln!(
        "{} scripted sessions, {closed} closed by the server",
        scripts.len()
    );
    assert_eq!(PANICS.load(Ordering::SeqCst), 0, "a session task panicked");
}
