"""The same events in every input format, made from a JSON Lines log: a
Segment-style export (with the mapping file it needs), CSV and Parquet.

The tests (and bench/run.py) make their fixtures with these functions, so
every format is checked against the project's own JSON Lines.
"""
from __future__ import annotations

import csv
import json
from datetime import datetime, timezone
from pathlib import Path

RESERVED = ("id", "time", "contact", "type")


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]


def segment_name(typ: str) -> str:
    """``page.visited`` -> ``Page Visited``: the way Segment names events."""
    return " ".join(w.capitalize() for w in typ.replace("_", " ").replace(".", " ").split())


def write_segment(events: list[dict], out: Path) -> str:
    """A Segment/RudderStack export of the events; returns the mapping file
    text that maps its event names back to the program's event types."""
    names: dict[str, str] = {}
    with open(out, "w", encoding="utf-8") as f:
        for i, e in enumerate(events):
            fields = {k: v for k, v in e.items() if k not in RESERVED}
            msg: dict = {"type": "track", "userId": e["contact"], "timestamp": e["time"],
                         "context": {"library": {"name": "analytics.js"}}}
            if "id" in e:
                msg["messageId"] = e["id"]
            if e["type"] == "contact.updated":
                msg["type"] = "identify"
                msg["traits"] = fields.get("fields", {})
            else:
                name = segment_name(e["type"])
                names[name] = e["type"]
                msg["event"] = name
                msg["properties"] = fields
            if i % 3 == 1:  # the other spellings the spec allows
                msg["originalTimestamp"] = msg.pop("timestamp")
            if i % 5 == 2 and "messageId" in msg:
                msg["anonymousId"] = "anon-" + e["contact"]
            f.write(json.dumps(msg) + "\n")
    lines = ["[events]"] + [f'"{k}" = "{v}"' for k, v in sorted(names.items())]
    return "\n".join(lines) + "\n"


def _columns(events: list[dict]) -> list[str]:
    cols: list[str] = []
    for e in events:
        for k in e:
            if k not in RESERVED and k not in cols:
                cols.append(k)
    return cols


def _cell(v) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (dict, list)):
        return json.dumps(v)
    return str(v)


def write_csv(events: list[dict], out: Path) -> None:
    """One column per field name (``properties.NAME``), maps and lists as JSON text."""
    cols = _columns(events)
    with open(out, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["time", "contact", "type", "id"] + [f"properties.{c}" for c in cols])
        for e in events:
            w.writerow([e["time"], e["contact"], e["type"], e.get("id", "")] + [_cell(e.get(c)) for c in cols])


def write_parquet(events: list[dict], out: Path, row_group_size: int = 1 << 16) -> None:
    """Typed columns as a warehouse writes them: ``time`` a UTC timestamp,
    numbers as doubles, maps and lists as JSON text."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    cols = _columns(events)
    times = [datetime.fromisoformat(e["time"]).astimezone(timezone.utc) for e in events]
    data = {"time": pa.array(times, pa.timestamp("s", tz="UTC")),
            "contact": pa.array([e["contact"] for e in events], pa.string()),
            "type": pa.array([e["type"] for e in events], pa.string()),
            "id": pa.array([e.get("id") for e in events], pa.string())}
    for c in cols:
        vals = [e.get(c) for e in events]
        present = [v for v in vals if v is not None]
        if present and all(isinstance(v, bool) for v in present):
            data[c] = pa.array(vals, pa.bool_())
        elif present and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in present):
            if all(isinstance(v, int) for v in present):
                data[c] = pa.array(vals, pa.int64())
            else:
                data[c] = pa.array([None if v is None else float(v) for v in vals], pa.float64())
        else:
            data[c] = pa.array([None if v is None else (v if isinstance(v, str) else json.dumps(v)) for v in vals],
                               pa.string())
    pq.write_table(pa.table(data), out, row_group_size=row_group_size)
