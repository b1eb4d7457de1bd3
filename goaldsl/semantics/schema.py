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

TYPE_CHECKING = False  # (typing's, without importing typing: docs/performance.md, "Start-up")
if TYPE_CHECKING:
    from typing import Iterator

from .ir import value_kind
from .loader import data_beside

#: Lines read to infer the schema; enough to see every attribute of a
#: well-formed file without reading a large one whole.
SAMPLE_LINES = 10_000


def read_records(path: str | Path, limit: int = SAMPLE_LINES) -> Iterator[dict]:
    """The JSON objects on the first ``limit`` lines of a JSON Lines file.
    Unreadable files and bad lines give nothing, never an error: reading the
    inputs reports those."""
    try:
        with open(path, encoding="utf-8-sig", errors="replace") as f:  # -sig: a leading BOM is not data
            for i, line in enumerate(f):
                if i >= limit:
                    break
                try:
                    rec = json.loads(line)
                except ValueError:
                    continue
                if isinstance(rec, dict):
                    yield rec
    except OSError:
        return


def infer_contact_schema(path: str | Path, limit: int = SAMPLE_LINES) -> dict[tuple[str, ...], str]:
    """Attribute path -> kind (number, string, bool, list, map) for every
    attribute whose non-null values all have one kind in the first ``limit``
    lines."""
    seen: dict[tuple[str, ...], set[str]] = {}
    for rec in read_records(path, limit):
        stack = [((), rec)]
        while stack:  # nested objects give dotted paths: contact.company.size
            prefix, obj = stack.pop()
            for k, v in obj.items():
                p = prefix + (str(k),)
                kind = value_kind(v)
                if kind is None:
                    continue
                seen.setdefault(p, set()).add(kind)
                if kind == "map" and len(p) < 8:
                    stack.append((p, v))
    return {p: next(iter(kinds)) for p, kinds in seen.items() if len(kinds) == 1}


def schema_beside(program: str | Path) -> dict[tuple[str, ...], str]:
    """The schema of ``contacts.jsonl`` in a program folder, or beside a file."""
    data = data_beside(program)[0]
    return infer_contact_schema(data) if data is not None else {}
