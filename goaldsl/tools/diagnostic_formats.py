"""Diagnostics as documents for tools: JSON and SARIF 2.1.0.

``goal check --format json|sarif`` and ``goal lint --format json|sarif``
print these. JSON is our own small document (every diagnostic as
``Diagnostic.to_json`` gives it, plus counts). SARIF is the OASIS Static
Analysis Results Interchange Format, version 2.1.0, which code-review tools
(GitHub code scanning, Azure DevOps, VS Code's SARIF viewer) display
inline. Columns are in characters (``columnKind: unicodeCodePoints``), as
everywhere else in goal.
"""
from __future__ import annotations

import json
from pathlib import PurePosixPath
from typing import Iterable, Mapping, Optional
from urllib.parse import quote

from .. import __version__
from ..syntax.codes import CODES
from ..syntax.diagnostics import Diagnostic

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
SARIF_VERSION = "2.1.0"


def counts(diags: Iterable[Diagnostic]) -> dict:
    diags = list(diags)
    errors = sum(d.is_error for d in diags)
    return {"errors": errors, "warnings": len(diags) - errors}


def to_json_document(diags: Iterable[Diagnostic], files: int) -> str:
    diags = list(diags)
    doc = {"files": files, **counts(diags), "diagnostics": [d.to_json() for d in diags]}
    return json.dumps(doc, indent=2, ensure_ascii=False)


def _uri(file: str) -> str:
    # A relative path stays relative (SARIF resolves it against the
    # repository root the viewer knows); separators become '/'.
    return quote(str(PurePosixPath(*file.replace("\\", "/").split("/"))), safe="/:")


def _region(s) -> dict:
    region = {"startLine": s.line, "startColumn": s.col}
    if (s.end_line, s.end_col) > (s.line, s.col):
        region.update(endLine=s.end_line, endColumn=s.end_col)
    return region


def _location(span, message: Optional[str] = None) -> dict:
    loc = {"physicalLocation": {"artifactLocation": {"uri": _uri(span.file)}, "region": _region(span)}}
    if message:
        loc["message"] = {"text": message}
    return loc


def _message(d: Diagnostic) -> str:
    parts = [d.summary]
    if d.detail:
        parts.append(d.detail)
    if d.hint:
        parts.append(f"hint: {d.hint}")
    return "\n".join(parts)


def to_sarif(diags: Iterable[Diagnostic], rules: Mapping[str, str] | None = None,
             tool: str = "goal") -> dict:
    """A SARIF log with one run. Rules are described by their line in
    ``codes.CODES``, or by ``rules`` (code -> one-line description)."""
    diags = list(diags)
    rules = dict(rules or {})
    described: dict[str, str] = {}
    for d in diags:
        described.setdefault(d.code, rules.get(d.code) or CODES.get(d.code) or d.summary)
    rule_ids = sorted(described)
    index = {r: i for i, r in enumerate(rule_ids)}
    results = []
    for d in diags:
        res: dict = {"ruleId": d.code, "ruleIndex": index[d.code],
                     "level": "error" if d.is_error else "warning",
                     "message": {"text": _message(d)}}
        if d.span is not None:
            res["locations"] = [_location(d.span)]
        if d.related:
            res["relatedLocations"] = [dict(_location(r.span, r.message), id=i)
                                       for i, r in enumerate(d.related)]
        results.append(res)
    driver = {"name": tool, "version": __version__, "semanticVersion": __version__,
              "rules": [{"id": r, "shortDescription": {"text": described[r]}} for r in rule_ids]}
    return {"$schema": SARIF_SCHEMA, "version": SARIF_VERSION,
            "runs": [{"tool": {"driver": driver}, "columnKind": "unicodeCodePoints", "results": results}]}


def to_sarif_document(diags: Iterable[Diagnostic], rules: Mapping[str, str] | None = None) -> str:
    return json.dumps(to_sarif(diags, rules), indent=2, ensure_ascii=False)
