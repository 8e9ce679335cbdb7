//! `GET /announced/<prefix>`: the broadcasts currently published under a prefix.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use moql_model::Path;
use serde::Deserialize;

use super::{HttpError, Shared, SharedState, authorize, text};

/// The query parameters `/announced` understands.
#[derive(Debug, Default, Deserialize)]
pub(super) struct AnnouncedQuery {
    jwt: Option<String>,
}

/// `GET /announced`: everything (the root prefix).
pub(super) async fn root(
    State(shared): SharedState,
    Query(query): Query<AnnouncedQuery>,
) -> Result<Response, HttpError> {
    list(&shared, "", query.jwt.as_deref())
}

/// `GET /announced/<prefix>`.
pub(super) async fn prefix(
    State(shared): SharedState,
    axum::extract::Path(prefix): axum::extract::Path<String>,
    Query(query): Query<AnnouncedQuery>,
) -> Result<Response, HttpError> {
    list(&shared, &prefix, query.jwt.as_deref())
}

/// One full path per line, sorted, limited to what the grant may subscribe to.
fn list(shared: &Shared, prefix: &str, jwt: Option<&str>) -> Result<Response, HttpError> {
    let prefix = Path::new(prefix)
        .map_err(|err| HttpError::bad_request(format!("bad prefix {prefix:?}: {err}")))?;
    let grant = authorize(shared, &prefix, jwt)?;
    if grant.subscribe.is_empty() {
        return Err(HttpError::new(
            StatusCode::FORBIDDEN,
            format!("the token may not subscribe under `{prefix}`"),
        ));
    }
    let mut body = String::new();
    for path in shared.origin.paths(&prefix) {
        let visible = path
            .strip_prefix(&prefix)
            .is_some_and(|relative| grant.can_subscribe(&relative));
        if visible {
            body.push_str(path.as_str());
            body.push('\n');
        }
    }
    Ok(text(StatusCode::OK, body))
}
