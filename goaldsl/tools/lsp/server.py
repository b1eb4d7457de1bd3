"""The server itself: pygls with an error answer for a request it cannot
read, put together from its parts, and the handler of each request,
guarded so that the server never dies on any input."""
from __future__ import annotations

import functools
import logging
import os
import traceback
from typing import Any, Callable, Optional

from lsprotocol import types as T
from pygls.exceptions import JsonRpcException
from pygls.lsp.server import LanguageServer
from pygls.protocol import LanguageServerProtocol

from ... import __version__
from ...semantics.incremental import Memo
from ...semantics.loader import CONTACTS_FILE
from ...syntax.blocks import Blocks
from ...syntax.formatter import format_source
from ..completion import complete, word_before
from .contacts import ContactAttributes
from .cursor import Cursor
from .diagnostics import Diagnostics
from .documents import Analysis, Documents
from .editing import Editing
from .hover import Hover
from .positions import Lines
from .symbols import Symbols

log = logging.getLogger("goaldsl.lsp")


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


class GoalLanguageServer(LanguageServer, Documents, Diagnostics, ContactAttributes, Cursor, Hover, Symbols,
                         Editing):
    """The language server: its state, and one part per concern (each in a
    module of this package)."""

    def __init__(self) -> None:
        super().__init__("goal-lsp", __version__, protocol_cls=_Protocol)
        # Two analyses of a document (documents.py): ``current`` (parsed
        # block by block, checked with a memo: what an edit costs is the
        # blocks it touched) for diagnostics and completion; ``analyses``
        # (parsed whole, with spans where they are in the file) for every
        # other request, made when one comes.
        self.currents: dict[str, Analysis] = {}
        self.analyses: dict[str, Analysis] = {}
        self.good: dict[str, Analysis] = {}  # the last analysis of a document that parsed
        self.good_currents: dict[str, Analysis] = {}  # the last current analysis of a document that parsed
        self.good_text: dict[str, str] = {}  # the last text of a document that parsed
        self.blocks = Blocks()
        self.memos: dict[str, Memo] = {}
        self._item_names: dict[int, tuple] = {}  # id(item) -> (item, its contact references, its calls)
        self._contact_words: Optional[tuple] = None  # attributes_at's reading of the last text
        self._lines: Optional[Lines] = None
        # The open documents by the URI the client gave (pygls keys its own
        # table by the unquoted URI; diagnostics must go to the client's).
        self.open_uris: dict[str, None] = {}
        self._contacts: dict[str, tuple[float, int, frozenset[str]]] = {}
        self._schemas: dict[str, tuple[float, int, dict]] = {}

    # An exception outside a request (in a notification handler, say) must not
    # close the server, which pygls does by default.
    def report_server_error(self, error: Exception, source) -> None:  # noqa: D401
        log.error("goal lsp: %s: %s", getattr(source, "__name__", source), error)


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


# ---------------------------------------------------------------- the handlers

@_guard()
def initialize(ls: GoalLanguageServer, params: T.InitializeParams):
    # Show file names as `goal check` would from the project's folder.
    root = ls.workspace.root_path
    if root and os.path.isdir(root):
        os.chdir(root)

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

@_guard()
def did_open(ls: GoalLanguageServer, params: T.DidOpenTextDocumentParams):
    ls.open_uris[params.text_document.uri] = None
    ls.refresh(params.text_document.uri)

@_guard()
def did_change(ls: GoalLanguageServer, params: T.DidChangeTextDocumentParams):
    ls.refresh(params.text_document.uri)

@_guard()
def did_save(ls: GoalLanguageServer, params: T.DidSaveTextDocumentParams):
    ls.refresh_all()  # files that import it and are not open read it from disk

@_guard()
def did_close(ls: GoalLanguageServer, params: T.DidCloseTextDocumentParams):
    ls.forget(params.text_document.uri)
    ls.refresh_all()

@_guard()
def did_change_watched(ls: GoalLanguageServer, params: T.DidChangeWatchedFilesParams):
    ls.refresh_all()

@_guard(lambda: T.CompletionList(is_incomplete=False, items=[]))
def completion(ls: GoalLanguageServer, params: T.CompletionParams):
    a = ls.current(params.text_document.uri)
    b = ls.base(a)
    lines = ls.lines(a.text)
    offset = lines.offset(params.position)
    found = complete(a.text, offset, b.program or a.program, attributes=ls.attributes_at(a, offset),
                     steps=ls.step_names(a, offset), in_file=True)
    prefix = word_before(a.text, offset)
    rng = T.Range(lines.offset_position(offset - len(prefix)), lines.offset_position(offset))
    return T.CompletionList(is_incomplete=False,
                            items=[ls.completion_item(c, i, rng, b) for i, c in enumerate(found)])

@_guard()
def signature_help(ls: GoalLanguageServer, params: T.SignatureHelpParams):
    a = ls.analysis(params.text_document.uri)
    return ls.signature_help(a, ls.lines(a.text).offset(params.position))

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

@_guard(list)
def definition(ls: GoalLanguageServer, params: T.DefinitionParams):
    a = ls.analysis(params.text_document.uri)
    t = ls.target_at(a, ls.lines(a.text).offset(params.position))
    return ls.definition(t, a) if t is not None else []

@_guard(list)
def document_symbol(ls: GoalLanguageServer, params: T.DocumentSymbolParams):
    return ls.symbols(ls.analysis(params.text_document.uri))

@_guard(list)
def formatting(ls: GoalLanguageServer, params: T.DocumentFormattingParams):
    text = ls.text(params.text_document.uri)
    out, _diags = format_source(text, ls.analysis(params.text_document.uri).name)
    if out is None or out == text:
        return []
    lines = ls.lines(text)
    return [T.TextEdit(range=T.Range(T.Position(0, 0), lines.end()), new_text=out)]


# What each request and notification runs: (feature, its options, handler).
_HANDLERS = [
    (T.INITIALIZE, None, initialize),
    (T.INITIALIZED, None, initialized),
    (T.TEXT_DOCUMENT_DID_OPEN, None, did_open),
    (T.TEXT_DOCUMENT_DID_CHANGE, None, did_change),
    (T.TEXT_DOCUMENT_DID_SAVE, None, did_save),
    (T.TEXT_DOCUMENT_DID_CLOSE, None, did_close),
    (T.WORKSPACE_DID_CHANGE_WATCHED_FILES, None, did_change_watched),
    (T.TEXT_DOCUMENT_COMPLETION, T.CompletionOptions(trigger_characters=[".", "(", "[", ",", ":"]), completion),
    (T.TEXT_DOCUMENT_SIGNATURE_HELP,
     T.SignatureHelpOptions(trigger_characters=["(", ","], retrigger_characters=[":"]), signature_help),
    (T.TEXT_DOCUMENT_HOVER, None, hover),
    (T.TEXT_DOCUMENT_DEFINITION, None, definition),
    (T.TEXT_DOCUMENT_DOCUMENT_SYMBOL, None, document_symbol),
    (T.TEXT_DOCUMENT_FORMATTING, None, formatting),
]


def create_server() -> GoalLanguageServer:
    server = GoalLanguageServer()
    for feature, options, handler in _HANDLERS:
        server.feature(feature, options)(handler)
    return server


def serve(log_file: Optional[str] = None, verbose: bool = False) -> None:
    """Run the language server over stdio until the client says exit."""
    handler: logging.Handler = logging.FileHandler(log_file, encoding="utf-8") if log_file else logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose else logging.WARNING)
    create_server().start_io()
