"""``goal lsp``: the language server, over stdio, on pygls.

It reuses the command-line pieces: ``loader.load`` (with the text of every
open editor buffer, saved or not), ``checker.check``, ``formatter.format_source``
and ``completion.complete``. What it adds is the mapping between their world
(file names as ``goal check`` shows them, 1-based lines and columns counted
in characters) and the protocol's (URIs, 0-based positions counted in the
client's position encoding).

Features: diagnostics on open, change and save (an open document shows its
own; the problems of imported files that are not open show on the import
that brings them in, with related locations); completion (action calls as
snippets where the client takes them); signature help; hover;
go-to-definition; document symbols; document formatting. Every handler is
guarded: an internal error is logged (stderr and ``window/logMessage``) and
the request gets an empty answer, so the server never dies on any input; a
request pygls cannot read gets an Invalid Params error.

While a document does not parse, hover, definition and completion fall back
on the last version of it that did (for its segments and step names) and on
the words around the cursor.
"""
from __future__ import annotations

import functools
import logging
import os
import re
import traceback
from pathlib import Path, PurePosixPath
from typing import Any, Callable, Optional

import attrs
from lsprotocol import types as T
from pygls import uris
from pygls.exceptions import JsonRpcException
from pygls.lsp.server import LanguageServer
from pygls.protocol import LanguageServerProtocol

from .. import __version__
from ..syntax import ast as A
from ..semantics import ir
from ..semantics.checker import CheckResult, check
from .completion import Completion, enclosing_call, complete, word_before
from ..syntax.diagnostics import Diagnostic, Severity
from ..syntax.formatter import format_source, name_or_quote
from ..semantics.loader import CONTACTS_FILE, TEST_SUFFIX, Loaded, load, program_files, program_of_test_file, read_source
from ..syntax.parser import reserved_words
from ..syntax.resources import stdlib_dir
from ..semantics.effects import OPS, sets_by_name
from ..semantics.schema import infer_contact_schema, read_records
from ..syntax.source import Span
from ..syntax.values import show_value

log = logging.getLogger("goaldsl.lsp")

SOURCE = "goal"
MAX_CONTACT_LINES = 5000  # contacts.jsonl lines read for attribute names

_WF_START = re.compile(r'^[ \t]*(?:workflow|drip)[ \t]+"((?:\\.|[^"\\\n])*)"', re.MULTILINE)
_AS_NAME = re.compile(r"\bas[ \t]+([A-Za-z_][A-Za-z0-9_]*)")
_CONTACT_REF = re.compile(r"\bcontact\.([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)")
_WORD_AT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*")

_KIND = {
    "keyword": T.CompletionItemKind.Keyword,
    "event": T.CompletionItemKind.Event,
    "field": T.CompletionItemKind.Field,
    "enum": T.CompletionItemKind.EnumMember,
    "action": T.CompletionItemKind.Function,
    "param": T.CompletionItemKind.Property,
    "segment": T.CompletionItemKind.Variable,
    "step": T.CompletionItemKind.Reference,
    "attribute": T.CompletionItemKind.Property,
    "contact": T.CompletionItemKind.Value,
}


# ---------------------------------------------------------------- paths and positions

def _key(path: str | Path) -> str:
    """A path as a dictionary key: absolute, normalised, case-folded where the
    file system folds case."""
    return os.path.normcase(os.path.normpath(os.path.abspath(str(path))))


class _Texts(dict):
    """Unsaved buffers by path, for ``load(texts=)``; looks paths up
    normalised, so ``dir/../common.goal`` finds ``common.goal``."""

    def __contains__(self, path) -> bool:
        return dict.__contains__(self, _key(path))

    def get(self, path, default=None):
        return dict.get(self, _key(path), default)

    def __getitem__(self, path):
        return dict.__getitem__(self, _key(path))

    def __setitem__(self, path, text) -> None:
        dict.__setitem__(self, _key(path), text)


def _units(encoding: Optional[str]) -> Callable[[str], int]:
    """The length of a string in the client's position units."""
    if encoding == T.PositionEncodingKind.Utf32:
        return len
    if encoding == T.PositionEncodingKind.Utf8:
        return lambda s: len(s.encode("utf-8", "surrogatepass"))
    return lambda s: len(s.encode("utf-16-le", "surrogatepass")) // 2


class Lines:
    """A text split into lines (on ``\\n``, as the parser counts them), for
    converting between character offsets, spans and LSP positions."""

    def __init__(self, text: str, encoding: Optional[str] = None):
        self.text = text
        self.lines = text.split("\n")
        self.count = _units(encoding)
        self._starts: Optional[list[int]] = None

    def position(self, line: int, col: int) -> T.Position:
        """A 1-based line and character column -> an LSP position."""
        row = min(max(line - 1, 0), len(self.lines) - 1)
        if line - 1 > row:  # past the end: the end of the last line
            return T.Position(row, self.count(self.lines[row]))
        text = self.lines[row]
        return T.Position(row, self.count(text[: max(col - 1, 0)]))

    def range(self, span: Optional[Span]) -> T.Range:
        if span is None:
            return T.Range(T.Position(0, 0), T.Position(0, 0))
        start = self.position(span.line, span.col)
        end = self.position(span.end_line, span.end_col)
        if (end.line, end.character) < (start.line, start.character):
            end = start
        return T.Range(start, end)

    def offset(self, pos: T.Position) -> int:
        """An LSP position -> a character offset into the text."""
        if self._starts is None:
            starts, total = [], 0
            for ln in self.lines:
                starts.append(total)
                total += len(ln) + 1
            self._starts = starts
        if pos.line >= len(self.lines):
            return len(self.text)
        text = self.lines[pos.line]
        units, chars = 0, 0
        for ch in text:
            if units >= pos.character:
                break
            units += self.count(ch)
            chars += 1
        return self._starts[pos.line] + chars

    def offset_position(self, offset: int) -> T.Position:
        """A character offset -> an LSP position."""
        before = self.text[: max(0, offset)]
        row = before.count("\n")
        col = len(before) - (before.rfind("\n") + 1)
        return T.Position(row, self.count(self.lines[row][:col]) if row < len(self.lines) else 0)

    def end(self) -> T.Position:
        return T.Position(len(self.lines) - 1, self.count(self.lines[-1]))


# ---------------------------------------------------------------- analysis of one document

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
    _attributes: Optional[set] = None

    @property
    def program(self) -> Optional[ir.Program]:
        return self.result.program

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


@attrs.frozen
class Target:
    """What the cursor is on."""
    kind: str  # event action segment step field enum param import attribute workflow goal effect
    name: str
    span: Span  # the reference in the document
    event: Optional[str] = None  # field, enum: the event filtered
    field: Optional[str] = None  # enum: the field compared
    action: Optional[str] = None  # param: the action called or declared
    workflow: Optional[A.Workflow] = None
    node: Any = None  # step: the step; import: the Import


# ---------------------------------------------------------------- the server

class _Protocol(LanguageServerProtocol):
    """pygls, but a request it cannot read (bad parameters) gets an error
    answer, so the client does not wait for one forever."""

    def structure_message(self, data):
        try:
            return super().structure_message(data)
        except JsonRpcException as e:
            if isinstance(data, dict) and "method" in data and isinstance(data.get("id"), (int, str)):
                try:
                    self._send_response(data["id"], error=e.to_response_error())
                except Exception:  # noqa: BLE001 - the transport is gone: nothing to answer
                    pass
            raise


class GoalLanguageServer(LanguageServer):
    def __init__(self) -> None:
        super().__init__("goal-lsp", __version__, protocol_cls=_Protocol)
        self.analyses: dict[str, Analysis] = {}
        self.good: dict[str, Analysis] = {}  # the last analysis of a document that parsed
        # The open documents by the URI the client gave (pygls keys its own
        # table by the unquoted URI; diagnostics must go to the client's).
        self.open_uris: dict[str, None] = {}
        self._contacts: dict[str, tuple[float, int, frozenset[str]]] = {}
        self._schemas: dict[str, tuple[float, int, dict]] = {}

    # An exception outside a request (in a notification handler, say) must not
    # close the server, which pygls does by default.
    def report_server_error(self, error: Exception, source) -> None:  # noqa: D401
        log.error("goal lsp: %s: %s", getattr(source, "__name__", source), error)

    # -------------------------------------------------------------- documents

    def doc_path(self, uri: str) -> Path:
        path = uris.to_fs_path(uri) if uris.uri_scheme(uri) == "file" else None
        if path:
            return Path(path).absolute()
        # untitled:Untitled-1 and the like: a made-up file in the working folder.
        tail = re.sub(r"[^A-Za-z0-9_.-]+", "_", uri.split(":", 1)[-1]).strip("_") or "untitled"
        return Path.cwd() / f".{tail}.goal"

    def lines(self, text: str) -> Lines:
        return Lines(text, self.workspace.position_encoding)

    def open_texts(self) -> _Texts:
        texts = _Texts()
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

    def analyze(self, uri: str) -> Analysis:
        text = self.text(uri)
        path = self.doc_path(uri)
        texts = self.open_texts()
        texts[path] = text
        schema = self.contact_schema(path.parent / CONTACTS_FILE)
        is_test = path.name.endswith(TEST_SUFFIX)
        if is_test:
            # A test file is read with the program it tests (the folder's
            # program files, or the folder above a tests folder).
            files = [p for p in program_files(program_of_test_file(path)) if _key(p) != _key(path)] + [path]
        else:
            files = [path]
        loaded = load(files, texts=texts)
        result = check(loaded, schema)
        if not is_test and any(d.code == "E0301" for d in result.diagnostics):
            # A folder is one program for `goal run FOLDER`: its files may use
            # each other's segments without importing them. Read the sibling
            # files too, and keep that reading if it knows the segments.
            siblings = sorted(p for p in path.parent.glob("*.goal") if _key(p) != _key(path))
            if siblings:
                loaded2 = load([path, *siblings], texts=texts)
                result2 = check(loaded2, schema)
                if not any(d.code == "E0301" for d in result2.diagnostics):
                    loaded, result = loaded2, result2
        name = loaded.roots[-1] if is_test and loaded.roots else \
            next((n for n in loaded.sources if n not in loaded.stdlib_names), str(path))
        module = next((m for m in loaded.modules if m.file == name), None)
        a = Analysis(uri, path, name, text, loaded, result, module)
        self.analyses[uri] = a
        if module is not None:
            self.good[uri] = a
        return a

    def analysis(self, uri: str) -> Analysis:
        """The analysis of the document as it is now."""
        a = self.analyses.get(uri)
        if a is None or a.text != self.text(uri):
            a = self.analyze(uri)
        return a

    def base(self, a: Analysis) -> Analysis:
        """``a``, or while it does not parse, its last version that did."""
        if a.module is not None:
            return a
        return self.good.get(a.uri) or a

    def refresh(self, uri: str, *, dependents: bool = True) -> None:
        """Analyze a document, publish its diagnostics, and redo the open
        documents that load it."""
        a = self.analyze(uri)
        self.publish(a)
        if not dependents:
            return
        key = _key(a.path)
        for other in list(self.analyses.values()):
            if other.uri == uri:
                continue
            names = [n for n in other.loaded.sources if n not in other.loaded.stdlib_names and n != other.name]
            if any(_key(n) == key for n in names):
                self.refresh(other.uri, dependents=False)

    def refresh_all(self) -> None:
        for uri in list(self.open_uris):
            self.refresh(uri, dependents=False)

    def forget(self, uri: str) -> None:
        self.open_uris.pop(uri, None)
        self.analyses.pop(uri, None)
        self.good.pop(uri, None)
        self.text_document_publish_diagnostics(T.PublishDiagnosticsParams(uri=uri, diagnostics=[]))

    # -------------------------------------------------------------- names and URIs

    def uri_for(self, name: str, a: Analysis) -> str:
        """The URI of a file name as the loader shows it."""
        if name == a.name:
            return a.uri
        if name in a.loaded.stdlib_names or name.startswith("<stdlib>/"):
            return uris.from_fs_path(str(stdlib_dir() / PurePosixPath(name).name)) or ""
        key = _key(name)
        for uri in list(self.open_uris):
            if _key(self.doc_path(uri)) == key:
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

    # -------------------------------------------------------------- diagnostics

    def publish(self, a: Analysis) -> None:
        lines = self.lines(a.text)
        out = [self.lsp_diagnostic(d, a, lines) for d in a.diagnostics]
        out += self.import_diagnostics(a, lines)
        self.text_document_publish_diagnostics(T.PublishDiagnosticsParams(uri=a.uri, diagnostics=out))

    def import_diagnostics(self, a: Analysis, lines: Lines) -> list[T.Diagnostic]:
        """The problems of imported files that are not open (an open one shows
        its own), one diagnostic on each import of the document that leads to
        them, directly or through other imports; each problem is a related
        location, so the editor can jump there."""
        if a.module is None:
            return []
        skip = {_key(self.doc_path(u)) for u in self.open_uris} | {_key(a.path)}
        by_file: dict[str, list[Diagnostic]] = {}
        for d in a.result.diagnostics:
            if d.span is not None and d.span.file != a.name and d.span.file not in a.loaded.stdlib_names \
                    and _key(d.span.file) not in skip:
                by_file.setdefault(_key(d.span.file), []).append(d)
        if not by_file:
            return []
        modules = {_key(m.file): m for m in a.user_modules()}
        out = []
        for imp in (it for it in a.module.items if isinstance(it, A.Import)):
            reached, todo = set(), [_key(a.path.parent / imp.path.value)]
            while todo:  # every file this import brings in
                k = todo.pop()
                if k in reached:
                    continue
                reached.add(k)
                m = modules.get(k)
                for sub in (it for it in (m.items if m else ()) if isinstance(it, A.Import)):
                    todo.append(_key(Path(m.file).absolute().parent / sub.path.value))
            found = [d for k in sorted(reached) if k in by_file for d in by_file.pop(k)]
            if not found:
                continue
            errors = sum(d.is_error for d in found)
            warnings = len(found) - errors
            counts = " and ".join(f"{n} {w}{'s' if n != 1 else ''}"
                                  for n, w in ((errors, "error"), (warnings, "warning")) if n)
            first = found[0]
            message = f"{imp.path.value} brings in {counts}; the first:\n" \
                      f"{first.span}: {first.severity.value}[{first.code}]: {first.summary}"
            related = [T.DiagnosticRelatedInformation(location=self.location(d.span, a),
                                                      message=f"{d.severity.value}[{d.code}]: {d.summary}")
                       for d in found[:50]]
            out.append(T.Diagnostic(
                range=lines.range(imp.span), message=message, code=first.code, source=SOURCE,
                severity=T.DiagnosticSeverity.Error if errors else T.DiagnosticSeverity.Warning,
                related_information=related))
        return out

    def lsp_diagnostic(self, d: Diagnostic, a: Analysis, lines: Lines) -> T.Diagnostic:
        message = d.summary
        if d.detail:
            message += f"\n{d.detail}"
        if d.hint:
            message += f"\nhint: {d.hint}"
        related = [T.DiagnosticRelatedInformation(location=self.location(r.span, a), message=r.message)
                   for r in d.related if r.span is not None]
        return T.Diagnostic(
            range=lines.range(d.span), message=message, code=d.code, source=SOURCE,
            severity=T.DiagnosticSeverity.Error if d.severity is Severity.ERROR else T.DiagnosticSeverity.Warning,
            related_information=related or None)

    # -------------------------------------------------------------- contact attributes

    def contact_keys(self, path: Path) -> frozenset[str]:
        """Attribute paths seen in a contacts.jsonl (nested ones dotted)."""
        try:
            st = path.stat()
        except OSError:
            return frozenset()
        k = _key(path)
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
        k = _key(path)
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
                roots.add(_key(fs))
        out = []
        for d in [path.parent, *path.parent.parents]:
            out.append(d / CONTACTS_FILE)
            if _key(d) in roots:
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
        if a._attributes is None:
            found = set(self.workspace_contact_keys(a.path))
            events = a.program.events if a.program else {}
            actions = a.program.actions if a.program else {}
            by_name = {name for name, act in actions.items() if sets_by_name(act, events)}
            modules = a.user_modules()
            b = self.base(a)
            if a.module is None and b.module is not None:
                modules.append(b.module)
            for m in modules:
                for n in A.walk(m):
                    if isinstance(n, A.Ref) and len(n.parts) > 1 and n.parts[0] == "contact" \
                            and n.dotted not in events:
                        for i in range(2, len(n.parts) + 1):
                            found.add(".".join(n.parts[1:i]))
                    elif isinstance(n, A.ActionCall) and n.name.name in by_name:
                        found.update(arg.name.name for arg in n.args if arg.name is not None)
            a._attributes = found
        return a._attributes

    def attributes_at(self, a: Analysis, offset: int) -> set[str]:
        """``attributes(a)`` plus the ``contact.…`` words of the text as it is
        now (also inside strings: ``{contact.email}``), except the one being
        typed at ``offset``."""
        found = set(self.attributes(a))
        events = (self.base(a).program or a.program)
        for m in _CONTACT_REF.finditer(a.text):
            if m.start() <= offset <= m.end() or (events and m.group(0) in events.events):
                continue
            parts = m.group(1).split(".")
            found.update(".".join(parts[:i]) for i in range(1, len(parts) + 1))
        return found

    # -------------------------------------------------------------- steps

    def step_names(self, a: Analysis, offset: int) -> list[str]:
        """Names of the steps of the workflow around ``offset``."""
        names: set[str] = set()
        region = _workflow_region(a.text, offset)
        wf_name = None
        if region is not None:
            wf_name, lo, hi = region
            names.update(n for n in _AS_NAME.findall(a.text[lo:hi]) if n not in reserved_words())
        module = self.base(a).module
        for wf in _workflows(module):
            inside = wf.span.start <= offset <= wf.span.end if a.module is not None else False
            if inside or (wf_name is not None and wf.name.name == wf_name):
                for st in A.all_steps(wf.steps):
                    ident = A.step_name(st)
                    if ident is not None:
                        names.add(name_or_quote(ident.name))
        return sorted(names)

    # -------------------------------------------------------------- what is at the cursor

    def target_at(self, a: Analysis, offset: int) -> Optional[Target]:
        b = self.base(a)
        program = b.program
        if a.module is not None:
            chain = _chain_at(a.module, offset)
            if chain:
                t = _resolve(chain, program)
                if t is not None:
                    return t
            for wf in _workflows(a.module):
                for it in wf.items:
                    if A.is_setting(it) and it.span.start <= offset <= it.span.end:
                        return Target("setting", type(it).__name__, it.span, workflow=wf, node=it)
            return None
        # The document does not parse: go by the word under the cursor.
        for m in _WORD_AT.finditer(a.text, max(0, offset - 200), offset + 200):
            if m.start() <= offset <= m.end():
                word = m.group(0)
                span = _span_of(a.name, a.text, m.start(), m.end())
                if program and word in program.events:
                    return Target("event", word, span)
                if program and word in program.actions:
                    return Target("action", word, span)
                if ("segment", word) in b.index:
                    return Target("segment", word, span)
                return None
        return None

    def hover_text(self, t: Target, a: Analysis) -> Optional[str]:
        b = self.base(a)
        program = b.program
        if t.kind == "event":
            return self.declaration_markdown(b, b.index.get(("event", t.name)), f"event `{t.name}`")
        if t.kind == "action":
            return self.declaration_markdown(b, b.index.get(("action", t.name)), f"action `{t.name}`")
        if t.kind == "segment":
            return self.declaration_markdown(b, b.index.get(("segment", t.name)), f"segment `{t.name}`")
        if t.kind == "field":
            ev = program.events.get(t.event) if program else None
            ft = ev.fields.get(t.name) if ev else None
            if ft is None:
                return None
            return f"```goal\n{t.name}: {ft.describe()}\n```\nfield of event `{t.event}`"
        if t.kind == "enum":
            ev = program.events.get(t.event) if program else None
            ft = ev.fields.get(t.field) if ev else None
            if ft is None:
                return None
            return f"`{t.name}`: a value of `{t.event}` field `{t.field}`, {ft.describe()}"
        if t.kind == "param":
            act = program.actions.get(t.action) if program else None
            p = act.param(t.name) if act else None
            if p is None:
                if act is not None and act.rest:
                    return f"`{t.name}`: a field of `{t.action}(...{act.rest})`"
                return None
            default = f" = {show_value(p.default)}" if p.has_default else ""
            return f"```goal\n{p.name}: {p.type.describe()}{default}\n```\nparameter of action `{t.action}`"
        if t.kind == "step":
            return self.step_markdown(t, a)
        if t.kind == "effect":
            op = OPS.get(t.name)
            return f"effect `{t.name}`: {op.meaning}" if op else None
        if t.kind == "import":
            target = (a.path.parent / t.name).resolve()
            state = "" if target.exists() else " (missing)"
            return f"import `{t.name}`\n\n`{target}`{state}"
        if t.kind == "attribute":
            seen = next((f for f in self.contacts_files(a.path) if t.name in self.contact_keys(f)), None)
            return f"contact attribute `{t.name}`" + (f" (seen in `{self.shown(seen)}`)" if seen else "")
        if t.kind == "workflow":
            wf = t.workflow
            steps = list(wf.steps) if wf else []
            goals = [g for it in (wf.items if wf else ()) if isinstance(it, A.GoalsSection) for g in it.goals]
            kind = "drip" if wf and wf.is_drip else "workflow"
            return f'{kind} "{t.name}": {len(steps)} step{"s" if len(steps) != 1 else ""}, ' \
                   f'{len(goals)} exit goal{"s" if len(goals) != 1 else ""}'
        if t.kind == "goal":
            return f'exit goal "{t.name}" of workflow "{t.workflow.name.name}"' if t.workflow else None
        if t.kind.startswith("test_"):
            return self.test_hover(t, program)
        if t.kind == "setting":
            return setting_markdown(t.node)
        if t.kind == "trigger":
            return trigger_markdown(t.name, program.workflow(t.workflow.name.name) if program and t.workflow else None,
                                    program)
        return None

    def test_hover(self, t: Target, program: Optional[ir.Program]) -> Optional[str]:
        """Hover in a test block: what an expectation's name refers to."""
        from .explain import show_cond
        if program is None:
            return None
        wanted = t.node.workflow.name if isinstance(t.node, A.Expect) and t.node.workflow is not None else None
        if t.kind == "test_goal":
            found = [(w, st.goal if isinstance(st, ir.SGoal) else st) for w in program.workflows
                     for st in [*w.steps, *w.goals] if isinstance(st, (ir.SGoal, ir.Goal))
                     and (st.goal if isinstance(st, ir.SGoal) else st).name == t.name
                     and (wanted is None or w.name == wanted)]
            return "\n\n".join(f'{"goal step" if g.is_step else "exit goal"} "{g.name}" of workflow "{w.name}"'
                                 f"\n\n```goal\nwhen {show_cond(g.cond, program.events)}\n```"
                                 for w, g in found) or None
        if t.kind == "test_workflow":
            w = program.workflow(t.name)
            return f'workflow "{w.name}": {len(w.steps)} steps, {len(w.goals)} exit goals' if w else None
        if t.kind == "test_step":
            return f"step `{t.name}`: the expectation holds when the contact is at this step at that time"
        if t.kind == "test_contact":
            return f"contact `{t.name}` of this test (its records and events are given in the test)"
        return None

    def declaration_markdown(self, a: Analysis, node, title: str) -> Optional[str]:
        if node is None:
            return None
        span = node.span
        source = a.loaded.sources.get(span.file, "")
        text = source[span.start:span.end] if span.end > span.start else ""
        docs = _doc_comment(source, span.line)
        where = f"standard library, `{PurePosixPath(span.file).name}`" if span.file.startswith("<stdlib>/") \
            else f"`{span.file}`, line {span.line}"
        out = f"```goal\n{text}\n```"
        if docs:
            out += f"\n\n{docs}"
        return out + f"\n\n{title} — {where}"

    def step_markdown(self, t: Target, a: Analysis) -> Optional[str]:
        wf = t.workflow
        if wf is None:
            return None
        top = list(wf.steps)
        found = _find_step(wf, t.name)
        if found is None:
            return f"step `{t.name}` (not found in workflow \"{wf.name.name}\")"
        step, top_step = found
        pos = top.index(top_step) + 1
        where = f"step {pos} of {len(top)}" if step is top_step else f"inside step {pos} of {len(top)} (an `if`)"
        kind = "goal step" if isinstance(step, A.GoalBlock) else "step"
        source = a.loaded.sources.get(step.span.file, a.text)
        first = source[step.span.start:step.span.end].split("\n")[0] if step.span.end > step.span.start else ""
        return (f"{kind} `{t.name}` — {where} in {'drip' if wf.is_drip else 'workflow'} \"{wf.name.name}\", "
                f"line {step.span.line}\n\n```goal\n{first}\n```")

    def definition(self, t: Target, a: Analysis) -> list[T.Location]:
        b = self.base(a)
        node = None
        if t.kind in ("event", "action", "segment"):
            node = b.index.get((t.kind, t.name))
        elif t.kind in ("field", "enum"):
            node = b.index.get(("field", t.event, t.field or t.name))
        elif t.kind == "param":
            node = b.index.get(("param", t.action, t.name))
        elif t.kind == "step" and t.workflow is not None:
            found = _find_step(t.workflow, t.name)
            node = found[0] if found else None
        elif t.kind == "import":
            target = a.path.parent / t.name
            if target.exists():
                uri = self.uri_for(str(target.resolve()), a)
                return [T.Location(uri=uri, range=T.Range(T.Position(0, 0), T.Position(0, 0)))]
            return []
        elif t.kind in ("workflow", "goal") and t.node is not None:
            node = t.node
        if node is None:
            return []
        return [self.location(node.span, b if node.span.file != a.name else a)]

    # -------------------------------------------------------------- symbols

    def symbols(self, a: Analysis) -> list[T.DocumentSymbol]:
        if a.module is None:
            return []
        lines = self.lines(a.text)
        out = []
        for item in a.module.items:
            sym = self.symbol(item, a, lines)
            if sym is not None:
                out.append(sym)
        return out

    def symbol(self, node, a: Analysis, lines: Lines) -> Optional[T.DocumentSymbol]:
        def make(name, kind, span, sel=None, detail=None, children=None):
            rng = lines.range(span)
            srng = lines.range(sel) if sel is not None else rng
            if not _contains(rng, srng):
                srng = rng
            return T.DocumentSymbol(name=name or "(unnamed)", kind=kind, range=rng, selection_range=srng,
                                    detail=detail, children=children)

        if isinstance(node, A.Import):
            return make(node.path.value, T.SymbolKind.File, node.span, node.path.span, "import")
        if isinstance(node, A.SegmentDef):
            return make(node.name.name, T.SymbolKind.Variable, node.span, node.name.span, "segment")
        if isinstance(node, A.EventDecl):
            fields = [make(f.name.name, T.SymbolKind.Field, f.span, f.name.span, _type_text(f.type))
                      for f in node.fields]
            return make(node.name.dotted, T.SymbolKind.Event, node.span, node.name.span, "event", fields)
        if isinstance(node, A.ActionDecl):
            params = ", ".join(("..." + p.name.name) if p.rest else f"{p.name.name}: {_type_text(p.type)}"
                               for p in node.params)
            return make(node.name.name, T.SymbolKind.Function, node.span, node.name.span, f"action({params})")
        if isinstance(node, A.Workflow):
            children = []
            for item in node.items:
                if isinstance(item, A.GoalsSection):
                    children += [make(g.name.name, T.SymbolKind.Event, g.span, g.name.span, "exit goal")
                                 for g in item.goals]
                elif not A.is_setting(item):
                    children.append(self.step_symbol(item, a, make))
            return make(node.name.name, T.SymbolKind.Class, node.span, node.name.span,
                        "drip" if node.is_drip else "workflow", children)
        return None

    def step_symbol(self, st, a: Analysis, make) -> T.DocumentSymbol:
        text = _one_line(a.text[st.span.start:st.span.end])
        if isinstance(st, A.GoalBlock):
            return make(st.name.name, T.SymbolKind.Event, st.span, st.name.span, "goal step")
        if isinstance(st, A.ActionStep):
            call = _one_line(a.text[st.call.span.start:st.call.span.end])
            if st.name is not None:
                return make(st.name.name, T.SymbolKind.Method, st.span, st.name.span, call)
            return make(st.call.name.name, T.SymbolKind.Method, st.span, st.call.name.span, call)
        if isinstance(st, A.IfStep):
            nested = [self.step_symbol(s, a, make) for _, body in st.branches for s in body]
            nested += [self.step_symbol(s, a, make) for s in (st.else_steps or ())]
            return make(text.split("{")[0].strip() or "if", T.SymbolKind.Operator, st.span, None, "if", nested)
        name = getattr(st, "name", None)
        if isinstance(name, A.Ident):
            return make(name.name, T.SymbolKind.Operator, st.span, name.span, text.rsplit(" as ", 1)[0])
        kind = {A.SkipStep: "skip", A.EndStep: "end"}.get(type(st), "wait")
        return make(text or kind, T.SymbolKind.Operator, st.span, None, kind)

    # -------------------------------------------------------------- signature help

    def signature_help(self, a: Analysis, offset: int) -> Optional[T.SignatureHelp]:
        """The parameters of the action called (or the fields of the event
        filtered) around ``offset``, the one being written active."""
        head = a.text[:offset]
        enclosing = enclosing_call(head)
        program = self.base(a).program or a.program
        if enclosing is None or program is None:
            return None
        name, inner = enclosing
        index, named, current = _current_argument(inner)
        if name in program.actions:
            act = program.actions[name]
            labels = [f"{p.name}: {p.type.describe()}" + (f" = {show_value(p.default)}" if p.has_default else "")
                      for p in act.params] + ([f"...{act.rest}"] if act.rest else [])
            names = [p.name for p in act.params]
            if named is not None:
                active = names.index(named) if named in names else (len(names) if act.rest else None)
            else:
                active = index if index < len(names) else None
            kind = "action"
        elif name in program.events:
            ev = program.events[name]
            labels = [f"{f}: {t.describe()}" for f, t in ev.fields.items()]
            names = list(ev.fields)
            word = re.match(r"\s*(?:not\s+)?([A-Za-z_][A-Za-z0-9_]*)", current)
            active = names.index(word.group(1)) if word and word.group(1) in names else None
            kind = "event"
        else:
            return None
        label = f"{name}({', '.join(labels)})"
        count = self.lines("").count  # offsets in the client's position units
        params, at = [], len(name) + 1
        for text in labels:
            start = count(label[:at])
            params.append(T.ParameterInformation(label=(start, start + count(text))))
            at += len(text) + 2
        b = self.base(a)
        md = self.declaration_markdown(b, b.index.get((kind, name)), f"{kind} `{name}`")
        doc = T.MarkupContent(kind=T.MarkupKind.Markdown, value=md) if md else None
        sig = T.SignatureInformation(label=label, documentation=doc, parameters=params, active_parameter=active)
        return T.SignatureHelp(signatures=[sig], active_signature=0, active_parameter=active)

    # -------------------------------------------------------------- completion items

    def completion_item(self, c: Completion, i: int, rng: T.Range, b: Analysis) -> T.CompletionItem:
        doc = None
        if c.kind in ("event", "action"):
            md = self.declaration_markdown(b, b.index.get((c.kind, c.label)), f"{c.kind} `{c.label}`")
            doc = T.MarkupContent(kind=T.MarkupKind.Markdown, value=md) if md else None
        text, fmt = c.text, None
        act = b.program.actions.get(c.label) if c.kind == "action" and b.program else None
        if act is not None and self.snippets():
            text, fmt = _call_snippet(act), T.InsertTextFormat.Snippet
        return T.CompletionItem(
            label=c.label, kind=_KIND.get(c.kind, T.CompletionItemKind.Text), detail=c.detail or None,
            documentation=doc, sort_text=f"{i:05d}", filter_text=c.label,
            text_edit=T.TextEdit(range=rng, new_text=text), insert_text_format=fmt)

    def snippets(self) -> bool:
        """Whether the client takes snippets in completion items."""
        td = self.client_capabilities.text_document
        item = td.completion.completion_item if td and td.completion else None
        return bool(item and item.snippet_support)


# ---------------------------------------------------------------- AST helpers


def trigger_markdown(name: str, wf: Optional[ir.Workflow], program: Optional[ir.Program]) -> Optional[str]:
    """Hover text for ``trigger.NAME``: which events it reads, and its type."""
    if wf is None or wf.trigger is None or program is None:
        return None
    types = [x.event for x in (wf.trigger.items if isinstance(wf.trigger, ir.COr) else (wf.trigger,))
             if isinstance(x, ir.CEvent)]
    which = ", ".join(f"`{t}`" for t in types)
    if name == "time":
        return (f"```goal\ntrigger.time: string\n```\nthe instant of the event that enrolled the contact "
                f"({which}), as UTC text like `2026-11-16T14:02:00Z`")
    fts = [program.events[t].fields[name] for t in types if t in program.events and name in program.events[t].fields]
    if not fts:
        return None
    return (f"```goal\ntrigger.{name}: {fts[0].describe()}\n```\nfield `{name}` of the event that enrolled the "
            f"contact in this enrollment ({which})")


def setting_markdown(node) -> Optional[str]:
    """Hover text for a workflow setting: what it makes the engine do."""
    from ..syntax.formatter import setting
    text = _SETTING_DOCS.get(type(node).__name__)
    if text is None:
        return None
    if isinstance(node, A.AllowReentry) and node.after is not None:
        text = ("A contact may enroll again, by a new trigger event, once at least this long has passed since "
                "its previous enrollment began (calendar days in the workflow's time zone); a trigger event "
                "before then enrolls nobody.")
    return f"```goal\n{setting(node)}\n```\n{text}"


_SETTING_DOCS = {
    "RunsPerpetual": "The workflow runs for the whole run, enrolling contacts as they qualify (the default).",
    "RunsOnce": "The audience is evaluated once, at this instant; nobody enrolls later.",
    "EvaluateEvery": "The workflow acts only at its ticks: whole multiples of this length since "
                     "1970-01-01T00:00Z.",
    "EvaluateEveryAt": "The workflow acts only at its ticks: this time of day on the wall clock of the "
                       "workflow's time zone (on that weekday), whatever daylight saving does; a time the clock "
                       "skips moves forward by the gap, one it passes twice is the later instant.",
    "EvaluateOnEvent": "The workflow acts for a contact at each of its events, at its timers and at activation.",
    "TimezoneSetting": "Calendar units, times of day and date-times without an offset are read in this zone.",
    "EnrollWhen": "A matching event enrolls a contact that is not enrolled and has never been.",
    "Audience": "A contact that matches enrolls at an acting instant; one that leaves while still matching "
                "waits until it is seen not matching.",
    "AllowReentry": "A contact that has left may enroll again at its next trigger event.",
    "SkipIfGoalMet": "A contact that would enroll while an exit goal already holds is not enrolled: the activity "
                     "stream writes `not_enrolled` with the goal. An audience contact is then treated as one "
                     "that left while matching.",
    "ExitWhenAudienceFails": "At each acting instant, after the goal check, an enrolled contact that no longer "
                             "matches the audience leaves the workflow (reason `audience`).",
}


def _workflows(module: Optional[A.Module]) -> list[A.Workflow]:
    return [it for it in (module.items if module else ()) if isinstance(it, A.Workflow)]


def _find_step(wf: A.Workflow, name: str):
    """(step, its top-level step) for a step name (quoted goal names too)."""
    bare = name[1:-1] if len(name) >= 2 and name[0] == name[-1] == '"' else name
    for top in wf.steps:
        for st in A.all_steps([top]):
            ident = A.step_name(st)
            if ident is not None and ident.name == bare:
                return st, top
    return None


def _step_names_of(wf: Optional[A.Workflow]) -> set[str]:
    out = set()
    for st in A.all_steps(wf.steps) if wf else ():
        ident = A.step_name(st)
        if ident is not None:
            out.add(ident.name)
    return out


def _contains_offset(span: Span, file: str, offset: int) -> bool:
    return span.file == file and span.start <= offset <= span.end and span.end > span.start


def _chain_at(module: A.Module, offset: int) -> list:
    """The nodes from the module down to the innermost name at ``offset``."""
    chain = [module]
    node = module
    while True:
        nxt = None
        for child in A.children(node):
            span = getattr(child, "span", None)
            if span is not None and _contains_offset(span, module.file, offset):
                nxt = child
                break
        if nxt is None:
            return chain
        chain.append(nxt)
        node = nxt


def _resolve(chain: list, program: Optional[ir.Program]) -> Optional[Target]:
    node = chain[-1]
    parent = chain[-2] if len(chain) > 1 else None
    events = program.events if program else {}
    segments = program.segments if program else {}
    wf = next((n for n in reversed(chain) if isinstance(n, A.Workflow)), None)
    if isinstance(node, A.Str):
        if isinstance(parent, A.Import):
            return Target("import", node.value, node.span, node=parent)
        return None
    if isinstance(node, A.Ident):
        name = node.name
        if isinstance(parent, A.ActionCall) and parent.name is node:
            return Target("action", name, node.span)
        if isinstance(parent, (A.SkipStep, A.OnAchieved)):
            return Target("step", name, node.span, workflow=wf)
        if isinstance(parent, (A.ActionStep, A.WaitFor, A.WaitUntilTime, A.WaitUntilDate, A.WaitUntilCond)):
            return Target("step", name, node.span, workflow=wf)
        if isinstance(parent, A.ActionDecl):
            return Target("action", name, node.span)
        if isinstance(parent, A.Effect):
            return Target("effect", name, node.span)
        if isinstance(parent, A.SegmentDef):
            return Target("segment", name, node.span)
        if isinstance(parent, A.Arg):
            call = chain[-3] if len(chain) > 2 and isinstance(chain[-3], A.ActionCall) else None
            return Target("param", name, node.span, action=call.name.name) if call else None
        if isinstance(parent, A.Param):
            decl = chain[-3] if len(chain) > 2 and isinstance(chain[-3], A.ActionDecl) else None
            return Target("param", name, node.span, action=decl.name.name) if decl else None
        if isinstance(parent, A.FieldDecl):
            decl = chain[-3] if len(chain) > 2 and isinstance(chain[-3], A.EventDecl) else None
            return Target("field", name, node.span, event=decl.name.dotted) if decl else None
        if isinstance(parent, A.GoalBlock):
            exit_goal = any(isinstance(n, A.GoalsSection) for n in chain)
            if exit_goal:
                return Target("goal", name, node.span, workflow=wf, node=parent)
            return Target("step", name, node.span, workflow=wf)
        if isinstance(parent, A.Workflow):
            return Target("workflow", name, node.span, workflow=parent, node=parent)
        if isinstance(parent, A.Expect):
            for kind in ("goal", "workflow", "step", "contact"):
                if getattr(parent, kind) is node:
                    return Target(f"test_{kind}", name, node.span, node=parent)
        if isinstance(parent, (A.TestContact, A.TestEvent)):
            return Target("test_contact", name, node.span, node=parent)
        return None
    if not isinstance(node, A.Ref):
        return None
    dotted = node.dotted
    if isinstance(parent, (A.EventDecl, A.Emit)):
        return Target("event", dotted, node.span)
    if isinstance(parent, A.RefAtom) and parent.ref is node and dotted in events:
        return Target("event", dotted, node.span)
    if node.parts[0] == "contact" and len(node.parts) > 1:
        return Target("attribute", ".".join(node.parts[1:]), node.span)
    if isinstance(parent, A.Effect):  # add_to(contact.tags, tag): a field of the event declared
        decl = chain[-3] if len(chain) > 2 and isinstance(chain[-3], A.EventDecl) else None
        return Target("field", dotted, node.span, event=decl.name.dotted) if decl else None
    if node.parts[0] == "trigger" and len(node.parts) == 2 and dotted not in events:
        return Target("trigger", node.parts[1], node.span, workflow=wf)
    # Inside an event's filter: a field, an enum value or a step name.
    atom = next((n for n in reversed(chain[:-1]) if isinstance(n, A.RefAtom) and n.ref is not node
                 and n.ref.dotted in events), None)
    if atom is not None and len(node.parts) == 1:
        ev = events[atom.ref.dotted]
        if dotted in ev.fields and _is_field_side(chain, node):
            return Target("field", dotted, node.span, event=ev.name)
        field = _compared_field(chain, node, ev)
        if field is not None:
            ft = ev.fields[field]
            if ft.kind == "enum" and dotted in ft.values:
                return Target("enum", dotted, node.span, event=ev.name, field=field)
            if ft.kind == "step":
                return Target("step", dotted, node.span, workflow=wf)
        if dotted in ev.fields:
            return Target("field", dotted, node.span, event=ev.name)
    if len(node.parts) == 1:
        if dotted in _step_names_of(wf):
            return Target("step", dotted, node.span, workflow=wf)
        if dotted in segments:
            return Target("segment", dotted, node.span)
    if dotted in events:
        return Target("event", dotted, node.span)
    return None


def _comparison(chain: list):
    return next((n for n in reversed(chain) if isinstance(n, (A.Compare, A.In, A.TextOp))), None)


def _is_field_side(chain: list, node: A.Ref) -> bool:
    """True unless ``node`` is the value side of a comparison with a field."""
    cmp = _comparison(chain)
    if cmp is None:
        return True
    return cmp.left is node or (isinstance(cmp, A.In) and not isinstance(cmp.right, A.ListLit) and cmp.right is node)


def _compared_field(chain: list, node: A.Ref, ev: ir.EventType) -> Optional[str]:
    """The field the value ``node`` is compared with (``status == paid``,
    ``status in [paid, void]``)."""
    cmp = _comparison(chain)
    if cmp is None:
        return None
    for side in (cmp.left, cmp.right):
        if isinstance(side, A.Ref) and side is not node and len(side.parts) == 1 and side.parts[0] in ev.fields:
            return side.parts[0]
    return None


def _workflow_region(text: str, offset: int) -> Optional[tuple[str, int, int]]:
    """(name, start, end) of the workflow whose text surrounds ``offset``,
    found by the ``workflow "..."`` lines (works on text that does not parse)."""
    starts = list(_WF_START.finditer(text))
    before = [m for m in starts if m.start() <= offset]
    if not before:
        return None
    m = before[-1]
    after = [s.start() for s in starts if s.start() > m.start()]
    name = m.group(1).replace('\\"', '"').replace("\\\\", "\\")
    return name, m.start(), after[0] if after else len(text)


def _span_of(file: str, text: str, start: int, end: int) -> Span:
    line = text.count("\n", 0, start) + 1
    col = start - (text.rfind("\n", 0, start) + 1) + 1
    end_line = text.count("\n", 0, end) + 1
    end_col = end - (text.rfind("\n", 0, end) + 1) + 1
    return Span(file, line, col, end_line, end_col, start, end)


def _doc_comment(source: str, line: int) -> str:
    """The ``#`` comment lines right above line ``line`` (1-based)."""
    lines = source.split("\n")
    out = []
    i = line - 2
    while i >= 0 and lines[i].strip().startswith("#"):
        out.append(lines[i].strip()[1:].strip())
        i -= 1
    return "\n".join(reversed(out))


def _key_paths(rec: dict, prefix: str, out: set, depth: int = 0) -> None:
    for k, v in rec.items():
        if not isinstance(k, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", k):
            continue
        path = prefix + k
        out.add(path)
        if isinstance(v, dict) and depth < 8:
            _key_paths(v, path + ".", out, depth + 1)


def _call_snippet(act: ir.ActionType) -> str:
    """A call of ``act`` as an LSP snippet, a placeholder for each required
    parameter (``send_invoice("${1:template}")$0``); a choice for an enum."""
    parts = []
    for p in act.params:
        if p.has_default:
            continue
        n = len(parts) + 1
        if p.type.kind == "enum" and p.type.values:
            parts.append(f"${{{n}|{','.join(p.type.values)}|}}")
        elif p.type.kind == "string":
            parts.append(f'"${{{n}:{p.name}}}"')
        else:
            parts.append(f"${{{n}:{p.name}}}")
    if act.rest and not parts:  # update_contact(...fields): named arguments
        parts.append("${1:name}: ${2:value}")
    return f"{act.name}({', '.join(parts) if parts else '$1'})$0"


def _current_argument(inner: str) -> tuple[int, Optional[str], str]:
    """For the text of a call after its '(': the index of the argument being
    written (commas outside strings and brackets), its name if it is a named
    argument (``amount: 1``), and its text so far."""
    depth, index, start, in_str, i = 0, 0, 0, False, 0
    while i < len(inner):
        ch = inner[i]
        if in_str:
            if ch == "\\":
                i += 1
            elif ch == '"':
                in_str = False
        elif ch == '"':
            in_str = True
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth = max(0, depth - 1)
        elif ch == "," and depth == 0:
            index, start = index + 1, i + 1
        i += 1
    m = re.match(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*:", inner[start:])
    return index, (m.group(1) if m else None), inner[start:]


def _type_text(t: Optional[A.TypeExpr]) -> str:
    if t is None:
        return ""
    base = f"enum({', '.join(t.values)})" if t.name == "enum" else t.name
    return base + ("?" if t.optional else "")


def _one_line(text: str, limit: int = 60) -> str:
    first = " ".join(text.split("\n")[0].split())
    return first if len(first) <= limit else first[: limit - 1] + "…"


def _contains(outer: T.Range, inner: T.Range) -> bool:
    return (outer.start.line, outer.start.character) <= (inner.start.line, inner.start.character) and \
        (inner.end.line, inner.end.character) <= (outer.end.line, outer.end.character)


# ---------------------------------------------------------------- wiring

def _guard(empty: Callable[[], Any] = lambda: None):
    """Run a handler; on an internal error log it and answer ``empty()``."""
    def wrap(fn):
        @functools.wraps(fn)
        def handler(ls: GoalLanguageServer, params):
            try:
                return fn(ls, params)
            except Exception as e:  # noqa: BLE001 - the server must survive anything
                log.exception("goal lsp: internal error in %s", fn.__name__)
                try:
                    ls.window_log_message(T.LogMessageParams(
                        type=T.MessageType.Error,
                        message=f"goal lsp: internal error in {fn.__name__}: {type(e).__name__}: {e}\n"
                                + traceback.format_exc(limit=8)))
                except Exception:  # noqa: BLE001
                    pass
                return empty()
        return handler
    return wrap


def create_server() -> GoalLanguageServer:
    server = GoalLanguageServer()

    @server.feature(T.INITIALIZE)
    @_guard()
    def initialize(ls: GoalLanguageServer, params: T.InitializeParams):
        # Show file names as `goal check` would from the project's folder.
        root = ls.workspace.root_path
        if root and os.path.isdir(root):
            os.chdir(root)

    @server.feature(T.INITIALIZED)
    @_guard()
    def initialized(ls: GoalLanguageServer, params: T.InitializedParams):
        # Ask to hear of .goal files (imports) and contacts.jsonl (attributes,
        # the contacts schema) changed outside the editor, where the client
        # can watch files for us.
        ws = ls.client_capabilities.workspace
        watched = ws.did_change_watched_files if ws else None
        if watched and watched.dynamic_registration:
            ls.client_register_capability(T.RegistrationParams(registrations=[T.Registration(
                id="goal-watched-files", method=T.WORKSPACE_DID_CHANGE_WATCHED_FILES,
                register_options=T.DidChangeWatchedFilesRegistrationOptions(watchers=[
                    T.FileSystemWatcher(glob_pattern="**/*.goal"),
                    T.FileSystemWatcher(glob_pattern=f"**/{CONTACTS_FILE}")]))]))

    @server.feature(T.TEXT_DOCUMENT_DID_OPEN)
    @_guard()
    def did_open(ls: GoalLanguageServer, params: T.DidOpenTextDocumentParams):
        ls.open_uris[params.text_document.uri] = None
        ls.refresh(params.text_document.uri)

    @server.feature(T.TEXT_DOCUMENT_DID_CHANGE)
    @_guard()
    def did_change(ls: GoalLanguageServer, params: T.DidChangeTextDocumentParams):
        ls.refresh(params.text_document.uri)

    @server.feature(T.TEXT_DOCUMENT_DID_SAVE)
    @_guard()
    def did_save(ls: GoalLanguageServer, params: T.DidSaveTextDocumentParams):
        ls.refresh_all()  # files that import it and are not open read it from disk

    @server.feature(T.TEXT_DOCUMENT_DID_CLOSE)
    @_guard()
    def did_close(ls: GoalLanguageServer, params: T.DidCloseTextDocumentParams):
        ls.forget(params.text_document.uri)
        ls.refresh_all()

    @server.feature(T.WORKSPACE_DID_CHANGE_WATCHED_FILES)
    @_guard()
    def did_change_watched(ls: GoalLanguageServer, params: T.DidChangeWatchedFilesParams):
        ls.refresh_all()

    @server.feature(T.TEXT_DOCUMENT_COMPLETION,
                    T.CompletionOptions(trigger_characters=[".", "(", "[", ",", ":"]))
    @_guard(lambda: T.CompletionList(is_incomplete=False, items=[]))
    def completion(ls: GoalLanguageServer, params: T.CompletionParams):
        a = ls.analysis(params.text_document.uri)
        b = ls.base(a)
        lines = ls.lines(a.text)
        offset = lines.offset(params.position)
        found = complete(a.text, offset, b.program or a.program, attributes=ls.attributes_at(a, offset),
                         steps=ls.step_names(a, offset), in_file=True)
        prefix = word_before(a.text, offset)
        rng = T.Range(lines.offset_position(offset - len(prefix)), lines.offset_position(offset))
        return T.CompletionList(is_incomplete=False,
                                items=[ls.completion_item(c, i, rng, b) for i, c in enumerate(found)])

    @server.feature(T.TEXT_DOCUMENT_SIGNATURE_HELP,
                    T.SignatureHelpOptions(trigger_characters=["(", ","], retrigger_characters=[":"]))
    @_guard()
    def signature_help(ls: GoalLanguageServer, params: T.SignatureHelpParams):
        a = ls.analysis(params.text_document.uri)
        return ls.signature_help(a, ls.lines(a.text).offset(params.position))

    @server.feature(T.TEXT_DOCUMENT_HOVER)
    @_guard()
    def hover(ls: GoalLanguageServer, params: T.HoverParams):
        a = ls.analysis(params.text_document.uri)
        lines = ls.lines(a.text)
        t = ls.target_at(a, lines.offset(params.position))
        if t is None:
            return None
        text = ls.hover_text(t, a)
        if not text:
            return None
        return T.Hover(contents=T.MarkupContent(kind=T.MarkupKind.Markdown, value=text), range=lines.range(t.span))

    @server.feature(T.TEXT_DOCUMENT_DEFINITION)
    @_guard(list)
    def definition(ls: GoalLanguageServer, params: T.DefinitionParams):
        a = ls.analysis(params.text_document.uri)
        t = ls.target_at(a, ls.lines(a.text).offset(params.position))
        return ls.definition(t, a) if t is not None else []

    @server.feature(T.TEXT_DOCUMENT_DOCUMENT_SYMBOL)
    @_guard(list)
    def document_symbol(ls: GoalLanguageServer, params: T.DocumentSymbolParams):
        return ls.symbols(ls.analysis(params.text_document.uri))

    @server.feature(T.TEXT_DOCUMENT_FORMATTING)
    @_guard(list)
    def formatting(ls: GoalLanguageServer, params: T.DocumentFormattingParams):
        text = ls.text(params.text_document.uri)
        out, _diags = format_source(text, ls.analysis(params.text_document.uri).name)
        if out is None or out == text:
            return []
        lines = ls.lines(text)
        return [T.TextEdit(range=T.Range(T.Position(0, 0), lines.end()), new_text=out)]

    return server


def serve(log_file: Optional[str] = None, verbose: bool = False) -> None:
    """Run the language server over stdio until the client says exit."""
    handler: logging.Handler = logging.FileHandler(log_file, encoding="utf-8") if log_file else logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose else logging.WARNING)
    create_server().start_io()


__all__ = ["GoalLanguageServer", "create_server", "serve"]
