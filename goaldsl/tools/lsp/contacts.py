"""The contact attributes a document sees: those of the contacts.jsonl
files around it (read again only when they change) and those the program
uses; the contacts schema `goal check` infers."""
from __future__ import annotations

import bisect
import math
import re
from pathlib import Path

from pygls import uris

from ...semantics.effects import sets_by_name
from ...semantics.loader import CONTACTS_FILE
from ...semantics.schema import infer_contact_schema, read_records
from ...syntax import ast as A
from .documents import Analysis
from .positions import path_key

MAX_CONTACT_LINES = 5000  # contacts.jsonl lines read for attribute names
_CONTACT_REF = re.compile(r"\bcontact\.([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)")


class ContactAttributes:
    """The server's part that knows contact attributes (a part of
    ``GoalLanguageServer``, which sets ``_contacts``, ``_schemas``,
    ``_item_names`` and ``_contact_words``)."""

    def contact_keys(self, path: Path) -> frozenset[str]:
        """Attribute paths seen in a contacts.jsonl (nested ones dotted)."""
        try:
            st = path.stat()
        except OSError:
            return frozenset()
        k = path_key(path)
        hit = self._contacts.get(k)
        if hit and hit[0] == st.st_mtime and hit[1] == st.st_size:
            return hit[2]
        keys: set[str] = set()
        for rec in read_records(path, MAX_CONTACT_LINES):
            _key_paths(rec, "", keys)
        found = frozenset(keys)
        self._contacts[k] = (st.st_mtime, st.st_size, found)
        return found

    def contact_schema(self, path: Path) -> dict:
        """The contacts schema of a contacts.jsonl (none when there is no such
        file), as `goal check` infers it for a program beside it; read again
        only when the file changes."""
        try:
            st = path.stat()
        except OSError:
            return {}
        k = path_key(path)
        hit = self._schemas.get(k)
        if hit and hit[0] == st.st_mtime and hit[1] == st.st_size:
            return hit[2]
        schema = infer_contact_schema(path) if path.is_file() else {}
        self._schemas[k] = (st.st_mtime, st.st_size, schema)
        return schema

    def contacts_files(self, path: Path) -> list[Path]:
        """The contacts.jsonl files whose attributes a document sees: the one
        beside it and those of the folders above it, up to the root of the
        workspace folder that holds it (only the one beside it when the
        document is outside the workspace)."""
        roots = set()
        for folder in [self.workspace.root_uri, *(f.uri for f in self.workspace.folders.values())]:
            fs = uris.to_fs_path(folder) if folder else None
            if fs:
                roots.add(path_key(fs))
        out = []
        for d in [path.parent, *path.parent.parents]:
            out.append(d / CONTACTS_FILE)
            if path_key(d) in roots:
                return out
        return out[:1]

    def workspace_contact_keys(self, path: Path) -> frozenset[str]:
        files = self.contacts_files(path)
        if len(files) == 1:
            return self.contact_keys(files[0])
        return frozenset().union(*(self.contact_keys(f) for f in files))

    def attributes(self, a: Analysis) -> set[str]:
        """contact.* attributes: those in the contacts.jsonl files of the
        workspace around the document (``contacts_files``) and those the program uses (conditions, and the
        named arguments of actions that set attributes by name, like update_contact)."""
        if a.attribute_cache is None:
            found = set(self.workspace_contact_keys(a.path))
            events = a.program.events if a.program else {}
            actions = a.program.actions if a.program else {}
            by_name = {name for name, act in actions.items() if sets_by_name(act, events)}
            modules = a.user_modules()
            b = self.base(a)
            if a.module is None and b.module is not None:
                modules.append(b.module)
            names: dict[int, tuple] = {}
            for m in modules:
                for item in m.items:
                    refs, calls = self.item_names(item, names)
                    for parts, dotted in refs:
                        if dotted not in events:
                            for i in range(2, len(parts) + 1):
                                found.add(".".join(parts[1:i]))
                    for name, labels in calls:
                        if name in by_name:
                            found.update(labels)
            self._item_names = names
            a.attribute_cache = found
        return a.attribute_cache

    def item_names(self, item, names: dict) -> tuple:
        """The ``contact.…`` references (parts, dotted) and the action calls
        (name, argument labels) of a top-level item; kept per item, so an
        edit costs the items it changed (the nodes of the blocks it did not
        touch are the same; ``Blocks``)."""
        hit = self._item_names.get(id(item))
        if hit is None or hit[0] is not item:
            refs, calls = [], []
            for n in A.walk(item):
                if isinstance(n, A.Ref) and len(n.parts) > 1 and n.parts[0] == "contact":
                    refs.append((n.parts, n.dotted))
                elif isinstance(n, A.ActionCall):
                    calls.append((n.name.name, [arg.name.name for arg in n.args if arg.name is not None]))
            hit = (item, refs, calls)
        names[id(item)] = hit
        return hit[1], hit[2]

    def attributes_at(self, a: Analysis, offset: int) -> set[str]:
        """``attributes(a)`` plus the ``contact.…`` words of the text as it is
        now (also inside strings: ``{contact.email}``), except the one being
        typed at ``offset``."""
        found = set(self.attributes(a))
        events = (self.base(a).program or a.program)
        key = (a.text, events.events if events else None)
        if self._contact_words is None or self._contact_words[0] != key:
            # Read once per text: each `contact.…` word (where, its prefixes), and how often each prefix is seen.
            words, seen = [], {}
            for m in _CONTACT_REF.finditer(a.text):
                if events and m.group(0) in events.events:
                    continue
                parts = m.group(1).split(".")
                prefixes = [".".join(parts[:i]) for i in range(1, len(parts) + 1)]
                words.append((m.start(), m.end(), prefixes))
                for p in prefixes:
                    seen[p] = seen.get(p, 0) + 1
            self._contact_words = (key, words, seen)
        _, words, seen = self._contact_words
        left = dict(seen)
        for start, end, prefixes in words[:bisect.bisect_right(words, (offset, math.inf))]:
            if start <= offset <= end:  # the word being typed
                for p in prefixes:
                    left[p] -= 1
        found.update(p for p, n in left.items() if n > 0)
        return found


def _key_paths(rec: dict, prefix: str, out: set, depth: int = 0) -> None:
    for k, v in rec.items():
        if not isinstance(k, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", k):
            continue
        path = prefix + k
        out.add(path)
        if isinstance(v, dict) and depth < 8:
            _key_paths(v, path + ".", out, depth + 1)
