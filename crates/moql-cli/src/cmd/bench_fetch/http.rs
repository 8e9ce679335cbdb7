//! `GET /fetch/<broadcast>/<track>?group=N` on one keep-alive HTTP/1.1 connection per worker,
//! with hyper's client (plain HTTP on the relay's TCP port).

use anyhow::{Context as _, bail, ensure};
use http_body_util::{BodyExt as _, Empty};
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use moql_model::Path;

use crate::exit::Failure;

/// Where the relay's HTTP port is.
pub(super) struct Endpoint {
    /// `host:port` to dial.
    authority: String,
}

impl Endpoint {
    /// The HTTP port of the relay at `url` (any scheme: only host and port are used; a URL
    /// without a port means 443, the relay's usual one).
    ///
    /// # Errors
    ///
    /// A URL without a host.
    pub(super) fn new(url: &str) -> anyhow::Result<Self> {
        let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
        let authority = rest.split(['/', '?']).next().unwrap_or_default();
        ensure!(!authority.is_empty(), "no host in {url:?}");
        let authority = if authority
            .rsplit_once(':')
            .is_some_and(|(_, port)| !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()))
        {
            authority.to_string()
        } else {
            format!("{authority}:443")
        };
        Ok(Self { authority })
    }

    /// Opens one keep-alive connection.
    ///
    /// # Errors
    ///
    /// The TCP connect or the HTTP/1.1 handshake.
    pub(super) async fn connect(&self) -> anyhow::Result<Fetcher> {
        let tcp = tokio::net::TcpStream::connect(&self.authority)
            .await
            .map_err(|err| Failure::Network(format!("connecting to {}: {err}", self.authority)))?;
        let _ = tcp.set_nodelay(true);
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
            .await
            .context("HTTP/1.1 handshake")?;
        let driver = tokio::spawn(async move {
            if let Err(err) = connection.await {
                tracing::debug!(%err, "HTTP connection ended");
            }
        });
        Ok(Fetcher {
            sender,
            authority: self.authority.clone(),
            _driver: super::AbortOnDrop(driver),
        })
    }
}

/// One keep-alive connection.
pub(super) struct Fetcher {
    sender: SendRequest<Empty<Bytes>>,
    authority: String,
    _driver: super::AbortOnDrop,
}

impl Fetcher {
    /// Fetches the group and returns its body length (the group's payloads, concatenated).
    ///
    /// # Errors
    ///
    /// [`Failure::NotFound`] on 404; another status or a broken body otherwise.
    pub(super) async fn fetch(
        &mut self,
        broadcast: &Path,
        track: &str,
        sequence: u64,
    ) -> anyhow::Result<usize> {
        self.sender
            .ready()
            .await
            .context("the HTTP connection closed")?;
        let request = hyper::Request::get(format!("/fetch/{broadcast}/{track}?group={sequence}"))
            .header(hyper::header::HOST, &self.authority)
            .body(Empty::new())
            .context("building the request")?;
        let response = self
            .sender
            .send_request(request)
            .await
            .context("sending the request")?;
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .context("reading the body")?
            .to_bytes();
        if status == hyper::StatusCode::NOT_FOUND {
            bail!(Failure::NotFound(format!("group {sequence}: 404")));
        }
        ensure!(status.is_success(), "group {sequence}: HTTP {status}");
        Ok(body.len())
    }
}
