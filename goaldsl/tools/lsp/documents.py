"""The open documents and their analyses: a document loaded with its
imports (and, for a test file, the program it tests) and checked, with the
text of every open buffer; which documents to redo when one changes; the
names and URIs of the files an analysis read.

Diagnostics and completion come from the document parsed block by block and
checked with a memo (``syntax/blocks.py``, ``semantics/incremental.py``):
after an edit, the blocks it touched are parsed again and only what changed
is checked again, so an edit costs milliseconds whatever the document's
size. The other requests use an analysis of the whole text (spans where
they are in the file), made when one comes."""
from __future__ import annotations

import logging
import os
import re
from pathlib import Path, PurePosixPath
from typing import Optional

import attrs
from lsprotocol import types as T
from pygls import uris

from ...semantics import ir
from ...semantics.checker import CheckResult, check
from ...semantics.incremental import Memo
from ...semantics.loader import (CONTACTS_FILE, TEST_SUFFIX, Loaded, load, program_files, program_of_test_file,
                                 read_source)
from ...syntax import ast as A
from ...syntax.diagnostics import Diagnostic
from ...syntax.blocks import place
from ...syntax.resources import stdlib_dir
from ...syntax.source import Span
from .positions import Lines, Texts, path_key

log = logging.getLogger("goaldsl.lsp")


@attrs.define(eq=False)
class Analysis:
    """One document, loaded with its imports and checked."""
    uri: str
    path: Path  # absolute; made up for documents that are not files
    name: str  # the file name the loader gives the document (as in `goal check`)
    text: str
    loaded: Loaded
    result: CheckResult
    module: Optional[A.Module]  # None when the document does not parse
    _index: Optional[dict] = None
    attribute_cache: Optional[set] = None  # contacts.ContactAttributes.attributes

    @property
    def program(self) -> Optional[ir.Program]:
        return self.result.program

    @property
    def incremental(self) -> bool:
        """Parsed block by block (``Documents.current``): the nodes' spans
        are in their blocks; ``place`` says where they are. Its diagnostics
        are where they are in their files."""
        return bool(self.loaded.places)

    def place(self, span: Span) -> Span:
        return place(span, self.loaded.places)

    @property
    def diagnostics(self) -> list[Diagnostic]:
        return [d for d in self.result.diagnostics if d.span is not None and d.span.file == self.name]

    @property
    def index(self) -> dict:
        """Declarations of every loaded module, by kind and name (first wins,
        as in the checker): ("event", name), ("action", name), ("segment",
        name), ("field", event, field), ("param", action, param)."""
        if self._index is None:
            idx: dict = {}
            for m in self.loaded.modules:
                for item in m.items:
                    if isinstance(item, A.EventDecl):
                        idx.setdefault(("event", item.name.dotted), item)
                        for f in item.fields:
                            idx.setdefault(("field", item.name.dotted, f.name.name), f)
                    elif isinstance(item, A.ActionDecl):
                        idx.setdefault(("action", item.name.name), item)
                        for p in item.params:
                            idx.setdefault(("param", item.name.name, p.name.name), p)
                    elif isinstance(item, A.SegmentDef):
                        idx.setdefault(("segment", item.name.name), item)
            self._index = idx
        return self._index

    def user_modules(self) -> list[A.Module]:
        return [m for m in self.loaded.modules if m.file not in self.loaded.stdlib_names]


class Documents:
    """The server's part that keeps documents and their analyses (a part of
    ``GoalLanguageServer``: ``self`` is the server)."""

    # -------------------------------------------------------------- documents

    def doc_path(self, uri: str) -> Path:
        path = uris.to_fs_path(uri) if uris.uri_scheme(uri) == "file" else None
        if path:
            return Path(path).absolute()
        # untitled:Untitled-1 and the like: a made-up file in the working folder.
        tail = re.sub(r"[^A-Za-z0-9_.-]+", "_", uri.split(":", 1)[-1]).strip("_") or "untitled"
        return Path.cwd() / f".{tail}.goal"

    def lines(self, text: str) -> Lines:
        encoding = self.workspace.position_encoding
        last = self._lines
        if last is not None and last.text is text and last.encoding == encoding:
            return last  # the same document: its line index is made once
        self._lines = Lines(text, encoding)
        return self._lines

    def open_texts(self) -> Texts:
        texts = Texts()
        for uri in list(self.open_uris):
            try:
                texts[self.doc_path(uri)] = self.workspace.get_text_document(uri).source
            except Exception:  # noqa: BLE001 - a document pygls lost: read from disk instead
                log.warning("goal lsp: no text for %s", uri)
        return texts

    def text(self, uri: str) -> str:
        """A document's text: the editor's when it is open; else the file's,
        read as the loader reads it (a named pipe or a device is refused,
        never opened: reading it could block the server), or "" when it
        cannot be read."""
        if uri in self.open_uris:
            return self.workspace.get_text_document(uri).source
        path = self.doc_path(uri)
        text, _problem = read_source(path, str(path))
        return text if text is not None else ""

    def analyze(self, uri: str, *, incremental: bool = False, text: Optional[str] = None) -> Analysis:
        """The document loaded (with the open buffers) and checked:
        ``incremental``, block by block with the document's memo (not for
        test files: their test blocks are checked as a whole); ``text``
        instead of the document's."""
        is_given = text is not None
        text = self.text(uri) if text is None else text
        path = self.doc_path(uri)
        texts = self.open_texts()
        texts[path] = text
        schema = self.contact_schema(path.parent / CONTACTS_FILE)
        is_test = path.name.endswith(TEST_SUFFIX)
        incremental = incremental and not is_test
        parse_file = self.blocks.parse_file if incremental else None
        memo = self.memos.setdefault(uri, Memo()) if incremental else None
        if is_test:
            # A test file is read with the program it tests (the folder's
            # program files, or the folder above a tests folder).
            files = [p for p in program_files(program_of_test_file(path)) if path_key(p) != path_key(path)] + [path]
        else:
            files = [path]
        loaded = load(files, texts=texts, parse_file=parse_file)
        result = check(loaded, schema, memo=memo)
        if not is_test and any(d.code == "E0301" for d in result.diagnostics):
            # A folder is one program for `goal run FOLDER`: its files may use
            # each other's segments without importing them. Read the sibling
            # files too, and keep that reading if it knows the segments.
            siblings = sorted(p for p in path.parent.glob("*.goal") if path_key(p) != path_key(path))
            if siblings:
                loaded2 = load([path, *siblings], texts=texts, parse_file=parse_file)
                result2 = check(loaded2, schema, memo=memo)
                if not any(d.code == "E0301" for d in result2.diagnostics):
                    loaded, result = loaded2, result2
        if memo is not None:
            memo.prune()
        name = loaded.roots[-1] if is_test and loaded.roots else \
            next((n for n in loaded.sources if n not in loaded.stdlib_names), str(path))
        module = next((m for m in loaded.modules if m.file == name), None)
        a = Analysis(uri, path, name, text, loaded, result, module)
        if module is not None:
            self.good_text[uri] = text
            (self.good_currents if a.incremental else self.good)[uri] = a
        if is_given:
            return a
        if incremental or is_test:
            self.currents[uri] = a
        if not a.incremental:
            self.analyses[uri] = a
        return a

    def analysis(self, uri: str) -> Analysis:
        """The analysis of the document as it is now, spans where they are."""
        a = self.analyses.get(uri)
        if a is None or a.text != self.text(uri):
            a = self.analyze(uri)
        return a

    def current(self, uri: str) -> Analysis:
        """The analysis of the document as it is now, parsed block by block."""
        a = self.currents.get(uri)
        if a is None or a.text != self.text(uri):
            a = self.analyze(uri, incremental=True)
        return a

    def base(self, a: Analysis) -> Analysis:
        """``a``, or while it does not parse, its last version that did (of
        the same kind as ``a``)."""
        if a.module is not None:
            return a
        if a.incremental or self.currents.get(a.uri) is a:
            return self.good_currents.get(a.uri) or a
        good = self.good.get(a.uri)
        text = self.good_text.get(a.uri)
        if text is not None and (good is None or good.text != text):
            # Its last text that parsed was analysed block by block only.
            good = self.analyze(a.uri, text=text)
        return good or a

    def refresh(self, uri: str, *, dependents: bool = True) -> None:
        """Analyze a document, publish its diagnostics, and redo the open
        documents that load it."""
        a = self.analyze(uri, incremental=True)
        self.publish(a)
        if not dependents:
            return
        key = path_key(a.path)
        for other in list(self.currents.values()):
            if other.uri == uri:
                continue
            names = [n for n in other.loaded.sources if n not in other.loaded.stdlib_names and n != other.name]
            if any(path_key(n) == key for n in names):
                self.refresh(other.uri, dependents=False)

    def refresh_all(self) -> None:
        for uri in list(self.open_uris):
            self.refresh(uri, dependents=False)

    def forget(self, uri: str) -> None:
        self.open_uris.pop(uri, None)
        for table in (self.analyses, self.currents, self.good, self.good_currents, self.good_text, self.memos):
            table.pop(uri, None)
        self.text_document_publish_diagnostics(T.PublishDiagnosticsParams(uri=uri, diagnostics=[]))

    # -------------------------------------------------------------- names and URIs

    def uri_for(self, name: str, a: Analysis) -> str:
        """The URI of a file name as the loader shows it."""
        if name == a.name:
            return a.uri
        if name in a.loaded.stdlib_names or name.startswith("<stdlib>/"):
            return uris.from_fs_path(str(stdlib_dir() / PurePosixPath(name).name)) or ""
        key = path_key(name)
        for uri in list(self.open_uris):
            if path_key(self.doc_path(uri)) == key:
                return uri
        return uris.from_fs_path(os.path.abspath(name)) or ""

    def shown(self, path: Path) -> str:
        """A path as `goal check` would show it: relative to the working
        folder (the workspace root) when inside it."""
        try:
            return str(path.relative_to(Path.cwd()))
        except ValueError:
            return str(path)

    def text_of(self, name: str, a: Analysis) -> str:
        if name == a.name:
            return a.text
        return a.loaded.sources.get(name, "")

    def location(self, span: Span, a: Analysis) -> T.Location:
        return T.Location(uri=self.uri_for(span.file, a), range=self.lines(self.text_of(span.file, a)).range(span))
