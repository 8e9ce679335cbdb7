//! The JSON side of the vectors: building `moql_wire` values from a vector's `fields`,
//! turning decoded values back into vector-style fields, and decoding by message name.

use bytes::Bytes;
use moql_wire::{
    Announce, AnnounceMessage, AnnounceOk, AnnounceRequest, AnnounceStatus, BidiStream, Datagram,
    Decode, DecodeError, Encode, EncodeError, Fetch, Frame, FrameDecoder, FrameEncoder, Goaway,
    Group, Path, Probe, ProbeLevel, Role, Setup, Subscribe, SubscribeDrop, SubscribeEnd,
    SubscribeOk, SubscribeOkLegacy, SubscribeResponse, SubscribeUpdate, Track, TrackInfo,
    UniStream, Version, decode_varint,
};
use serde_json::{Value, json};

use crate::typed::{announce_message, announce_message_fields};
use crate::unhex;

// ---------------------------------------------------------------- one value of any kind

/// Any decoded wire value, so one runner can handle every message name.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Wire {
    Bidi(BidiStream),
    Uni(UniStream),
    Setup(Setup),
    AnnounceRequest(AnnounceRequest),
    AnnounceOk(AnnounceOk),
    Announce(Announce),
    /// lite-06 typed announcements.
    AnnounceMessage(AnnounceMessage),
    Subscribe(Subscribe),
    SubscribeUpdate(SubscribeUpdate),
    Response(SubscribeResponse),
    Track(Track),
    TrackInfo(TrackInfo),
    Fetch(Fetch),
    Probe(Probe),
    Goaway(Goaway),
    Group(Group),
    /// A frame and the timestamp it was coded against.
    Frame {
        prev: u64,
        frame: Frame,
    },
    Datagram(Datagram),
}

impl Wire {
    pub(crate) fn encode(&self, v: Version) -> Result<(Vec<u8>, usize), EncodeError> {
        fn enc<T: Encode>(t: &T, v: Version) -> Result<(Vec<u8>, usize), EncodeError> {
            Ok((t.encode_to_vec(v)?, t.encoded_len(v)))
        }
        match self {
            Self::Bidi(t) => enc(t, v),
            Self::Uni(t) => enc(t, v),
            Self::Setup(t) => enc(t, v),
            Self::AnnounceRequest(t) => enc(t, v),
            Self::AnnounceOk(t) => enc(t, v),
            Self::Announce(t) => enc(t, v),
            Self::AnnounceMessage(t) => enc(t, v),
            Self::Subscribe(t) => enc(t, v),
            Self::SubscribeUpdate(t) => enc(t, v),
            Self::Response(t) => enc(t, v),
            Self::Track(t) => enc(t, v),
            Self::TrackInfo(t) => enc(t, v),
            Self::Fetch(t) => enc(t, v),
            Self::Probe(t) => enc(t, v),
            Self::Goaway(t) => enc(t, v),
            Self::Group(t) => enc(t, v),
            Self::Datagram(t) => enc(t, v),
            Self::Frame { prev, frame } => {
                let mut encoder = FrameEncoder { prev: *prev };
                let len = encoder.encoded_len(frame, v);
                let mut out = Vec::new();
                encoder.encode(frame, &mut out, v)?;
                Ok((out, len))
            }
        }
    }
}

// ---------------------------------------------------------------- JSON fields -> value

pub(crate) fn u(fields: &Value, key: &str) -> u64 {
    fields[key]
        .as_u64()
        .unwrap_or_else(|| panic!("field {key} in {fields}"))
}

pub(crate) fn opt(fields: &Value, key: &str) -> Option<u64> {
    match &fields[key] {
        Value::Null => None,
        v => Some(
            v.as_u64()
                .unwrap_or_else(|| panic!("field {key} in {fields}")),
        ),
    }
}

pub(crate) fn s(fields: &Value, key: &str) -> String {
    fields[key]
        .as_str()
        .unwrap_or_else(|| panic!("field {key} in {fields}"))
        .to_string()
}

pub(crate) fn path(fields: &Value, key: &str) -> Path {
    Path::new(&s(fields, key)).expect("vector paths are valid")
}

pub(crate) fn byte(fields: &Value, key: &str) -> u8 {
    u8::try_from(u(fields, key)).expect("priority byte")
}

pub(crate) fn flag(fields: &Value, key: &str) -> bool {
    fields[key]
        .as_bool()
        .unwrap_or_else(|| panic!("field {key} in {fields}"))
}

pub(crate) fn payload(fields: &Value, key: &str) -> Bytes {
    Bytes::from(unhex(&s(fields, key)))
}

pub(crate) const KNOWN_SETUP_IDS: std::ops::RangeInclusive<u64> = 1..=5;

/// Builds the value a vector's `fields` describe.
pub(crate) fn from_fields(message: &str, f: &Value, v: Version) -> Wire {
    match message {
        "STREAM_TYPE" => match s(f, "direction").as_str() {
            "bidi" => Wire::Bidi(BidiStream::from_u64(u(f, "stream_type")).expect("bidi type")),
            _ => Wire::Uni(UniStream::from_u64(u(f, "stream_type")).expect("uni type")),
        },
        "SETUP" => Wire::Setup(Setup {
            probe: match u(f, "probe_level") {
                0 => ProbeLevel::None,
                1 => ProbeLevel::Report,
                _ => ProbeLevel::Increase,
            },
            path: f["path"].as_str().map(str::to_string),
            role: match opt(f, "role") {
                Some(1) => Role::Publisher,
                Some(2) => Role::Subscriber,
                _ => Role::Both,
            },
            cost: opt(f, "cost"),
            origin: opt(f, "origin"),
            unknown: {
                let mut unknown: Vec<(u64, Bytes)> = f["parameters"]
                    .as_array()
                    .expect("parameters")
                    .iter()
                    .filter(|p| !KNOWN_SETUP_IDS.contains(&u(p, "id")))
                    .map(|p| (u(p, "id"), payload(p, "value")))
                    .collect();
                unknown.sort_by_key(|(id, _)| *id);
                unknown
            },
        }),
        "ANNOUNCE_REQUEST" => Wire::AnnounceRequest(AnnounceRequest {
            prefix: path(f, "broadcast_path_prefix"),
            exclude_hop: opt(f, "exclude_hop").unwrap_or(0),
        }),
        "ANNOUNCE_OK" => Wire::AnnounceOk(AnnounceOk {
            hop_id: u(f, "hop_id"),
            active_count: u(f, "active_count"),
        }),
        "ANNOUNCE_BROADCAST" => Wire::Announce(Announce {
            status: if u(f, "announce_status") == 0 {
                AnnounceStatus::Ended
            } else {
                AnnounceStatus::Active
            },
            suffix: path(f, "broadcast_path_suffix"),
            hops: match f.get("hop_ids") {
                Some(ids) => ids
                    .as_array()
                    .expect("hop_ids")
                    .iter()
                    .map(|h| h.as_u64().expect("hop"))
                    .collect(),
                None => vec![0; usize::try_from(u(f, "hop_count")).expect("count")],
            },
        }),
        "ANNOUNCE_START" | "ANNOUNCE_END" | "ANNOUNCE_UPDATE" | "ANNOUNCE_UNKNOWN" => {
            Wire::AnnounceMessage(announce_message(message, f))
        }
        // lite-06 vectors have no `subscriber_ordered` (it is not on the wire) and carry
        // `frame_start` / `frame_end`; older ones the reverse. Missing keys are neutral.
        "SUBSCRIBE" => Wire::Subscribe(Subscribe {
            id: u(f, "subscribe_id"),
            broadcast: path(f, "broadcast_path"),
            track: s(f, "track_name"),
            priority: byte(f, "subscriber_priority"),
            ordered: v.has_ordered() && flag(f, "subscriber_ordered"),
            max_latency: u(f, "subscriber_max_latency"),
            start: opt(f, "group_start"),
            end: opt(f, "group_end"),
            frame_start: opt(f, "frame_start").unwrap_or(0),
            frame_end: opt(f, "frame_end"),
        }),
        "SUBSCRIBE_UPDATE" => Wire::SubscribeUpdate(SubscribeUpdate {
            priority: byte(f, "subscriber_priority"),
            ordered: v.has_ordered() && flag(f, "subscriber_ordered"),
            max_latency: u(f, "subscriber_max_latency"),
            start: opt(f, "group_start"),
            end: opt(f, "group_end"),
            frame_start: opt(f, "frame_start").unwrap_or(0),
            frame_end: opt(f, "frame_end"),
        }),
        "SUBSCRIBE_OK" if v.has_subscribe_start() => {
            Wire::Response(SubscribeResponse::Ok(SubscribeOk {
                group: u(f, "group"),
            }))
        }
        "SUBSCRIBE_OK" => Wire::Response(SubscribeResponse::OkLegacy(SubscribeOkLegacy {
            priority: byte(f, "publisher_priority"),
            ordered: flag(f, "publisher_ordered"),
            max_latency: u(f, "publisher_max_latency"),
            start: opt(f, "group_start"),
            end: opt(f, "group_end"),
        })),
        "SUBSCRIBE_END" => Wire::Response(SubscribeResponse::End(SubscribeEnd {
            group: u(f, "group"),
        })),
        "SUBSCRIBE_DROP" => Wire::Response(SubscribeResponse::Drop(SubscribeDrop {
            start: u(f, "group_start"),
            end: u(f, "group_end"),
            error_code: u(f, "error_code"),
        })),
        "TRACK" => Wire::Track(Track {
            broadcast: path(f, "broadcast_path"),
            track: s(f, "track_name"),
        }),
        "TRACK_INFO" => Wire::TrackInfo(TrackInfo {
            priority: byte(f, "publisher_priority"),
            ordered: v.has_ordered() && flag(f, "publisher_ordered"),
            max_latency: u(f, "publisher_max_latency"),
            timescale: u(f, "timescale"),
        }),
        "FETCH" => Wire::Fetch(Fetch {
            broadcast: path(f, "broadcast_path"),
            track: s(f, "track_name"),
            priority: byte(f, "subscriber_priority"),
            group: u(f, "group_sequence"),
            frame_start: opt(f, "frame_start").unwrap_or(0),
            frame_end: opt(f, "frame_end"),
        }),
        "PROBE" => Wire::Probe(Probe {
            bitrate: u(f, "bitrate"),
            rtt: opt(f, "rtt").unwrap_or(0),
        }),
        "GOAWAY" => Wire::Goaway(Goaway {
            uri: s(f, "new_session_uri"),
        }),
        "GROUP" => Wire::Group(Group {
            subscribe_id: u(f, "subscribe_id"),
            sequence: u(f, "group_sequence"),
            frame_start: opt(f, "frame_start").unwrap_or(0),
        }),
        "FRAME" => Wire::Frame {
            prev: opt(f, "previous_timestamp").unwrap_or(0),
            frame: Frame {
                timestamp: opt(f, "timestamp").unwrap_or(0),
                payload: payload(f, "payload"),
            },
        },
        "DATAGRAM" => Wire::Datagram(Datagram {
            subscribe_id: u(f, "subscribe_id"),
            sequence: u(f, "group_sequence"),
            timestamp: u(f, "timestamp"),
            payload: payload(f, "payload"),
        }),
        other => panic!("unknown message name {other}"),
    }
}

// ---------------------------------------------------------------- value -> JSON fields

pub(crate) fn response_fields(r: &SubscribeResponse) -> (&'static str, Value) {
    match r {
        SubscribeResponse::Ok(ok) => ("SUBSCRIBE_OK", json!({ "group": ok.group })),
        SubscribeResponse::End(end) => ("SUBSCRIBE_END", json!({ "group": end.group })),
        SubscribeResponse::OkLegacy(ok) => (
            "SUBSCRIBE_OK",
            json!({
                "publisher_priority": ok.priority,
                "publisher_ordered": ok.ordered,
                "publisher_max_latency": ok.max_latency,
                "group_start": ok.start,
                "group_end": ok.end,
            }),
        ),
        SubscribeResponse::Drop(d) => (
            "SUBSCRIBE_DROP",
            json!({ "group_start": d.start, "group_end": d.end, "error_code": d.error_code }),
        ),
    }
}

/// The vector-style name and fields of a decoded value. SETUP's raw `parameters` list is
/// compared separately (it records wire order and non-minimal forms).
pub(crate) fn to_fields(value: &Wire, v: Version) -> (&'static str, Value) {
    match value {
        Wire::Bidi(t) => (
            "STREAM_TYPE",
            json!({ "stream_type": t.into_u64(), "direction": "bidi", "name": format!("{t:?}") }),
        ),
        Wire::Uni(t) => (
            "STREAM_TYPE",
            json!({ "stream_type": t.into_u64(), "direction": "uni", "name": format!("{t:?}") }),
        ),
        Wire::Setup(setup) => (
            "SETUP",
            json!({
                "probe_level": match setup.probe {
                    ProbeLevel::None => 0,
                    ProbeLevel::Report => 1,
                    ProbeLevel::Increase => 2,
                },
                "path": setup.path,
                "role": match setup.role {
                    Role::Both => None,
                    Role::Publisher => Some(1),
                    Role::Subscriber => Some(2),
                },
                "cost": setup.cost,
                "origin": setup.origin,
            }),
        ),
        Wire::AnnounceRequest(r) => {
            let mut f = json!({ "broadcast_path_prefix": r.prefix.as_str() });
            if v.has_exclude_hop() {
                f["exclude_hop"] = json!(r.exclude_hop);
            }
            ("ANNOUNCE_REQUEST", f)
        }
        Wire::AnnounceOk(ok) => (
            "ANNOUNCE_OK",
            json!({ "hop_id": ok.hop_id, "active_count": ok.active_count }),
        ),
        Wire::Announce(a) => {
            let mut f = json!({
                "announce_status": match a.status { AnnounceStatus::Ended => 0, AnnounceStatus::Active => 1 },
                "broadcast_path_suffix": a.suffix.as_str(),
            });
            if v.has_hop_ids() {
                f["hop_ids"] = json!(a.hops);
            } else {
                f["hop_count"] = json!(a.hops.len());
            }
            ("ANNOUNCE_BROADCAST", f)
        }
        Wire::AnnounceMessage(m) => announce_message_fields(m),
        Wire::Subscribe(sub) => {
            let mut f = json!({
                "subscribe_id": sub.id,
                "broadcast_path": sub.broadcast.as_str(),
                "track_name": sub.track,
                "subscriber_priority": sub.priority,
                "subscriber_max_latency": sub.max_latency,
                "group_start": sub.start,
                "group_end": sub.end,
            });
            delivery_fields(&mut f, v, sub.ordered, sub.frame_start, sub.frame_end);
            ("SUBSCRIBE", f)
        }
        Wire::SubscribeUpdate(up) => {
            let mut f = json!({
                "subscriber_priority": up.priority,
                "subscriber_max_latency": up.max_latency,
                "group_start": up.start,
                "group_end": up.end,
            });
            delivery_fields(&mut f, v, up.ordered, up.frame_start, up.frame_end);
            ("SUBSCRIBE_UPDATE", f)
        }
        Wire::Response(r) => response_fields(r),
        Wire::Track(t) => (
            "TRACK",
            json!({ "broadcast_path": t.broadcast.as_str(), "track_name": t.track }),
        ),
        Wire::TrackInfo(i) => {
            let mut f = json!({
                "publisher_priority": i.priority,
                "publisher_max_latency": i.max_latency,
                "timescale": i.timescale,
            });
            if v.has_ordered() {
                f["publisher_ordered"] = json!(i.ordered);
            }
            ("TRACK_INFO", f)
        }
        Wire::Fetch(fe) => {
            let mut f = json!({
                "broadcast_path": fe.broadcast.as_str(),
                "track_name": fe.track,
                "subscriber_priority": fe.priority,
                "group_sequence": fe.group,
            });
            if v.has_frame_bounds() {
                f["frame_start"] = json!(fe.frame_start);
                f["frame_end"] = json!(fe.frame_end);
            }
            ("FETCH", f)
        }
        Wire::Probe(p) => {
            let mut f = json!({ "bitrate": p.bitrate });
            if v.probe_has_rtt() {
                f["rtt"] = json!(p.rtt);
            }
            ("PROBE", f)
        }
        Wire::Goaway(g) => ("GOAWAY", json!({ "new_session_uri": g.uri })),
        Wire::Group(g) => {
            let mut f = json!({ "subscribe_id": g.subscribe_id, "group_sequence": g.sequence });
            if v.has_frame_bounds() {
                f["frame_start"] = json!(g.frame_start);
            }
            ("GROUP", f)
        }
        Wire::Frame { prev, frame } => {
            let payload = hex::encode(&frame.payload);
            if v.has_timestamps() {
                let delta = i128::from(frame.timestamp) - i128::from(*prev);
                let delta = i64::try_from(delta).expect("delta fits");
                (
                    "FRAME",
                    json!({
                        "previous_timestamp": prev,
                        "timestamp": frame.timestamp,
                        "timestamp_delta": delta,
                        "payload": payload,
                    }),
                )
            } else {
                ("FRAME", json!({ "payload": payload }))
            }
        }
        Wire::Datagram(d) => (
            "DATAGRAM",
            json!({
                "subscribe_id": d.subscribe_id,
                "group_sequence": d.sequence,
                "timestamp": d.timestamp,
                "payload": hex::encode(&d.payload),
            }),
        ),
    }
}

/// The per-version SUBSCRIBE / SUBSCRIBE_UPDATE keys: `subscriber_ordered` before lite-06,
/// `frame_start` / `frame_end` on lite-06.
fn delivery_fields(
    f: &mut Value,
    v: Version,
    ordered: bool,
    frame_start: u64,
    frame_end: Option<u64>,
) {
    if v.has_ordered() {
        f["subscriber_ordered"] = json!(ordered);
    }
    if v.has_frame_bounds() {
        f["frame_start"] = json!(frame_start);
        f["frame_end"] = json!(frame_end);
    }
}

// ---------------------------------------------------------------- decoding by name

/// Decodes one `message` from the front of `input`, advancing it on success.
///
/// `fields` supplies stream state the bytes do not carry (STREAM_TYPE direction); `frames`
/// is the running frame state of the stream.
pub(crate) fn decode(
    message: &str,
    direction: Option<&str>,
    input: &mut &[u8],
    v: Version,
    frames: &mut FrameDecoder,
) -> Result<Wire, DecodeError> {
    fn dec<T: Decode>(input: &mut &[u8], v: Version) -> Result<T, DecodeError> {
        let (value, used) = T::decode_from(input, v)?;
        *input = &input[used..];
        Ok(value)
    }
    Ok(match message {
        "STREAM_TYPE" => match direction.expect("direction") {
            "bidi" => Wire::Bidi(dec(input, v)?),
            _ => Wire::Uni(dec(input, v)?),
        },
        "SETUP" => Wire::Setup(dec(input, v)?),
        "ANNOUNCE_REQUEST" => Wire::AnnounceRequest(dec(input, v)?),
        "ANNOUNCE_OK" => Wire::AnnounceOk(dec(input, v)?),
        "ANNOUNCE_BROADCAST" => Wire::Announce(dec(input, v)?),
        "ANNOUNCE_START" | "ANNOUNCE_END" | "ANNOUNCE_UPDATE" | "ANNOUNCE_UNKNOWN" => {
            Wire::AnnounceMessage(dec(input, v)?)
        }
        "SUBSCRIBE" => Wire::Subscribe(dec(input, v)?),
        "SUBSCRIBE_UPDATE" => Wire::SubscribeUpdate(dec(input, v)?),
        "SUBSCRIBE_OK" | "SUBSCRIBE_END" | "SUBSCRIBE_DROP" | "SUBSCRIBE_RESPONSE" => {
            Wire::Response(dec(input, v)?)
        }
        "TRACK" => Wire::Track(dec(input, v)?),
        "TRACK_INFO" => Wire::TrackInfo(dec(input, v)?),
        "FETCH" => Wire::Fetch(dec(input, v)?),
        "PROBE" => Wire::Probe(dec(input, v)?),
        "GOAWAY" => Wire::Goaway(dec(input, v)?),
        "GROUP" => Wire::Group(dec(input, v)?),
        "DATAGRAM" => Wire::Datagram(dec(input, v)?),
        "FRAME" => {
            let prev = frames.prev;
            let frame = frames.decode(input, v)?;
            Wire::Frame { prev, frame }
        }
        other => panic!("unknown message name {other}"),
    })
}

/// Decodes a FRAME_SEQUENCE: frames until the input ends, then the end-of-stream rules.
pub(crate) fn decode_frame_sequence(bytes: &[u8], v: Version) -> Result<Vec<Frame>, DecodeError> {
    let mut decoder = FrameDecoder::new();
    let mut input = bytes;
    let mut frames = Vec::new();
    loop {
        match decoder.decode(&mut input, v) {
            Ok(frame) => frames.push(frame),
            Err(DecodeError::Short) => {
                decoder.end_of_stream(input, v)?;
                return Ok(frames);
            }
            Err(e) => return Err(e),
        }
    }
}

/// SETUP's raw parameter list as it appears on the wire, parsed independently of `Setup`.
pub(crate) fn raw_setup_parameters(bytes: &[u8]) -> Value {
    let mut input = bytes;
    decode_varint(&mut input).expect("length");
    let count = decode_varint(&mut input).expect("count");
    let mut params = Vec::new();
    for _ in 0..count {
        let id = decode_varint(&mut input).expect("id");
        let len = usize::try_from(decode_varint(&mut input).expect("len")).expect("len");
        params.push(json!({ "id": id, "value": hex::encode(&input[..len]) }));
        input = &input[len..];
    }
    Value::Array(params)
}
