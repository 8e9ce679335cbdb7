//! Fuzz target: a whole session fed random bytes on each stream.
//!
//! One server runs our session engine on loopback (raw QUIC, lite-05) for the whole run. A
//! client connects and sends a valid SETUP; each input is a session fuzz script, played on
//! that session by `moql_session::testing::script::play` (the format is documented there).
//! The session is reused by later inputs until the server closes it (then the next input
//! connects again), which keeps the run at hundreds of inputs a second and lets state build
//! up across inputs, as in a long hostile session. The server subscribes to the client, so it
//! opens its Announce stream (spec 4.2) and scripts can play the client's replies on it
//! (ANNOUNCE_OK, ANNOUNCEs: control bit 2 in the script format; seed `seed-announce-reply`).
//! The server must never panic (libFuzzer
//! aborts on a panic in any thread) and may only close the session with a spec error code.
#![no_main]

use std::sync::OnceLock;
use std::time::Duration;

use moql_model::{BroadcastProducer, OriginProducer, Path, TrackInfo};
use moql_native::{Certificate, Client, ClientConfig, ClientTls, Connection, Server, ServerConfig};
use moql_session::testing::script::play;
use moql_session::{Accepting, Session, SessionConfig};
use moql_wire::{Encode, Setup, Version};
use tokio::sync::mpsc;
use web_transport_trait::{SendStream as _, Session as _};

const V: Version = Version::Lite05;

struct World {
    runtime: tokio::runtime::Runtime,
    client: Client,
    url: String,
    sessions: tokio::sync::Mutex<mpsc::Receiver<Session>>,
    /// The live client transport and the server's session for it.
    current: tokio::sync::Mutex<Option<(Connection, Session)>>,
}

fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let (client, url, sessions) = runtime.block_on(async {
            let certificate = Certificate::generate(&["localhost".into()]).unwrap();
            let mut server = Server::bind(ServerConfig::new(
                "127.0.0.1:0".parse().unwrap(),
                certificate,
            ))
            .unwrap();
            let url = format!("moql://127.0.0.1:{}/", server.local_addr().unwrap().port());
            let client = Client::new(ClientConfig {
                tls: ClientTls::Fingerprints(vec![server.fingerprint()]),
                versions: vec![V],
                ..ClientConfig::default()
            })
            .unwrap();
            let origin = OriginProducer::new();
            let broadcast = BroadcastProducer::new();
            let track = broadcast.create_track("clock", TrackInfo::DEFAULT).unwrap();
            let group = track.create_group(0).unwrap();
            group.write(0, "tick").unwrap();
            group.finish().unwrap();
            origin
                .publish(&Path::new("demo").unwrap(), broadcast.consume())
                .unwrap();
            let (tx, rx) = mpsc::channel(16);
            tokio::spawn(async move {
                let _keep = (broadcast, track);
                while let Some(incoming) = server.accept().await {
                    let publish = origin.consume();
                    let tx = tx.clone();
                    tokio::spawn(async move {
                        let Ok(transport) = incoming.accept().await else {
                            return;
                        };
                        let Ok(accepting) =
                            Accepting::new(transport, V, Duration::from_secs(2)).await
                        else {
                            return;
                        };
                        let config = SessionConfig::new()
                            .with_publish(publish)
                            .with_subscribe(OriginProducer::new());
                        if let Ok(session) = accepting.accept(config).await {
                            let _ = tx.send(session).await;
                        }
                    });
                }
            });
            (client, url, rx)
        });
        World {
            runtime,
            client,
            url,
            sessions: tokio::sync::Mutex::new(sessions),
            current: tokio::sync::Mutex::new(None),
        }
    })
}

/// How long one script may take to play on loopback (a few ms unless it waits for a server
/// stream that will not come).
const PLAY_BOUND: Duration = Duration::from_millis(250);

/// Connects a client and sends a valid SETUP; returns it with the server's session.
async fn connect(world: &World) -> Option<(Connection, Session)> {
    let connected = world.client.connect(&world.url).await.ok()?;
    let client = connected.session;
    let mut setup = client.open_uni().await.ok()?;
    let mut bytes = vec![0x01];
    bytes.extend(Setup::default().encode_to_vec(V).unwrap());
    setup.write_all(&bytes).await.ok()?;
    let _ = setup.finish();
    let server = tokio::time::timeout(Duration::from_secs(2), async {
        world.sessions.lock().await.recv().await
    })
    .await;
    let Ok(Some(server)) = server else {
        panic!("the server never accepted a valid SETUP");
    };
    Some((client, server))
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let world = world();
    world.runtime.block_on(async {
        let mut current = world.current.lock().await;
        if current
            .as_ref()
            .is_none_or(|(_, server)| server.close_reason().is_some())
        {
            *current = connect(world).await;
        }
        let Some((client, server)) = current.as_ref() else {
            return;
        };

        // The server opens one Announce stream per session, and the first script that plays
        // on it accepts it: a later script waiting for it on the same session would wait for
        // good. Bounded, and such a script gets a fresh session next time.
        let Ok(_open) = tokio::time::timeout(PLAY_BOUND, play(client, data)).await else {
            *current = None;
            return;
        };
        tokio::time::sleep(Duration::from_millis(2)).await;
        if let Some(err) = server.close_reason() {
            assert!(
                err.code().name().is_some(),
                "closed outside the spec: {err:?}"
            );
        }
    });
});
