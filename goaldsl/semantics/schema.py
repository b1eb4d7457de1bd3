"""The contacts schema, inferred from contact data.

Contact data is open: the language has no declaration for it. When a
program comes with contacts (``contacts.jsonl`` beside it, or ``--contacts``),
the kind of each attribute is read from the data, and the checker warns
(never errors) when a condition compares an attribute with a value of another
kind: ``contact.lead_score == "high"`` where every contact holds a number.
"""
from __future__ import annotations

import json
from pathlib import Path

#: Lines read to infer the schema; enough to see every attribute of a
#: well-formed file without reading a large one whole.
SAMPLE_LINES = 10_000


def _kind(v) -> str | None:
    if v is None:
        return None
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, (int, float)):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "list"
    return "map"


def infer_contact_schema(path: str | Path, limit: int = SAMPLE_LINES) -> dict[tuple[str, ...], str]:
    """Attribute path -> kind (number, string, bool, list, map) for every
    attribute whose non-null values all have one kind in the first ``limit``
    lines. Unreadable files and bad lines give no information, never an error:
    reading the inputs reports those."""
    seen: dict[tuple[str, ...], set[str]] = {}
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            for i, line in enumerate(f):
                if i >= limit:
                    break
                try:
                    rec = json.loads(line)
                except ValueError:
                    continue
                if not isinstance(rec, dict):
                    continue
                stack = [((), rec)]
                while stack:  # nested objects give dotted paths: contact.company.size
                    prefix, obj = stack.pop()
                    for k, v in obj.items():
                        p = prefix + (str(k),)
                        kind = _kind(v)
                        if kind is None:
                            continue
                        seen.setdefault(p, set()).add(kind)
                        if kind == "map" and len(p) < 8:
                            stack.append((p, v))
    except OSError:
        return {}
    return {p: next(iter(kinds)) for p, kinds in seen.items() if len(kinds) == 1}


def schema_beside(program: str | Path) -> dict[tuple[str, ...], str]:
    """The schema of ``contacts.jsonl`` in a program folder, or beside a file."""
    p = Path(program)
    folder = p if p.is_dir() else p.parent
    data = folder / "contacts.jsonl"
    return infer_contact_schema(data) if data.is_file() else {}
