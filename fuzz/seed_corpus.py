#!/usr/bin/env python3
"""Regenerates fuzz/corpus/<target>/ from tests/vectors/*.json.

Each vector's bytes (after the stream type, where a transcript has one) become one seed for
the target whose decoder reads that message. Seeds above 4 KiB are skipped to keep the
corpus small. File names start with "seed-" because .gitignore drops hex-named files (the
ones libFuzzer itself adds). Run from anywhere: python3 fuzz/seed_corpus.py
"""

import json
import pathlib
import shutil

ROOT = pathlib.Path(__file__).resolve().parent.parent
VECTORS = ROOT / "tests" / "vectors"
CORPUS = ROOT / "fuzz" / "corpus"
MAX_SEED = 4096

TARGET = {
    "STREAM_TYPE": "stream_type",
    "SETUP": "setup",
    "ANNOUNCE_REQUEST": "announce_stream",
    "ANNOUNCE_OK": "announce_stream",
    "ANNOUNCE_BROADCAST": "announce_stream",
    "SUBSCRIBE": "subscribe_stream",
    "SUBSCRIBE_UPDATE": "subscribe_stream",
    "SUBSCRIBE_OK": "subscribe_stream",
    "SUBSCRIBE_END": "subscribe_stream",
    "SUBSCRIBE_DROP": "subscribe_stream",
    "SUBSCRIBE_RESPONSE": "subscribe_stream",
    "TRACK": "track",
    "TRACK_INFO": "track",
    "FETCH": "fetch",
    "FRAME": "fetch",
    "FRAME_SEQUENCE": "fetch",
    "PROBE": "probe",
    "GOAWAY": "goaway",
    "GROUP": "group_stream",
    "DATAGRAM": "datagram",
}


def main() -> None:
    seeds: dict[str, dict[bytes, str]] = {t: {} for t in set(TARGET.values())}

    def add(target: str, name: str, data: bytes) -> None:
        if len(data) <= MAX_SEED:
            seeds[target].setdefault(data, name)

    for file in ["lite-05.json", "lite-04.json", "lite-03.json"]:
        tag = file.removesuffix(".json").replace("-", "")
        for v in json.loads((VECTORS / file).read_text()):
            add(TARGET[v["message"]], f"seed-{tag}-{v['id']}", bytes.fromhex(v["hex"]))
    for t in json.loads((VECTORS / "streams.json").read_text()):
        msgs = t["messages"]
        if msgs and msgs[0]["message"] == "STREAM_TYPE":
            msgs = msgs[1:]
        if not msgs:
            continue
        data = b"".join(bytes.fromhex(m["hex"]) for m in msgs)
        add(TARGET[msgs[0]["message"]], f"seed-stream-{t['id']}", data)
    for e in json.loads((VECTORS / "invalid.json").read_text()):
        add(TARGET[e["message"]], f"seed-invalid-{e['id']}", bytes.fromhex(e["hex"]))

    if CORPUS.exists():
        for d in CORPUS.iterdir():
            for f in d.glob("seed-*"):
                f.unlink()
    for target, items in seeds.items():
        d = CORPUS / target
        d.mkdir(parents=True, exist_ok=True)
        for data, name in items.items():
            (d / name).write_bytes(data)


if __name__ == "__main__":
    main()
