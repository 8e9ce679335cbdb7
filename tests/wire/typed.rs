//! Vector fields of the lite-06 typed announcements (moq-lite-06.md sections 6.4–6.6):
//! `ANNOUNCE_START {broadcast_path_suffix, hop_ids, warm_cost, cold_cost}`,
//! `ANNOUNCE_END {announce_id}`, `ANNOUNCE_UPDATE {announce_id, hop_ids, warm_cost,
//! cold_cost}` and `ANNOUNCE_UNKNOWN {type, length}` (a skipped body).

use moql_wire::{AnnounceEnd, AnnounceMessage, AnnounceStart, AnnounceUpdate, RouteCost};
use serde_json::{Value, json};

use crate::fields::{path, u};

fn hops(f: &Value) -> Vec<u64> {
    f["hop_ids"]
        .as_array()
        .expect("hop_ids")
        .iter()
        .map(|h| h.as_u64().expect("hop"))
        .collect()
}

fn cost(f: &Value) -> RouteCost {
    RouteCost {
        warm: u(f, "warm_cost"),
        cold: u(f, "cold_cost"),
    }
}

/// Builds the message a vector's `fields` describe.
pub(crate) fn announce_message(message: &str, f: &Value) -> AnnounceMessage {
    match message {
        "ANNOUNCE_START" => AnnounceMessage::Start(AnnounceStart {
            suffix: path(f, "broadcast_path_suffix"),
            hops: hops(f),
            cost: cost(f),
        }),
        "ANNOUNCE_END" => AnnounceMessage::End(AnnounceEnd {
            id: u(f, "announce_id"),
        }),
        "ANNOUNCE_UPDATE" => AnnounceMessage::Update(AnnounceUpdate {
            id: u(f, "announce_id"),
            hops: hops(f),
            cost: cost(f),
        }),
        "ANNOUNCE_UNKNOWN" => AnnounceMessage::Unknown {
            kind: u(f, "type"),
            len: u(f, "length"),
        },
        other => panic!("not a typed announcement: {other}"),
    }
}

/// The vector-style name and fields of a decoded message.
pub(crate) fn announce_message_fields(m: &AnnounceMessage) -> (&'static str, Value) {
    let fields = match m {
        AnnounceMessage::Start(s) => json!({
            "broadcast_path_suffix": s.suffix.as_str(),
            "hop_ids": s.hops,
            "warm_cost": s.cost.warm,
            "cold_cost": s.cost.cold,
        }),
        AnnounceMessage::End(e) => json!({ "announce_id": e.id }),
        AnnounceMessage::Update(up) => json!({
            "announce_id": up.id,
            "hop_ids": up.hops,
            "warm_cost": up.cost.warm,
            "cold_cost": up.cost.cold,
        }),
        AnnounceMessage::Unknown { kind, len } => json!({ "type": kind, "length": len }),
    };
    (m.name(), fields)
}
