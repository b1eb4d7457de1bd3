"""Completion in the REPL: conditions through the completion shared with
the language server (``tools/completion.py``), and the meta-commands'
arguments (contact ids, goal names, zones, files, event fields)."""
from __future__ import annotations

import os
import re

from ...runtime.mapping import FORMATS
from ...semantics.calendar import known_zones
from ..completion import Completion, complete, word_before
from .commands import ALIASES, COMMANDS, LOAD_OPTIONS
from .workspace import Workspace


class Completer:
    """Completions over a session's workspace."""

    def __init__(self, ws: Workspace):
        self.ws = ws

    def complete(self, text: str, offset: int) -> tuple[int, list[Completion]]:
        """Completions at ``offset``: how many characters before the cursor
        they replace, and the candidates."""
        before = text[:offset]
        if before.lstrip().startswith(":"):
            return self._complete_command(before.lstrip()[1:])
        items = complete(text, offset, self.ws.program.ir, attributes=self.ws.attribute_paths(),
                         steps=self.ws.step_names(), statement=False)
        return len(word_before(text, offset)), items

    def _complete_command(self, before: str) -> tuple[int, list[Completion]]:
        if " " not in before:
            low = before.lower()
            return len(before) + 1, [Completion(":" + c, "command", COMMANDS[c][1],
                                                insert=":" + c + (" " if COMMANDS[c][0] else ""))
                                     for c in COMMANDS if c.startswith(low)]
        word, _, rest = before.partition(" ")
        word = ALIASES.get(word.lower(), word.lower())
        rest = rest.lstrip()
        if word == "contact":
            low = rest.lower()
            ids = [i for i in self.ws.contact_ids() if i.lower().startswith(low)][:200] or \
                [i for i in self.ws.contact_ids() if low in i.lower()][:200]
            return len(rest), [Completion(i, "contact", "contact id") for i in ids]
        if word == "explain":
            return len(rest), _prefixed([Completion(g, "goal", "goal") for g in self.ws.goal_names()], rest)
        if word == "tz":
            return len(rest), _prefixed([Completion(z, "zone") for z in sorted(known_zones())], rest, limit=50)
        if word == "at":
            return len(rest), _prefixed([Completion("now", "keyword", "the end of the log")], rest)
        if word == "advance":
            return len(rest), _prefixed([Completion(x, "duration") for x in ("5 minutes", "1 hour", "1 day", "7 days")], rest)
        if word == "load":
            if not re.search(r"(?:^|\s)--", rest):  # a path alone (it may hold spaces)
                return len(rest), _path_completions(rest)
            before_cur, _, cur = rest.rpartition(" ")
            prev = before_cur.split()[-1] if before_cur.split() else ""
            if prev == "--input-format":
                return len(cur), _prefixed([Completion(f, "format", "input format") for f in FORMATS], cur)
            if cur.startswith("-"):
                return len(cur), _prefixed([Completion(o, "option", LOAD_OPTIONS[o] or "flag",
                                                       insert=o + " ") for o in LOAD_OPTIONS], cur)
            return len(cur), _path_completions(cur)
        if word == "event":
            return self._complete_event(rest)
        return 0, []

    def _complete_event(self, rest: str) -> tuple[int, list[Completion]]:
        events = self.ws.program.ir.events
        parts = rest.split(" ")
        if len(parts) == 1:
            return len(rest), _prefixed([Completion(e, "event", "event") for e in sorted(events)], rest)
        decl = events.get(parts[0])
        if decl is None:
            return 0, []
        cur = parts[-1]
        given = {p.partition("=")[0] for p in parts[1:-1]}
        if "=" in cur:
            key, _, val = cur.partition("=")
            ft = decl.fields.get(key)
            if ft is not None and ft.kind == "enum":
                return len(val), _prefixed([Completion(v, "enum", f"{parts[0]}.{key}") for v in ft.values], val)
            if ft is not None and ft.kind == "step":
                return len(val), _prefixed([Completion(s, "step", "step") for s in self.ws.step_names()], val)
            return 0, []
        return len(cur), _prefixed([Completion(f, "field", t.describe(), insert=f + "=")
                                    for f, t in decl.fields.items() if f not in given], cur)


def _prefixed(items: list[Completion], prefix: str, limit: int = 200) -> list[Completion]:
    low = prefix.lower()
    out = [c for c in items if c.label.lower().startswith(low)]
    if not out and low:
        out = [c for c in items if low in c.label.lower()]
    return out[:limit]


#: The files :load completes: programs, data in every format (compressed too), mapping files.
_LOADABLE = (".goal", ".jsonl", ".ndjson", ".json", ".csv", ".tsv", ".parquet", ".pq", ".toml")


def _path_completions(prefix: str) -> list[Completion]:
    base = os.path.expanduser(prefix)
    folder, _, start = base.rpartition("/")
    try:
        names = sorted(os.listdir(folder or "."))
    except OSError:
        return []
    out = []
    for n in names:
        if n.startswith(start) and not n.startswith("."):
            full = os.path.join(folder, n) if folder else n
            is_dir = os.path.isdir(full)
            plain = n[: -len(n.rpartition(".")[2]) - 1] if n.endswith((".gz", ".zst")) else n
            if is_dir or plain.endswith(_LOADABLE):
                shown = (prefix[: len(prefix) - len(start)] + n) + ("/" if is_dir else "")
                out.append(Completion(shown, "path", "folder" if is_dir else "file"))
    return out
