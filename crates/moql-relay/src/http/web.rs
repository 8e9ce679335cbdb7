//! Static files from [`HttpState::web_root`](super::HttpState::web_root): the built web page
//! (`web/dist`), so a browser loads the page from the relay it then connects to.
//!
//! Only `GET` and `HEAD`. A request path maps to a file below the root segment by segment;
//! a segment that is empty, `.`, `..`, hidden (`.name`) or holds a `\` or `:` is refused with
//! `404`, so nothing outside the root (or a dotfile inside it) is ever read. A directory serves
//! its `index.html`. The content type comes from the extension.

use std::path::{Path, PathBuf};

use axum::body::Body;
use axum::http::{HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};

use super::HttpError;

/// Largest file served: the page's bundle is a few hundred kilobytes; anything far larger in
/// a web root is a mistake, not something to hold in memory per request.
const MAX_FILE: u64 = 16 << 20;

/// Serves `uri`'s file below `root`, or `404`.
pub(super) async fn serve(root: &Path, method: &Method, uri: &Uri) -> Response {
    if method != Method::GET && method != Method::HEAD {
        return HttpError::new(StatusCode::METHOD_NOT_ALLOWED, "only GET and HEAD").into_response();
    }
    let Some(path) = resolve(root, uri.path()) else {
        return HttpError::not_found(format!("no such file: {}", uri.path())).into_response();
    };
    match read(path.clone()).await {
        Ok(Some((path, bytes))) => {
            let body = if method == Method::HEAD {
                Body::empty()
            } else {
                Body::from(bytes)
            };
            let mut response = (StatusCode::OK, body).into_response();
            let headers = response.headers_mut();
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(content_type(&path)),
            );
            // The page is rebuilt in place during development: always revalidate.
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
            response
        }
        Ok(None) => HttpError::not_found(format!("no such file: {}", uri.path())).into_response(),
        Err(err) => {
            tracing::warn!(%err, path = %path.display(), "cannot read a web file");
            HttpError::new(StatusCode::INTERNAL_SERVER_ERROR, "cannot read the file")
                .into_response()
        }
    }
}

/// The file `request_path` names below `root` (a directory's `index.html`), or `None` for a
/// path that could leave the root or names a hidden file.
pub(super) fn resolve(root: &Path, request_path: &str) -> Option<PathBuf> {
    let mut path = root.to_path_buf();
    let trimmed = request_path.strip_prefix('/')?;
    let mut segments = trimmed.split('/').peekable();
    while let Some(segment) = segments.next() {
        // A trailing slash leaves one empty last segment: the directory itself.
        if segment.is_empty() && segments.peek().is_none() {
            break;
        }
        let allowed = !segment.is_empty()
            && !segment.starts_with('.')
            && !segment.contains(['\\', ':', '\0']);
        if !allowed {
            return None;
        }
        path.push(segment);
    }
    Some(path)
}

/// Reads `path` (a directory's `index.html`) and says which file it read: `None` when there
/// is no such regular file.
async fn read(path: PathBuf) -> std::io::Result<Option<(PathBuf, Vec<u8>)>> {
    tokio::task::spawn_blocking(move || {
        let mut path = path;
        let mut meta = match std::fs::metadata(&path) {
            Ok(meta) => meta,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(err) => return Err(err),
        };
        if meta.is_dir() {
            path.push("index.html");
            meta = match std::fs::metadata(&path) {
                Ok(meta) => meta,
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                Err(err) => return Err(err),
            };
        }
        if !meta.is_file() || meta.len() > MAX_FILE {
            return Ok(None);
        }
        let bytes = std::fs::read(&path)?;
        Ok(Some((path, bytes)))
    })
    .await
    .map_err(std::io::Error::other)?
}

/// The content type for `path`'s extension (`application/octet-stream` when unknown).
fn content_type(path: &Path) -> &'static str {
    let extension = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    match extension.to_ascii_lowercase().as_str() {
        "html" | "htm" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" | "map" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "ico" => "image/x-icon",
        "wasm" => "application/wasm",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_map_segment_by_segment_and_never_leave_the_root() {
        let root = Path::new("/srv/web");
        assert_eq!(resolve(root, "/"), Some(PathBuf::from("/srv/web")));
        assert_eq!(
            resolve(root, "/assets/app.js"),
            Some(PathBuf::from("/srv/web/assets/app.js"))
        );
        assert_eq!(
            resolve(root, "/assets/"),
            Some(PathBuf::from("/srv/web/assets"))
        );
        for refused in [
            "",
            "/..",
            "/a/../b",
            "/./a",
            "//etc/passwd",
            "/a//b",
            "/.git/config",
            "/a\\..\\b",
            "/c:/x",
        ] {
            assert_eq!(resolve(root, refused), None, "{refused:?}");
        }
    }

    #[test]
    fn content_types_follow_the_extension() {
        assert_eq!(
            content_type(Path::new("index.HTML")),
            "text/html; charset=utf-8"
        );
        assert_eq!(
            content_type(Path::new("a.js")),
            "text/javascript; charset=utf-8"
        );
        assert_eq!(content_type(Path::new("noext")), "application/octet-stream");
    }
}
