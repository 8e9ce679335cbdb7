//! Wire conformance: runs every vector in `tests/vectors/` against `moql-wire`.
//!
//! * `lite-0X.json`: decode `hex` and compare every field; encode the fields and compare with
//!   `hex` (or `reencoded_hex` for decode-only vectors); check `encoded_len`.
//! * `streams.json`: decode each transcript message by message (with per-stream frame state),
//!   use every byte, and rebuild the transcript by encoding the listed messages.
//! * `invalid.json`: every listed version must fail with the mapped error kind (table in
//!   [`expected_error`]); every `accepted_by` version must decode to the given fields.
//! * `lite-06.json`, `lite-06-streams.json`, `lite-06-invalid.json`: the same three checks for
//!   lite-06, hand-made from moq-lite-06.md sections 8 (examples) and 9 (invalid).
//! * The lite-06 error-code translation (moq-lite-06.md section 7.3) as a table.
//!
//! Each test asserts how many vectors it ran, so a skipped or truncated file fails.

use std::collections::BTreeSet;
use std::fs;
use std::path::PathBuf;

#[path = "wire/fields.rs"]
mod fields;
#[path = "wire/typed.rs"]
mod typed;

use moql_wire::{
    CodeScope, Decode, DecodeError, ErrorCode, FrameDecoder, FrameEncoder, FrameHeader, Setup,
    Version,
};

use fields::{
    Wire, decode, decode_frame_sequence, from_fields, opt, raw_setup_parameters, to_fields,
};
use serde::Deserialize;
use serde_json::{Map, Value, json};

// ---------------------------------------------------------------- loading

fn vectors_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("vectors")
}

fn load<T: for<'de> Deserialize<'de>>(file: &str) -> Vec<T> {
    let path = vectors_dir().join(file);
    let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[derive(Deserialize)]
struct Vector {
    id: String,
    message: String,
    fields: Value,
    hex: String,
    #[serde(default)]
    decode_only: bool,
    reencoded_hex: Option<String>,
}

#[derive(Deserialize)]
struct Transcript {
    id: String,
    version: String,
    hex: String,
    messages: Vec<TranscriptMessage>,
}

#[derive(Deserialize)]
struct TranscriptMessage {
    message: String,
    fields: Value,
    hex: String,
}

#[derive(Deserialize)]
struct Invalid {
    id: String,
    message: String,
    hex: String,
    errors: Map<String, Value>,
    short_kind: Option<String>,
    #[serde(default)]
    accepted_by: Map<String, Value>,
    context: Option<Value>,
}

fn version(name: &str) -> Version {
    Version::from_alpn(format!("moq-{name}").as_bytes()).unwrap_or_else(|| panic!("version {name}"))
}

pub(crate) fn unhex(s: &str) -> Vec<u8> {
    hex::decode(s).unwrap_or_else(|e| panic!("bad hex {s}: {e}"))
}

// ---------------------------------------------------------------- message vectors

fn check_vector(vector: &Vector, v: Version) -> Result<(), String> {
    let bytes = unhex(&vector.hex);
    let direction = vector.fields.get("direction").and_then(Value::as_str);
    let mut frames = FrameDecoder {
        prev: opt(&vector.fields, "previous_timestamp").unwrap_or(0),
        ..FrameDecoder::new()
    };

    // 1. Decoding the hex gives the listed fields, using every byte.
    let mut input = &bytes[..];
    let decoded = decode(&vector.message, direction, &mut input, v, &mut frames)
        .map_err(|e| format!("decode failed: {e:?}"))?;
    if !input.is_empty() {
        return Err(format!("{} bytes left after decoding", input.len()));
    }
    let (name, mut fields) = to_fields(&decoded, v);
    let mut expected = vector.fields.clone();
    if vector.message == "SETUP" {
        let raw = expected
            .as_object_mut()
            .and_then(|o| o.remove("parameters"));
        if raw.as_ref() != Some(&raw_setup_parameters(&bytes)) {
            return Err(format!("SETUP parameters {raw:?} do not match the hex"));
        }
    }
    if name != vector.message {
        return Err(format!("decoded as {name}"));
    }
    if fields != expected {
        fields = json!({ "got": fields, "want": expected });
        return Err(format!("fields differ: {fields}"));
    }

    // 2. The fields describe the decoded value exactly.
    let built = from_fields(&vector.message, &vector.fields, v);
    if built != decoded {
        return Err(format!("fields build {built:?}, decoded {decoded:?}"));
    }

    // 3. Encoding gives the canonical bytes, and encoded_len is exact. The reference never
    //    re-sends unknown SETUP parameters, so the canonical form leaves them out.
    let canonical = match built {
        Wire::Setup(setup) => Wire::Setup(Setup {
            unknown: Vec::new(),
            ..setup
        }),
        other => other,
    };
    let (encoded, len) = canonical
        .encode(v)
        .map_err(|e| format!("encode failed: {e:?}"))?;
    let want = if vector.decode_only {
        vector
            .reencoded_hex
            .clone()
            .ok_or("decode-only vector without reencoded_hex")?
    } else {
        vector.hex.clone()
    };
    if hex::encode(&encoded) != want {
        return Err(format!("encoded {} want {want}", hex::encode(&encoded)));
    }
    if len != encoded.len() {
        return Err(format!("encoded_len {len} but wrote {}", encoded.len()));
    }
    if let Wire::Frame { prev, frame } = &decoded {
        // The header's delta is the vector's timestamp_delta.
        let header = FrameHeader::decode_exact(&bytes[..bytes.len() - frame.payload.len()], v)
            .map_err(|e| format!("header: {e:?}"))?;
        if v.has_timestamps()
            && i128::from(header.delta) != i128::from(frame.timestamp) - i128::from(*prev)
        {
            return Err("header delta mismatch".into());
        }
    }
    Ok(())
}

fn run_message_file(file: &str, v: Version, expected: usize, expected_decode_only: usize) {
    let vectors: Vec<Vector> = load(file);
    let mut failures = Vec::new();
    let mut ids = BTreeSet::new();
    for vector in &vectors {
        assert!(
            ids.insert(vector.id.clone()),
            "{file}: duplicate id {}",
            vector.id
        );
        if let Err(e) = check_vector(vector, v) {
            failures.push(format!("{file} {}: {e}", vector.id));
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert_eq!(vectors.len(), expected, "{file}: vector count");
    assert_eq!(
        vectors.iter().filter(|v| v.decode_only).count(),
        expected_decode_only,
        "{file}"
    );
}

#[test]
fn lite05_message_vectors() {
    run_message_file("lite-05.json", Version::Lite05, 234, 16);
}

#[test]
fn lite04_message_vectors() {
    run_message_file("lite-04.json", Version::Lite04, 139, 6);
}

#[test]
fn lite03_message_vectors() {
    run_message_file("lite-03.json", Version::Lite03, 124, 6);
}

#[test]
fn lite06_message_vectors() {
    run_message_file("lite-06.json", Version::Lite06, 42, 1);
}

// ---------------------------------------------------------------- stream transcripts

fn check_transcript(t: &Transcript) -> Result<usize, String> {
    let v = version(&t.version);
    let bytes = unhex(&t.hex);
    let mut input = &bytes[..];
    let mut frames = FrameDecoder::new();
    let mut encoder = FrameEncoder::new();
    let mut rebuilt = Vec::new();
    for (i, m) in t.messages.iter().enumerate() {
        let direction = m.fields.get("direction").and_then(Value::as_str);
        let before = input.len();
        let decoded = decode(&m.message, direction, &mut input, v, &mut frames)
            .map_err(|e| format!("message {i} ({}): decode {e:?}", m.message))?;
        let used = &bytes[bytes.len() - before..bytes.len() - input.len()];
        if hex::encode(used) != m.hex {
            return Err(format!(
                "message {i}: consumed {} want {}",
                hex::encode(used),
                m.hex
            ));
        }
        let (name, mut fields) = to_fields(&decoded, v);
        let mut expected = m.fields.clone();
        if m.message == "SETUP" {
            expected
                .as_object_mut()
                .and_then(|o| o.remove("parameters"));
        }
        if name != m.message || fields != expected {
            fields = json!({ "got": fields, "want": expected });
            return Err(format!("message {i}: {name} {fields}"));
        }
        // Rebuild from the listed fields, frames with the stream's running encoder.
        let built = from_fields(&m.message, &m.fields, v);
        let encoded = match &built {
            Wire::Frame { prev, frame } => {
                if *prev != encoder.prev {
                    return Err(format!(
                        "message {i}: previous_timestamp {prev} but stream at {}",
                        encoder.prev
                    ));
                }
                let mut out = Vec::new();
                encoder
                    .encode(frame, &mut out, v)
                    .map_err(|e| format!("{e:?}"))?;
                out
            }
            other => {
                other
                    .encode(v)
                    .map_err(|e| format!("message {i}: encode {e:?}"))?
                    .0
            }
        };
        if hex::encode(&encoded) != m.hex {
            return Err(format!(
                "message {i}: encoded {} want {}",
                hex::encode(&encoded),
                m.hex
            ));
        }
        rebuilt.extend_from_slice(&encoded);
    }
    if !input.is_empty() {
        return Err(format!("{} bytes left over", input.len()));
    }
    if rebuilt != bytes {
        return Err("concatenated messages differ from the transcript".into());
    }
    Ok(t.messages.len())
}

fn run_transcripts(file: &str, expected: usize, expected_messages: usize) {
    let transcripts: Vec<Transcript> = load(file);
    let mut failures = Vec::new();
    let mut messages = 0;
    for t in &transcripts {
        match check_transcript(t) {
            Ok(n) => messages += n,
            Err(e) => failures.push(format!("{}: {e}", t.id)),
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert_eq!(transcripts.len(), expected, "{file}: transcript count");
    assert_eq!(messages, expected_messages, "{file}: message count");
}

#[test]
fn stream_transcripts() {
    run_transcripts("streams.json", 27, 68);
}

#[test]
fn lite06_stream_transcripts() {
    run_transcripts("lite-06-streams.json", 10, 23);
}

// ---------------------------------------------------------------- invalid inputs

/// Maps the reference's error name (and `short_kind`) to ours.
///
/// | reference                           | ours                                         |
/// |-------------------------------------|----------------------------------------------|
/// | `Short`, `short_kind: truncated`    | `Short` (more bytes would help; at FIN final) |
/// | `Short`, `short_kind: inside_message` | `Underflow` (rejected at once)             |
/// | `Long`                              | `Trailing`                                   |
/// | `InvalidString`                     | `InvalidString`                              |
/// | `InvalidValue`                      | `InvalidValue(_)`                            |
/// | `InvalidMessage(n)`                 | `InvalidMessage(n)`                          |
/// | `BoundsExceeded`                    | `BoundsExceeded`                             |
/// | `Version`                           | `Version`                                    |
/// | `Duplicate`                         | `Duplicate`                                  |
/// | `TooMany`                           | `TooMany`                                    |
/// | `WrongSize` (session)               | `WrongSize` (from `FrameDecoder::end_of_stream`) |
/// | `FrameTooLarge` (session)           | `FrameTooLarge`                              |
/// | `TooLarge` (lite-06-invalid.json only: our message cap) | `TooLarge`       |
fn expected_error(name: &str, short_kind: Option<&str>) -> fn(&DecodeError) -> bool {
    match (name, short_kind) {
        ("Short", Some("inside_message")) => |e| *e == DecodeError::Underflow,
        ("Short", _) => |e| *e == DecodeError::Short,
        ("Long", _) => |e| *e == DecodeError::Trailing,
        ("InvalidString", _) => |e| *e == DecodeError::InvalidString,
        ("InvalidValue", _) => |e| matches!(e, DecodeError::InvalidValue(_)),
        ("InvalidMessage(2)", _) => |e| *e == DecodeError::InvalidMessage(2),
        ("InvalidMessage(3)", _) => |e| *e == DecodeError::InvalidMessage(3),
        ("BoundsExceeded", _) => |e| *e == DecodeError::BoundsExceeded,
        ("Version", _) => |e| *e == DecodeError::Version,
        ("Duplicate", _) => |e| *e == DecodeError::Duplicate,
        ("TooMany", _) => |e| *e == DecodeError::TooMany,
        ("WrongSize", _) => |e| *e == DecodeError::WrongSize,
        ("FrameTooLarge", _) => |e| *e == DecodeError::FrameTooLarge,
        ("TooLarge", _) => |e| *e == DecodeError::TooLarge,
        (other, _) => panic!("no mapping for reference error {other}"),
    }
}

/// Decodes an invalid.json input; `Ok` carries the vector-style name and fields.
fn decode_invalid(entry: &Invalid, v: Version) -> Result<(String, Value), DecodeError> {
    let bytes = unhex(&entry.hex);
    if entry.message == "FRAME_SEQUENCE" {
        let frames = decode_frame_sequence(&bytes, v)?;
        let frames: Vec<Value> = frames
            .iter()
            .map(|f| {
                if v.has_timestamps() {
                    json!({ "timestamp": f.timestamp, "payload": hex::encode(&f.payload) })
                } else {
                    json!({ "payload": hex::encode(&f.payload) })
                }
            })
            .collect();
        return Ok(("FRAME_SEQUENCE".into(), json!({ "frames": frames })));
    }
    let direction = entry.context.as_ref().and_then(|c| c["direction"].as_str());
    let mut input = &bytes[..];
    let decoded = decode(
        &entry.message,
        direction,
        &mut input,
        v,
        &mut FrameDecoder::new(),
    )?;
    if !input.is_empty() {
        return Err(DecodeError::Trailing);
    }
    let (name, mut fields) = to_fields(&decoded, v);
    if name == "SETUP" {
        fields["parameters"] = raw_setup_parameters(&bytes);
    }
    Ok((name.into(), fields))
}

fn run_invalid(file: &str, expected: usize, expected_checks: (usize, usize)) {
    let entries: Vec<Invalid> = load(file);
    let mut failures = Vec::new();
    let (mut rejected, mut accepted) = (0, 0);
    for entry in &entries {
        for (name, error) in &entry.errors {
            let v = version(name);
            let error = error.as_str().expect("error name");
            let matches = expected_error(error, entry.short_kind.as_deref());
            match decode_invalid(entry, v) {
                Err(e) if matches(&e) => rejected += 1,
                other => failures.push(format!("{} on {v}: want {error}, got {other:?}", entry.id)),
            }
        }
        for (name, want) in &entry.accepted_by {
            let v = version(name);
            match decode_invalid(entry, v) {
                Ok((message, fields)) if message == want["message"] && fields == want["fields"] => {
                    accepted += 1;
                }
                other => failures.push(format!("{} on {v}: want {want}, got {other:?}", entry.id)),
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert_eq!(entries.len(), expected, "{file}: entry count");
    assert_eq!((rejected, accepted), expected_checks, "{file}: checks run");
}

#[test]
fn invalid_inputs() {
    run_invalid("invalid.json", 131, (194, 20));
}

#[test]
fn lite06_invalid_inputs() {
    run_invalid("lite-06-invalid.json", 22, (24, 9));
}

// ---------------------------------------------------------------- error codes

/// moq-lite-06.md section 7.3, "Old (moq-lite-05.md) to new": `(canonical, stream, session)`
/// on lite-06 (`None` = "—" in the spec), and identity on lite-05.
#[test]
fn lite06_error_code_translation() {
    let rows: &[(ErrorCode, Option<u32>, Option<u32>)] = &[
        (ErrorCode::CANCEL, Some(1), Some(0)),
        (ErrorCode::OLD, Some(0x34), None),
        (ErrorCode::DECODE, Some(0x12), Some(3)),
        (ErrorCode::UNAUTHORIZED, Some(0x3), Some(2)),
        (ErrorCode::DUPLICATE, Some(0), Some(3)),
        (ErrorCode::NOT_FOUND, Some(0x33), None),
        (ErrorCode::PROTOCOL_VIOLATION, Some(3), Some(3)),
        (ErrorCode::DROPPED, Some(0), None),
        (ErrorCode::LAGGED, Some(5), None),
        (ErrorCode::UNROUTABLE, Some(0x36), None),
        (ErrorCode::EVICTED, Some(0x35), None),
        (ErrorCode::REQUIRED_EXTENSION, None, Some(1)),
        (ErrorCode::VERSION, None, Some(0x15)),
    ];
    for &(code, stream, session) in rows {
        for (scope, want) in [(CodeScope::Stream, stream), (CodeScope::Session, session)] {
            if let Some(want) = want {
                assert_eq!(
                    code.to_wire(Version::Lite06, scope),
                    want,
                    "{code:?} {scope:?}"
                );
            }
            assert_eq!(
                code.to_wire(Version::Lite05, scope),
                code.0,
                "{code:?} {scope:?}"
            );
        }
    }
    // Reading: moq-lite-06.md section 10.6 "Code 2 decodes as DELIVERY_TIMEOUT; OLD is 0x34".
    let read = |code, scope| ErrorCode::from_wire(code, Version::Lite06, scope);
    assert_eq!(read(2, CodeScope::Stream), ErrorCode::TIMEOUT);
    assert_eq!(read(0x34, CodeScope::Stream), ErrorCode::OLD);
    assert_eq!(read(1, CodeScope::Stream), ErrorCode::CANCEL);
    assert_eq!(read(0x15, CodeScope::Session), ErrorCode::VERSION);
    // Application codes and unregistered values pass through.
    assert_eq!(read(566, CodeScope::Session), ErrorCode::app(502));
    assert_eq!(read(40, CodeScope::Stream), ErrorCode(40));
    assert_eq!(
        ErrorCode::from_wire(2, Version::Lite05, CodeScope::Stream),
        ErrorCode::OLD
    );
}

#[test]
fn every_vector_file_has_a_runner() {
    let mut files: Vec<String> = fs::read_dir(vectors_dir())
        .expect("vectors dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".json"))
        .collect();
    files.sort();
    assert_eq!(
        files,
        [
            "invalid.json",
            "lite-03.json",
            "lite-04.json",
            "lite-05.json",
            "lite-06-invalid.json",
            "lite-06-streams.json",
            "lite-06.json",
            "streams.json"
        ]
    );
}
