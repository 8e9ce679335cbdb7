//! `GET /certificate.sha256`: the fingerprint browsers pin (spec 1.6).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;

use super::{HttpError, SharedState, text};

/// The bare lowercase hex fingerprint of the certificate served now (it changes when a
/// generated certificate is renewed), or `404` without a generated certificate.
pub(super) async fn get(State(shared): SharedState) -> Result<Response, HttpError> {
    match &shared.certificate {
        // Spec 1.6: "The body is the lowercase hex SHA-256 of the leaf certificate's DER
        // encoding, as bare text".
        Some(store) => Ok(text(StatusCode::OK, store.fingerprint())),
        // Spec 1.6: "A `404` means there is no generated certificate to pin."
        None => Err(HttpError::not_found(
            "no generated certificate to pin: this relay uses a configured certificate",
        )),
    }
}
