//! Finding the relay URL among a command's positional arguments, so scripts can set it once
//! (`--url`, or `MOQL_URL` in the environment) and leave it out of every command line.
//!
//! `moql subscribe moql://relay/ demo/clock clock` and
//! `MOQL_URL=moql://relay/ moql subscribe demo/clock clock` mean the same. The first argument
//! is the URL when the command got one argument more than it takes after the URL, or when it
//! contains `://` (no broadcast path does: paths have no empty segments); otherwise the URL
//! comes from `--url` / `MOQL_URL`. A URL on the command line wins over both.

use crate::exit::Failure;

/// The relay URL and the arguments after it, in order (`names.len()` of them at most).
///
/// `given` are the positional slots as clap filled them (left to right, `None` when absent);
/// `names` name the arguments after the URL for error messages, the first `required` of
/// them required; `fallback` is `--url` or `MOQL_URL`.
///
/// # Errors
///
/// [`Failure::Usage`] (exit code 2) when there is no URL anywhere or a required argument is
/// missing.
pub(crate) fn split(
    fallback: Option<&str>,
    given: impl IntoIterator<Item = Option<String>>,
    names: &[&str],
    required: usize,
) -> Result<(String, Vec<String>), Failure> {
    let mut operands: Vec<String> = given.into_iter().flatten().collect();
    let first_is_url = operands
        .first()
        .is_some_and(|first| operands.len() > names.len() || first.contains("://"));
    let url = if first_is_url {
        operands.remove(0)
    } else {
        match fallback {
            Some(url) => url.to_string(),
            None => {
                return Err(Failure::Usage(
                    "no relay URL: give it as the first argument, with --url, or in MOQL_URL"
                        .into(),
                ));
            }
        }
    };
    if let Some(missing) = names
        .get(operands.len())
        .filter(|_| operands.len() < required)
    {
        return Err(Failure::Usage(format!(
            "missing the {missing} argument (after the relay URL)"
        )));
    }
    Ok((url, operands))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn some(args: &[&str]) -> Vec<Option<String>> {
        let mut slots: Vec<Option<String>> = args.iter().map(|a| Some(a.to_string())).collect();
        slots.resize(3, None);
        slots
    }

    const SUBSCRIBE: &[&str] = &["BROADCAST", "TRACK"];

    #[test]
    fn a_url_on_the_command_line_wins() {
        let (url, rest) = split(
            Some("moql://env/"),
            some(&["moql://arg/", "demo", "t"]),
            SUBSCRIBE,
            2,
        )
        .unwrap();
        assert_eq!(
            (url.as_str(), rest),
            ("moql://arg/", vec!["demo".to_string(), "t".into()])
        );
    }

    #[test]
    fn without_one_the_fallback_is_used() {
        let (url, rest) = split(Some("moql://env/"), some(&["demo", "t"]), SUBSCRIBE, 2).unwrap();
        assert_eq!((url.as_str(), rest.len()), ("moql://env/", 2));
        // announced [URL] [PREFIX]: one argument is a URL only if it looks like one.
        let (url, rest) = split(Some("moql://env/"), some(&["demo"]), &["PREFIX"], 0).unwrap();
        assert_eq!(
            (url.as_str(), rest),
            ("moql://env/", vec!["demo".to_string()])
        );
        let (url, rest) = split(Some("moql://env/"), some(&["tcp://h:1"]), &["PREFIX"], 0).unwrap();
        assert_eq!((url.as_str(), rest.len()), ("tcp://h:1", 0));
    }

    #[test]
    fn no_url_or_a_missing_argument_is_a_usage_error() {
        let err = split(None, some(&["demo", "t"]), SUBSCRIBE, 2).unwrap_err();
        assert!(
            matches!(err, Failure::Usage(ref m) if m.contains("MOQL_URL")),
            "{err}"
        );
        let err = split(Some("moql://env/"), some(&["demo"]), SUBSCRIBE, 2).unwrap_err();
        assert!(
            matches!(err, Failure::Usage(ref m) if m.contains("TRACK")),
            "{err}"
        );
    }
}
