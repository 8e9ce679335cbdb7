//! A real relay (the `moql-relay` library) on loopback, and the publish/read helpers the relay
//! tests share.

use std::net::SocketAddr;
use std::time::Duration;

use moql_model::{BroadcastProducer, Path, TrackConsumer, TrackInfo, TrackProducer};
use moql_relay::{Relay, RelayConfig};

use super::{TestClient, client, within};

/// A relay running on 127.0.0.1 with a generated certificate; stopped on drop.
pub struct TestRelay {
    pub addr: SocketAddr,
    /// The plain QMux-over-TCP listener, when the configuration asked for one.
    pub tcp_addr: Option<SocketAddr>,
    pub fingerprint: String,
    /// The admin listener (`/health`, `/ready`, `/metrics`), on an ephemeral loopback port.
    pub admin: SocketAddr,
    /// Reloads or renews the relay's certificate.
    pub tls: moql_relay::TlsReloader,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    done: tokio::task::JoinHandle<()>,
}

impl TestRelay {
    pub async fn start(configure: impl FnOnce(&mut RelayConfig)) -> Self {
        super::init_tracing();
        let mut config = RelayConfig {
            bind: "127.0.0.1:0".parse().unwrap(),
            drain_seconds: 0.2,
            ..RelayConfig::default()
        };
        config.auth.public = Some("".into());
        configure(&mut config);
        let relay = Relay::bind(config).await.expect("relay binds");
        let addr = relay.local_addr().unwrap();
        let tcp_addr = relay.tcp_addr();
        let fingerprint = relay.fingerprint();
        let admin = relay.admin_addr().expect("the admin listener is on");
        let tls = relay.tls();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let done = tokio::spawn(async move {
            relay
                .run(async move {
                    let _ = stopped.await;
                })
                .await
                .expect("relay runs");
        });
        Self {
            addr,
            tcp_addr,
            fingerprint,
            admin,
            tls,
            stop: Some(stop),
            done,
        }
    }

    /// A relay that admits only HS256 tokens signed with `secret` (no public prefix).
    pub async fn with_hs256_key(secret: &str) -> Self {
        let key = secret.to_string();
        Self::start(move |c| {
            c.auth = moql_relay::AuthConfig::default();
            c.auth.keys = vec![moql_relay::auth::KeyConfig::hs256(key)];
        })
        .await
    }

    pub fn url(&self, scheme: &str, path: &str) -> String {
        format!("{scheme}://127.0.0.1:{}{path}", self.addr.port())
    }

    pub async fn client(&self, scheme: &str, path: &str) -> TestClient {
        client(&self.url(scheme, path), &self.fingerprint)
            .await
            .expect("client connects")
    }

    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        within("the relay to stop", &mut self.done)
            .await
            .expect("relay task");
    }
}

pub fn publish(client: &TestClient, name: &str) -> (BroadcastProducer, TrackProducer) {
    let broadcast = BroadcastProducer::new();
    let track = broadcast.create_track("clock", TrackInfo::DEFAULT).unwrap();
    client
        .publish
        .publish(&Path::new(name).unwrap(), broadcast.consume())
        .unwrap();
    (broadcast, track)
}

pub fn produce(track: &TrackProducer, seq: u64, frames: u64) {
    let group = track.create_group(seq).unwrap();
    for i in 0..frames {
        group.write(seq * 1000 + i, format!("{seq}:{i}")).unwrap();
    }
    group.finish().unwrap();
}

pub async fn wait_subscribed(track: &TrackProducer) {
    within("the subscription to reach the publisher", async {
        while track.subscription().is_none() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
}

pub async fn read_group(sub: &mut TrackConsumer) -> (u64, Vec<String>) {
    let mut group = within("a group", sub.next_group())
        .await
        .unwrap()
        .expect("a group");
    let frames = within("its frames", group.read_all()).await.unwrap();
    (
        group.sequence(),
        frames
            .iter()
            .map(|f| String::from_utf8(f.payload.to_vec()).unwrap())
            .collect(),
    )
}

impl TestRelay {
    /// The value of one figure in `GET /metrics`: the sum of its samples over every label set
    /// (`name 3` and `name{transport="quic"} 3` alike).
    pub async fn metric(&self, name: &str) -> u64 {
        let text = self.metrics_text().await;
        sum_samples(&text, name).unwrap_or_else(|| panic!("no {name} in {text}"))
    }

    /// The admin listener's `GET /metrics` body.
    pub async fn metrics_text(&self) -> String {
        let (status, body) = super::http_get(self.admin, "/metrics").await;
        let text = String::from_utf8_lossy(&body).into_owned();
        assert_eq!(status, 200, "{text}");
        text
    }
}

/// The sum of the samples of `name` in exposition `text`, `None` if it has none.
pub fn sum_samples(text: &str, name: &str) -> Option<u64> {
    let values: Vec<f64> = text
        .lines()
        .filter_map(|line| {
            let rest = line.strip_prefix(name)?;
            let rest = match rest.strip_prefix('{') {
                Some(labelled) => &labelled[labelled.find('}')? + 1..],
                None => rest,
            };
            rest.strip_prefix(' ')?.trim().parse().ok()
        })
        .collect();
    (!values.is_empty()).then(|| values.iter().sum::<f64>() as u64)
}

/// An HS256 token for `root` granting `publish` and `subscribe`, expiring `expires_in`
/// seconds from now (negative: already expired).
pub fn token(
    secret: &str,
    root: &str,
    publish: &[&str],
    subscribe: &[&str],
    expires_in: i64,
) -> String {
    use moql_relay::auth::{Claims, SigningKey, sign};
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let claims = Claims {
        root: root.into(),
        publish: publish.iter().map(|s| s.to_string()).collect(),
        subscribe: subscribe.iter().map(|s| s.to_string()).collect(),
        exp: (now + expires_in) as u64,
        ..Claims::default()
    };
    sign(
        &claims,
        &SigningKey::Hs256 {
            secret: secret.into(),
        },
        None,
    )
    .unwrap()
}

/// Shuts `relay` down and checks `client` hears GOAWAY (no new URI) and then the close: what
/// every transport's shutdown test asserts.
pub async fn shutdown_sends_goaway_to(relay: TestRelay, client: &TestClient) {
    // The relay has accepted once its SETUP arrived.
    within("the relay's SETUP", async {
        while client.session.peer_setup().is_none() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    let session = client.session.clone();
    let watcher = tokio::spawn(async move { session.goaway_received().await });
    relay.shutdown().await;
    let uri = within("GOAWAY", watcher).await.unwrap();
    assert_eq!(uri.as_deref(), Some(""));
    within("the session to close", client.session.closed()).await;
}

impl TestRelay {
    /// The status of a plain HTTP/1.1 `GET target` on the relay's TCP port.
    pub async fn http_status(&self, target: &str) -> u16 {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let mut stream = within(
            "the HTTP connection",
            tokio::net::TcpStream::connect(self.addr),
        )
        .await
        .expect("tcp connect");
        let request = format!("GET {target} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut raw = Vec::new();
        within("the HTTP response", stream.read_to_end(&mut raw))
            .await
            .unwrap();
        let text = String::from_utf8_lossy(&raw);
        text.split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("no status in {text}"))
    }

    /// Waits until the `GET /metrics` figure `name` satisfies `ok` (the relay refreshes its
    /// figures once a second) and returns it.
    pub async fn metric_until(&self, name: &str, ok: impl Fn(u64) -> bool) -> u64 {
        within(&format!("{name} to reach the expected value"), async {
            loop {
                // A labelled family has no sample until its first label set is seen.
                let value = sum_samples(&self.metrics_text().await, name);
                if let Some(value) = value.filter(|v| ok(*v)) {
                    return value;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
        .await
    }
}
