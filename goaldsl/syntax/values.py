"""How values are written for people, decided once.

Three notations, each for its place:

* ``show_value``: as in a .goal file (``"vip"``, ``true``, ``120``,
  ``[sms, email]`` for enum values): explain, ``goal eval``, the REPL,
  ``goal test``, the language server and the checker's messages;
* ``show_json``: as in a JSON Lines file: the input files' messages, the
  table of ``goal run`` and the REPL's contact attributes;
* ``show_text``: inside a text, as ``{contact.…}`` interpolation puts it
  (no quotes).

Durations are written by ``formatter.duration`` (as in source: ``2 days``).
"""
from __future__ import annotations

import json

TYPE_CHECKING = False  # (typing's, without importing typing: docs/performance.md, "Start-up")
if TYPE_CHECKING:
    from typing import Any


def show_value(v: Any, bare: bool = False) -> str:
    """A value as it would be written in a .goal file (``bare`` for enum
    values and step names, which are written without quotes); an unset value
    is ``(not set)``."""
    if v is None:
        return "(not set)"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return v if bare else json.dumps(v, ensure_ascii=False)
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    if isinstance(v, (int, float)):
        return str(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(show_value(x, bare) for x in v) + "]"
    return json.dumps(v, ensure_ascii=False, default=str)


def show_json(v: Any) -> str:
    """A value as JSON (non-ASCII text kept as it is); something JSON cannot
    hold is shown as Python writes it."""
    try:
        return json.dumps(v, ensure_ascii=False)
    except (TypeError, ValueError):
        return repr(v)


def show_text(v: Any) -> str:
    """A value inside a text: ``true``, ``120`` (a whole float without its
    ``.0``), text as it is."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def plural(n: int, word: str) -> str:
    """``1 event``, ``2 events``."""
    return f"{n} {word}{'' if n == 1 else 's'}"
