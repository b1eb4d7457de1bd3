"""Source text to AST. With ``lalr.py`` (its fast path), the only module
that touches Lark.

The LALR parser runs with an inline transformer (``_Builder``), so the AST is
built bottom-up during parsing, with no recursion over the tree. A text is
parsed first by the fast path (``lalr.py``: the grammar's tables without
Lark); a text it gives up on (every syntax error) by Lark, whose exceptions
are turned into diagnostics here; nothing Lark-typed leaves. Lark is
imported only then.
"""
from __future__ import annotations

import functools
import itertools
import re
import threading

TYPE_CHECKING = False  # (typing's, without importing typing: docs/performance.md, "Start-up")

from . import ast as A
from . import lalr, nodes
from .lalr import Token as FastToken
from .diagnostics import Diagnostic, closest, error
from .resources import cache_folder, grammar_path, prune_cache
from .source import Span

if TYPE_CHECKING:
    from typing import Iterable, Optional
    from lark import Lark, Token

    from lark.exceptions import UnexpectedInput

# Limits, documented in docs/limits.md. They keep every later stage (which
# may recurse once per nesting level) far from Python's recursion limit.
MAX_FILE_BYTES = 2 * 1024 * 1024
MAX_NESTING = 200
MAX_DURATION_SECONDS = 10 * 366 * 86400  # about ten years
MAX_COUNT = 1_000_000


@nodes.node
class ParseResult(nodes.Node):
    module: A.Module | None
    diagnostics: tuple[Diagnostic, ...]
    # Parsed block by block (syntax/blocks.py): a block's file -> where it is.
    places: dict = nodes.field(factory=dict, eq=False)


_LOCK = threading.Lock()


@functools.lru_cache(maxsize=1)
def _builder() -> "_Builder":
    # One builder whose per-parse state is reset under a lock, shared by
    # the fast path and Lark's parser.
    return _Builder()


@functools.lru_cache(maxsize=1)
def _machine() -> tuple["Lark", "_Builder"]:
    # One parser, built once: building a Lark parser costs far more than a parse.
    from lark import Lark
    builder = _builder()
    grammar = _grammar_text()
    lark = Lark(grammar, parser="lalr", lexer="contextual",
                keep_all_tokens=True, maybe_placeholders=True, transformer=builder,
                lexer_callbacks={"COMMENT": builder.comment}, postlex=_NamesEverywhere(),
                cache=_cache_path(grammar))
    return lark, builder


@functools.lru_cache(maxsize=1)
def _grammar_text() -> str:
    return grammar_path().read_text(encoding="utf-8")


@functools.lru_cache(maxsize=1)
def _fast() -> Optional[lalr.FastParser]:
    """The fast path, or None when it cannot run this grammar (then Lark parses everything)."""
    grammar = _grammar_text()
    path = _cache_path(grammar + f"\n// fast tables {lalr.FORMAT}", "tables")
    made_from = {"grammar": grammar, "lark": _lark_version()}
    made = []

    def make():
        made.append(True)
        return {**lalr.build_tables(*_machine()), **made_from}

    try:
        data = lalr.load_tables(path, make, made_from)
        if made and path:
            _prune_tables(path)
        return lalr.FastParser(data, _builder())
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


def _lark_version() -> str:
    """Lark's version, without importing it (the fast path must not): where
    its package is and when it changed."""
    import importlib.util
    import os
    spec = importlib.util.find_spec("lark")
    origin = spec.origin if spec is not None else None
    try:
        st = os.stat(origin) if origin else None
    except OSError:
        st = None
    return f"{origin}:{st.st_mtime_ns}:{st.st_size}" if st else "?"


def _cache_path(grammar: str, suffix: str = "cache"):
    """Where Lark may keep its parse tables (halves start-up), or False. The
    name is a checksum of the grammar and Lark's version (zlib's: hashlib's
    import costs more than the rest); what is read is checked against them
    (Lark checks its own cache; ``_fast`` the tables)."""
    import os
    import zlib
    key = f"{zlib.crc32((grammar + _lark_version()).encode()):08x}"
    folder = cache_folder()
    if folder is None:
        return False
    return os.path.join(folder, f"lark-{key}.{suffix}")


# Parser files kept in the cache folder: one set per grammar and Lark install
# (a goal version, a checkout, a virtual environment), made again if pruned.
KEEP_TABLES = 4  # our tables (.tables; .json up to format 3, of older versions), one per set
KEEP_LARK_CACHES = 2 * KEEP_TABLES  # Lark's own (.cache): the main parser's and the plain one's


def _prune_tables(path: str) -> None:
    """Called when tables were made (a new grammar or Lark): remove the
    parser files of the sets least recently made, so the cache folder does
    not grow with every version."""
    import os
    folder = os.path.dirname(path)
    prune_cache(folder, ".tables", path, keep_files=KEEP_TABLES, prefix="lark-")
    prune_cache(folder, ".json", "", keep_files=KEEP_TABLES, prefix="lark-")  # (tables format 3 and before: JSON)
    main = _cache_path(_grammar_text())
    prune_cache(folder, ".cache", main or "", keep_files=KEEP_LARK_CACHES, prefix="lark-")


class _NamesEverywhere:
    """Lets the contextual lexer match NAME in every state, so a keyword is
    only recognised as a whole word: ``dayz`` is one unexpected name, not the
    keyword ``day`` followed by ``z``."""

    always_accept = ("NAME",)

    def process(self, stream):
        return stream


#: Keywords that are not reserved: added to the language after programs
#: used them as names (`wait 1 hour as after`), they are keywords only where
#: their construct stands (`allow reentry after 30 days`); the contextual
#: lexer reads them as names everywhere else. docs/decisions.md.
SOFT_KEYWORDS = frozenset({"after", "met", "exit", "no", "longer", "matches"})


@functools.lru_cache(maxsize=1)
def keywords() -> frozenset[str]:
    """Every keyword of the language, read from the grammar (the words
    completion offers and highlighting shows)."""
    text = grammar_path().read_text(encoding="utf-8")
    return frozenset(w for w in re.findall(r'"([a-z_]+)"', text))


@functools.lru_cache(maxsize=1)
def reserved_words() -> frozenset[str]:
    """The keywords a name may not be (error E0006): all but SOFT_KEYWORDS."""
    return keywords() - SOFT_KEYWORDS


@functools.lru_cache(maxsize=1)
def _display() -> dict[str, str]:
    names = {"NAME": "a name", "STRING": "a string", "NUMBER": "a number",
             "DATETIME": "a date-time (2026-11-16T14:00)", "TIME_OF_DAY": "a time of day (09:00)",
             "CMP_OP": "a comparison (==, !=, <, <=, >, >=)", "$END": "the end of the file",
             "AT_TIME": '"at" and a time (+2 days, 2026-11-16T14:00)'}
    for t in _machine()[0].terminals:
        if t.name not in names and t.pattern.type == "str":
            names[t.name] = f'"{t.pattern.value}"'
    return names


# ------------------------------------------------------------------ entry

def parse(text: str, file: str = "<input>", *, fast: bool = True) -> ParseResult:
    """Parse one file. Always returns; problems come back as diagnostics.
    ``fast=False`` parses with Lark alone (the reference the fast path is
    tested against)."""
    pre = _precheck(text, file)
    if pre:
        return ParseResult(None, tuple(pre))
    with _LOCK:
        builder = _builder()
        builder.reset(file)
        fast = _fast() if fast else None
        try:
            if fast is None:
                raise lalr.Bail
            module_items = fast.parse(text, builder.comments)
        except lalr.Bail:
            from lark.exceptions import UnexpectedInput
            lark, builder = _machine()
            builder.reset(file)
            try:
                module_items = lark.parse(text)
            except UnexpectedInput as e:
                return ParseResult(None, (_syntax_error(e, text, file),))
        comments, errors = builder.comments, builder.errors
    module = A.Module(file, tuple(module_items), tuple((c.start_pos, str(c)) for c in comments),
                      span=Span(file, 1, 1, text.count("\n") + 1, 1, 0, len(text)))
    return ParseResult(module, tuple(errors))


def parse_fast(text: str, file: str) -> Optional[tuple[list, list, list]]:
    """The fast path alone, on a text that passed ``file_limits`` and whose
    nesting the caller checks: (items, comments as (offset, text), the
    parser's diagnostics), or None where it gives up (the caller then parses
    the whole file with ``parse``)."""
    fast = _fast()
    if fast is None:
        return None
    with _LOCK:
        builder = _builder()
        builder.reset(file)
        try:
            items = fast.parse(text, builder.comments)
        except lalr.Bail:
            return None
        return items, [(c.start_pos, str(c)) for c in builder.comments], list(builder.errors)


def parse_condition(text: str, file: str = "<input>") -> tuple[A.Cond | None, tuple[Diagnostic, ...]]:
    """Parse a lone condition (for ``goal eval`` and the REPL)."""
    wrapped = f"segment __eval__ = {text}"
    pre = _precheck(wrapped, file)
    if pre:
        return None, tuple(_shift(d, -len("segment __eval__ = ")) for d in pre)
    res = parse(wrapped, file)
    diags = tuple(_shift(d, -len("segment __eval__ = ")) for d in res.diagnostics)
    if res.module is None or not res.module.items:
        return None, diags
    item = res.module.items[0]
    if len(res.module.items) != 1 or not isinstance(item, A.SegmentDef):
        return None, diags + (error("E0001", "expected a single condition", Span(file, 1, 1, 1, len(text) + 1)),)
    return _unshift_cond(item.cond, len("segment __eval__ = ")), diags


# ------------------------------------------------------------------ limits

_NOT_RUN = re.compile(r"(?:\bnot\b\s*)+")
_PRECHECK_STOP = re.compile(r'[#"()\[\]{}]')
STRING_REST = re.compile(r'(?:\\.|[^"\\\n])*', re.S)  # up to the closing quote or the end of the line


def _precheck(text: str, file: str) -> list[Diagnostic]:
    found = file_limits(text, file)
    if found:
        return found
    if deepest_nesting(text) + _not_run(text)[0] <= MAX_NESTING:
        return []  # (the common case, found without a loop in Python over the text)
    nest = nesting(text)
    if nest.deepest + nest.nots > MAX_NESTING:
        where = nest.not_at if nest.nots > nest.deepest else nest.where  # at the run of `not`s, not at the top of the file
        line = text.count("\n", 0, where) + 1
        col = where - (text.rfind("\n", 0, where) + 1) + 1
        return [error("E0003", f"nesting is {nest.deepest + nest.nots} levels deep; the limit is {MAX_NESTING}",
                      Span(file, line, col, line, col + 1, where, where + 1),
                      hint="flatten the condition, or move parts of it into named segments")]
    return []


def file_limits(text: str, file: str) -> list[Diagnostic]:
    """The limits of a whole file checked before parsing, but nesting (``nesting``)."""
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_FILE_BYTES:
        return [error("E0004", f"the file is {size:,} bytes; the limit is {MAX_FILE_BYTES:,} bytes",
                      Span(file, 1, 1, 1, 1), hint="split it into several files joined with import")]
    if "\x00" in text:
        i = text.index("\x00")
        line = text.count("\n", 0, i) + 1
        col = i - (text.rfind("\n", 0, i) + 1) + 1
        return [error("E0005", "the file holds a NUL character", Span(file, line, col, line, col + 1, i, i + 1),
                      hint="is this a binary file?")]
    return []


@nodes.node
class Nesting(nodes.Node):
    """How deep brackets nest in a text (``deepest``, first reached at
    ``where``), its longest run of ``not`` (``nots`` at ``not_at``), and the
    depth at its end (0 when its brackets balance)."""
    deepest: int
    where: int
    nots: int
    not_at: int
    end: int


def nesting(text: str) -> Nesting:
    depth, deepest, where = 0, 0, 0
    i, n = 0, len(text)
    # Jump from one interesting character to the next (a loop over every
    # character costs about a second a megabyte).
    interesting = _PRECHECK_STOP
    while True:
        m = interesting.search(text, i)
        if m is None:
            break
        i = m.start()
        ch = text[i]
        if ch == "#":
            j = text.find("\n", i)
            i = n if j < 0 else j
            continue
        if ch == '"':
            end = STRING_REST.match(text, i + 1).end()
            i = end + 1  # past the closing quote (or the newline that ends it)
            continue
        if ch in "([{":
            depth += 1
            if depth > deepest:
                deepest, where = depth, i
        else:
            depth -= 1
        i += 1
    nots, not_at = _not_run(text)
    return Nesting(deepest, where, nots, not_at, depth)


def _not_run(text: str) -> tuple[int, int]:
    """The longest run of ``not`` in a text and where it starts."""
    # The runs found where the word can start (a search for "not" is fast;
    # the pattern's search tried every position of the text: a tenth of a
    # large file's parse). A run starts where "not" does, and is matched
    # there with the character before it seen (``\b``): finditer's runs.
    nots, not_at = 0, 0
    i = text.find("not")
    while i >= 0:
        m = _NOT_RUN.match(text, i)
        if m is None:
            i = text.find("not", i + 1)
            continue
        k = m.group(0).count("not")
        if k > nots:
            nots, not_at = k, i
        i = text.find("not", m.end())
    return nots, not_at


# What ``nesting`` jumps over: a comment, a string and the character that
# ends it (its closing quote, or the newline or last character of the text).
_SKIPPED = re.compile(r'#[^\n]*|"(?:\\.|[^"\\\n])*.?', re.S)
_NOT_BRACKET = re.compile(r"[^()\[\]{}]+")
_DEPTH = {"(": 1, "[": 1, "{": 1, ")": -1, "]": -1, "}": -1}
# The characters that decide nesting (brackets, and those that begin or end
# a comment or a string), as UTF-8 bytes: every other character's bytes are
# none of these, so deleting them leaves these in their order.
_NOT_MARKS = bytes(b for b in range(256) if b not in b'()[]{}"#\n\\')
_SKIPPED_MARKS = re.compile(rb'#[^\n]*|"[^"\n]*.?', re.S)  # _SKIPPED, where no backslash is left
_DEPTH_MARKS = {ord(k): v for k, v in _DEPTH.items()}


def deepest_nesting(text: str) -> int:
    """``nesting(text).deepest``, found by C loops (``nesting`` costs about
    30 ms on a 10,000-line file; this, 2)."""
    # The marks alone: the comments and strings are where they were among
    # them, but for an escape (a backslash and the character after it,
    # which may have been deleted): a text with a backslash takes the
    # regular expressions on the whole text.
    marks = text.encode("utf-8", "surrogatepass").translate(None, _NOT_MARKS)
    if b"\\" in marks:
        return _deepest(map(_DEPTH.__getitem__, _NOT_BRACKET.sub("", _SKIPPED.sub("", text))))
    # Most strings hold no mark: each is then two quotes in a row, and when
    # those pairs are all the quotes there are (and no comment holds one),
    # none holds a mark. Else the comments and strings are dropped one by one.
    kept = marks.replace(b'""', b"")
    if b'"' in kept or b"#" in kept:
        kept = _SKIPPED_MARKS.sub(b"", marks)
    return _deepest(map(_DEPTH_MARKS.__getitem__, kept.translate(None, b"\n")))  # (brackets and line breaks left)


def _deepest(steps) -> int:
    """The deepest nesting reached by steps of +1 (an opening bracket) and -1."""
    return max(0, max(itertools.accumulate(steps), default=0))


# ------------------------------------------------------------------ syntax errors

@functools.lru_cache(maxsize=1)
def plain_parser() -> "Lark":
    """The grammar's LALR parser without the AST builder: for asking which
    terminals can come next (error messages, completion). Built once."""
    from lark import Lark
    grammar = _grammar_text()
    # Cached on disk like the main parser (a separate file: other options),
    # so an error message does not pay for building parse tables.
    return Lark(grammar, parser="lalr", lexer="contextual", postlex=_NamesEverywhere(),
                cache=_cache_path(grammar + "\n// plain parser"))


def acceptable(head: str) -> set[str] | None:
    """The terminals that can really come after ``head`` (None when ``head``
    does not parse). LALR merges the lookahead of states with the same items,
    so the parser's own "expected" set can hold terminals that only fit
    elsewhere (a test's `at +2 days` after a workflow's condition); feeding
    each one tells them apart."""
    from lark.exceptions import LarkError
    try:
        ip = plain_parser().parse_interactive(head)
        for _ in ip.iter_parse():
            pass
        return set(ip.accepts())
    except LarkError:
        return None


def _syntax_error(e: "UnexpectedInput", text: str, file: str) -> Diagnostic:
    from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedToken
    disp = _display()
    kws = reserved_words()
    tok = getattr(e, "token", None)
    if isinstance(e, UnexpectedEOF) or (tok is not None and tok.type == "$END"):
        pos = len(text)
    else:
        pos = getattr(tok, "start_pos", None)
        if pos is None:
            pos = getattr(e, "pos_in_stream", None)
    if isinstance(pos, int) and (getattr(e, "expected", None) or getattr(e, "allowed", None)):
        exact = acceptable(text[:pos])
        if exact and not file.endswith("_test.goal"):
            exact.discard("TEST_KW")  # a program file has no tests: do not suggest one
        if exact:
            if getattr(e, "expected", None):
                e.expected = (set(e.expected) & exact) or exact
            if getattr(e, "allowed", None):
                e.allowed = (set(e.allowed) & exact) or exact
    if isinstance(e, UnexpectedToken) and e.token.type == "$END":
        e = UnexpectedEOF(e.expected, e.state)  # type: ignore[arg-type]
        pos = len(text)
    if isinstance(e, UnexpectedEOF):
        pos = len(text)
        line = text.count("\n") + 1
        col = pos - (text.rfind("\n") + 1) + 1
        span = Span(file, line, col, line, col + 1, pos, pos)
        return error("E0001", "the file ended too early", span, detail=f"expected {_expected(e.expected)}",
                     hint="a bracket or brace may be missing its closing partner")
    if isinstance(e, UnexpectedCharacters):
        pos = e.pos_in_stream
        span = Span(file, e.line, e.column, e.line, e.column + 1, pos, pos + 1)
        ch = text[pos] if pos < len(text) else ""
        if ch == '"':
            return error("E0002", "this string is not closed before the end of the line", span,
                         hint='add the closing quote; write \\" for a quote inside a string')
        allowed = set(e.allowed or ())
        detail = f"expected {_expected(allowed)}" if allowed else None
        return error("E0002", f"unexpected character {ch!r}", span, detail=detail)
    assert isinstance(e, UnexpectedToken)
    tok = e.token
    span = _tok_span(file, tok)
    expected = set(e.expected)
    shown = _token_words(tok)
    if tok.type != "NAME" and "NAME" in expected and str(tok) in kws:
        return error("E0006", f'"{tok}" is a keyword and cannot be used as a name', span,
                     detail=f"expected {_expected(expected)}", hint="choose another name")
    hint = None
    if tok.type == "NAME":
        words = [disp[t].strip('"') for t in expected if t in disp and disp[t].startswith('"')]
        best = closest(str(tok), [w for w in words if w.isidentifier()])
        if best:
            hint = f'did you mean "{best}"?'
    if hint is None and str(tok) == "=":
        hint = 'to compare two values, write "=="'
    if hint is None and tok.start_pos is not None:
        # A mistyped keyword at the start of a line parses as an action call
        # ("audiense contact.x ..."), so the error lands on the next token:
        # look at the word before it.
        prev = re.search(r"(?:^|\n)[ \t]*([A-Za-z_][A-Za-z0-9_]*)[ \t]*$", text[:tok.start_pos])
        call_expected = any(disp.get(t) == '"("' for t in expected)
        if prev and call_expected and prev.group(1) not in kws:
            best = closest(prev.group(1), sorted(w for w in kws if w.isidentifier()))
            if best:
                hint = f'did you mean "{best}" instead of "{prev.group(1)}"?'
    return error("E0001", f"unexpected {shown}", span, detail=f"expected {_expected(expected)}", hint=hint)


def _token_words(tok: "Token") -> str:
    kinds = {"NAME": "name", "STRING": "string", "NUMBER": "number", "DATETIME": "date-time",
             "TIME_OF_DAY": "time of day"}
    value = str(tok)
    if len(value) > 40:
        value = value[:37] + "..."
    if tok.type in kinds:
        return f'{kinds[tok.type]} {value}' if tok.type == "STRING" else f'{kinds[tok.type]} "{value}"'
    return f'"{value}"'


_COND_START = {"NOT", "LPAR", "STRING", "NUMBER", "NAME"}


def _expected(names: Iterable[str]) -> str:
    disp = _display()
    names = set(names)
    words = []
    if _COND_START <= names:
        names -= _COND_START | {"TRUE", "FALSE", "LSQB", "LBRACE"}
        words.append("a condition")
    shown = sorted({disp.get(n, n.lower()) for n in names}, key=_order)
    words.extend(shown)
    if len(words) > 8:
        words = words[:7] + [f"{len(words) - 7} other things"]
    if not words:
        return "something else"
    if len(words) == 1:
        return words[0]
    return ", ".join(words[:-1]) + " or " + words[-1]


def _order(word: str):
    # Keywords first, then punctuation, then descriptions ("a name").
    if word.startswith('"') and word[1:2].isalpha():
        return (0, word)
    if word.startswith('"'):
        return (1, word)
    return (2, word)


def _tok_span(file: str, tok: "Token", make=Span) -> Span:
    return make(file, tok.line or 1, tok.column or 1, tok.end_line or tok.line or 1,
                tok.end_column or (tok.column or 1) + 1, tok.start_pos or 0, tok.end_pos or 0)


def _shift(d: Diagnostic, delta: int) -> Diagnostic:
    if d.span is None or d.span.line != 1:
        return d
    s = d.span
    end_col = s.end_col + delta if s.end_line == 1 else s.end_col
    return nodes.evolve(d, span=nodes.evolve(s, col=max(1, s.col + delta), end_col=max(1, end_col),
                                             start=max(0, s.start + delta), end=max(0, s.end + delta)))


def _unshift_cond(cond, delta):
    # Spans of a wrapped condition point into the wrapper; the REPL and eval
    # show them against the text the user typed.
    return cond if delta == 0 else _respan(cond, -delta)


def _respan(node, delta):
    # Iterative bottom-up rebuild with shifted spans.
    order = list(A.walk(node))
    done = {}
    for n in reversed(order):
        changes = {}
        for name in nodes.field_names(type(n)):
            v = getattr(n, name)
            if name == "span":
                s = v
                if s.line == 1:
                    changes["span"] = nodes.evolve(s, col=max(1, s.col + delta),
                                                   end_col=max(1, s.end_col + delta) if s.end_line == 1 else s.end_col,
                                                   start=max(0, s.start + delta), end=max(0, s.end + delta))
            else:
                nv = _replace(v, done)
                if nv is not v:
                    changes[name] = nv
        done[id(n)] = nodes.evolve(n, **changes) if changes else n
    return done[id(node)]


def _replace(v, done):
    if nodes.is_attrs_class(type(v)):
        return done.get(id(v), v)
    if isinstance(v, tuple):
        items = tuple(_replace(x, done) for x in v)
        return items if any(a is not b for a, b in zip(items, v)) else v
    return v


# ------------------------------------------------------------------ AST builder

class _Block:
    """A braced list of steps or actions, before it lands in its parent."""
    __slots__ = ("items", "span")

    def __init__(self, items, span):
        self.items = tuple(items)
        self.span = span


class _Filter(_Block):
    pass


class _Entry(_Block):
    pass


N = nodes.Makers(A)  # the AST's classes (and Span) as their constructors without the class call


_DIGITS = re.compile(r"\d+")


def _is_tok(x) -> bool:
    # A token (Lark's or the fast path's; both are strings): no other child is a string.
    return isinstance(x, str)


class _Builder:
    """Called by the LALR parser on each reduction (Lark's, as its inline
    transformer, or the fast path's); returns AST nodes."""

    def __init__(self):
        self._kw = reserved_words()
        self.reset("<input>")

    def reset(self, file: str) -> None:
        self.file = file
        self.errors: list[Diagnostic] = []
        self.comments: list = []

    def comment(self, tok) -> None:
        self.comments.append(tok)

    # -- helpers
    def _span(self, children) -> Span:
        # From the first child there to the last; a token's place is read off
        # the token (this runs once a node: no Span is made per token). The
        # fast path's tokens (``FastToken``: every field set, one line each) first.
        first = children[0] if children else None
        last = children[-1] if children else None
        if first is None or last is None:
            for first in children:
                if first is not None:
                    break
            else:
                return N.Span(self.file, 1, 1, 1, 1)
            for last in reversed(children):
                if last is not None:
                    break
        if type(first) is FastToken:
            line, col, start = first.line, first.column, first.start_pos
        elif isinstance(first, str):  # Lark's token
            line, col, start = first.line or 1, first.column or 1, first.start_pos or 0
        else:
            if first is last and type(first) is not tuple:
                return first.span  # (a node of one child: the same span, shared; spans are frozen)
            s = first.span if type(first) is not tuple else self._one(first)
            line, col, start = s.line, s.col, s.start
        if type(last) is FastToken:
            n = len(last)
            end_line, end_col, end = last.line, last.column + n, last.start_pos + n
        elif isinstance(last, str):
            end_line = last.end_line or last.line or 1
            end_col = last.end_column or (last.column or 1) + 1
            end = last.end_pos or 0
        else:
            s = last.span if type(last) is not tuple else self._one(last)
            end_line, end_col, end = s.end_line, s.end_col, s.end
        return N.Span(self.file, line, col, end_line, end_col, start, end)

    def _tok_span(self, tok) -> Span:
        if type(tok) is FastToken:
            n = len(tok)
            return N.Span(self.file, tok.line, tok.column, tok.line, tok.column + n, tok.start_pos, tok.start_pos + n)
        return _tok_span(self.file, tok, N.Span)

    def _one(self, x) -> Span:
        if isinstance(x, str):  # a token
            return self._tok_span(x)
        if isinstance(x, tuple):
            return self._span(list(x))
        return x.span

    def _ident(self, tok, *, user_name: bool = True) -> A.Ident:
        if user_name and tok in self._kw:  # (a token hashes and compares as its text)
            self.errors.append(error("E0006", f'"{tok}" is a keyword and cannot be used as a name',
                                     self._tok_span(tok), hint="choose another name"))
        return N.Ident(str(tok), span=self._tok_span(tok))

    def _as_name(self, children):
        for i, c in enumerate(children):
            if isinstance(c, str) and c.type == "_AS" and i + 1 < len(children) and children[i + 1] is not None:
                return self._ident(children[i + 1])
        return None

    def _nodes(self, children):
        return [c for c in children if c is not None and not isinstance(c, str)]  # (no token: a token is a string)

    def _int(self, tok, what: str, limit: int) -> int:
        text = str(tok)
        if not _DIGITS.fullmatch(text):
            self.errors.append(error("E0007", f"{what} must be a whole number, not {text}", self._tok_span(tok)))
            return 0
        if len(text.lstrip("0")) > len(str(limit)):  # do not convert thousands of digits
            shown = text if len(text) <= 30 else text[:27] + "..."
            self.errors.append(error("E0008", f"{what} {shown} is over the limit of {limit:,}",
                                     self._tok_span(tok)))
            return limit
        value = int(text)
        if value > limit:
            self.errors.append(error("E0008", f"{what} {value:,} is over the limit of {limit:,}",
                                     self._tok_span(tok)))
            return limit
        return value

    def _string(self, tok) -> A.Str:
        raw = str(tok)[1:-1]
        if "\\" not in raw:
            return N.Str(raw, span=self._tok_span(tok))
        out, i = [], 0
        reported = False
        while i < len(raw):
            ch = raw[i]
            if ch == "\\" and i + 1 < len(raw):
                nxt = raw[i + 1]
                mapped = {'"': '"', "\\": "\\", "n": "\n", "t": "\t"}.get(nxt)
                if mapped is None and reported:  # one error a string is enough
                    mapped = nxt
                if mapped is None:
                    reported = True
                    start = tok.start_pos + 1 + i
                    self.errors.append(error("E0009", f"unknown escape \\{nxt} in a string",
                                             Span(self.file, tok.line, tok.column + 1 + i, tok.line,
                                                  tok.column + 3 + i, start, start + 2),
                                             hint='the escapes are \\", \\\\, \\n and \\t'))
                    mapped = nxt
                out.append(mapped)
                i += 2
            else:
                out.append(ch)
                i += 1
        return N.Str("".join(out), span=self._tok_span(tok))

    def __default__(self, data, children, meta):
        if str(data).startswith("_"):
            from lark import Tree
            return Tree(data, children)  # spliced into its parent by Lark
        raise AssertionError(f"grammar rule {data!r} has no AST builder")

    # -- top level
    def start(self, c):
        return [x for x in c if x is not None and not isinstance(x, str)]

    def import_stmt(self, c):
        return N.Import(self._string(c[1]), span=self._span(c))

    def segment_def(self, c):
        return N.SegmentDef(self._ident(c[1]), c[3], span=self._span(c))

    def workflow(self, c):
        name = self._string(c[1])
        items = tuple([x for x in c[3:-1] if x is not None and not isinstance(x, str)])
        return N.Workflow(N.Ident(name.value, span=name.span), c[0].type == "DRIP_KW", items, span=self._span(c))

    # -- settings
    def runs_perpetual(self, c):
        return N.RunsPerpetual(span=self._span(c))

    def runs_once(self, c):
        return N.RunsOnce(str(c[3]), span=self._span(c))

    def evaluate_every(self, c):
        return N.EvaluateEvery(c[2], span=self._span(c))

    def evaluate_every_at(self, c):
        h, m = self._time_of_day(c[4])
        return N.EvaluateEveryAt(c[2], h, m, None, span=self._span(c))

    def evaluate_every_on_at(self, c):
        h, m = self._time_of_day(c[6])
        return N.EvaluateEveryAt(c[2], h, m, str(c[4]), span=self._span(c))

    def evaluate_on_event(self, c):
        return N.EvaluateOnEvent(span=self._span(c))

    def timezone(self, c):
        return N.TimezoneSetting(self._string(c[1]), span=self._span(c))

    def enroll_when(self, c):
        return N.EnrollWhen(c[2], span=self._span(c))

    def audience(self, c):
        return N.Audience(c[1], span=self._span(c))

    def allow_reentry(self, c):
        after = next((x for x in c if isinstance(x, A.Duration)), None)
        return N.AllowReentry(after, span=self._span(c))

    def skip_if_goal_met(self, c):
        return N.SkipIfGoalMet(span=self._span(c))

    def exit_when_audience_fails(self, c):
        return N.ExitWhenAudienceFails(span=self._span(c))

    def goals_section(self, c):
        return N.GoalsSection(tuple(self._nodes(c)), span=self._span(c))

    # -- steps
    def action_step(self, c):
        return N.ActionStep(c[0], self._as_name(c), span=self._span(c))

    def wait_for(self, c):
        return N.WaitFor(c[1], self._as_name(c), span=self._span(c))

    def _time_of_day(self, tok):
        h, m = (int(x) for x in str(tok).split(":"))
        if h > 23 or m > 59:
            self.errors.append(error("E0010", f"{tok} is not a time of day", self._tok_span(tok),
                                     hint="write hours 00-23 and minutes 00-59, as in 09:30"))
        return h, m

    def wait_time(self, c):
        h, m = self._time_of_day(c[2])
        return N.WaitUntilTime(h, m, None, self._as_name(c), span=self._span(c))

    def weekday(self, c):
        return c[0]

    def wait_weekday(self, c):
        h, m = self._time_of_day(c[3])
        return N.WaitUntilTime(h, m, str(c[2]), self._as_name(c), span=self._span(c))

    def wait_datetime(self, c):
        return N.WaitUntilDate(str(c[2]), self._as_name(c), span=self._span(c))

    def wait_cond(self, c):
        limit = next((x for x in c[3:] if isinstance(x, A.Duration)), None)
        return N.WaitUntilCond(c[2], limit, self._as_name(c), span=self._span(c))

    def block(self, c):
        return _Block(self._nodes(c), self._span(c))

    def if_step(self, c):
        branches, else_steps = [], None
        items = [x for x in c if x is not None]
        i = 0
        while i < len(items):
            x = items[i]
            if _is_tok(x) and x.type == "ELSE" and i + 1 < len(items) and isinstance(items[i + 1], _Block):
                else_steps = items[i + 1].items
                i += 2
                continue
            if not _is_tok(x) and not isinstance(x, _Block):
                branches.append((x, items[i + 1].items))
                i += 2
                continue
            i += 1
        return N.IfStep(tuple(branches), else_steps, span=self._span(c))

    def skip_target(self, c):
        tok = c[0]
        if tok.type == "STRING":
            s = self._string(tok)
            return N.Ident(s.value, span=s.span)
        return self._ident(tok)

    def skip_step(self, c):
        return N.SkipStep(c[2], span=self._span(c))

    def end_step(self, c):
        return N.EndStep(span=self._span(c))

    # -- goals
    def goal_block(self, c):
        name = self._string(c[1])
        return N.GoalBlock(N.Ident(name.value, span=name.span), tuple(self._nodes(c[3:-1])), span=self._span(c))

    def when_clause(self, c):
        return N.When(c[1], span=self._span(c))

    def then_clause(self, c):
        return N.Then(c[1].items, span=self._span(c))

    def then_if_clause(self, c):
        blocks = [x for x in c if isinstance(x, _Block)]
        return N.ThenIf(c[2], blocks[0].items, blocks[1].items if len(blocks) > 1 else None, span=self._span(c))

    def on_achieved(self, c):
        p = c[2]
        return nodes.evolve(p, span=self._span(c))

    def on_unmet(self, c):
        p = c[2]
        return nodes.evolve(p, span=self._span(c))

    def achieved_continue(self, c):
        return N.OnAchieved("continue", span=self._span(c))

    def achieved_skip(self, c):
        return N.OnAchieved("skip", c[2], span=self._span(c))

    def achieved_end(self, c):
        return N.OnAchieved("end", span=self._span(c))

    def unmet_wait(self, c):
        return N.OnUnmet("wait", span=self._span(c))

    def unmet_wait_up_to(self, c):
        return N.OnUnmet("wait_up_to", c[3], str(c[5]), span=self._span(c))

    def unmet_continue(self, c):
        return N.OnUnmet("continue", span=self._span(c))

    def unmet_end(self, c):
        return N.OnUnmet("end", span=self._span(c))

    def action_block(self, c):
        return _Block(self._nodes(c), self._span(c))

    def action_call(self, c):
        args = tuple([x for x in c[2:-1] if type(x) is A.Arg])
        return N.ActionCall(self._ident(c[0], user_name=False), args, span=self._span(c))

    def pos_arg(self, c):
        return N.Arg(None, c[0], span=self._span(c))

    def named_arg(self, c):
        return N.Arg(self._ident(c[0], user_name=False), c[2], span=self._span(c))

    # -- conditions
    def or_cond(self, c):
        return N.Or(tuple(self._nodes(c)), span=self._span(c))

    def and_cond(self, c):
        return N.And(tuple(self._nodes(c)), span=self._span(c))

    def not_(self, c):
        return N.Not(c[1], span=self._span(c))

    def paren(self, c):
        return c[1]

    def compare(self, c):
        return N.Compare(str(c[1]), c[0], c[2], span=self._span(c))

    def in_(self, c):
        return N.In(c[0], c[2], False, span=self._span(c))

    def not_in(self, c):
        return N.In(c[0], c[3], True, span=self._span(c))

    def starts_with(self, c):
        return N.TextOp("starts with", c[0], c[3], span=self._span(c))

    def ends_with(self, c):
        return N.TextOp("ends with", c[0], c[3], span=self._span(c))

    def contains(self, c):
        return N.TextOp("contains", c[0], c[2], span=self._span(c))

    def is_set(self, c):
        return N.IsSet(c[0], False, span=self._span(c))

    def is_not_set(self, c):
        return N.IsSet(c[0], True, span=self._span(c))

    def ref_atom(self, c):
        ref, flt, count, window = c
        return N.RefAtom(ref, flt.items if flt is not None else None, count, window, span=self._span(c))

    def filter(self, c):
        return _Filter(self._nodes(c), self._span(c))

    def at_least(self, c):
        return N.Count("at_least", self._int(c[2], "a count", MAX_COUNT), span=self._span(c))

    def at_most(self, c):
        return N.Count("at_most", self._int(c[2], "a count", MAX_COUNT), span=self._span(c))

    def exactly(self, c):
        return N.Count("exactly", self._int(c[1], "a count", MAX_COUNT), span=self._span(c))

    def within(self, c):
        return N.Window("within", c[1], span=self._span(c))

    def within_after(self, c):
        # "within" duration "after" ref [filter] [anchor_scope]
        ref, flt, scope = c[3], c[4], c[5]
        anchor = N.RefAtom(ref, flt.items if flt is not None else None, None, None, span=self._span([ref, flt]))
        return N.Window("within_after", c[1], anchor, scope.kind if scope is not None else None,
                        span=self._span(c))

    def scope_since_enrollment(self, c):
        return N.Window("since_enrollment", span=self._span(c))

    def scope_ever(self, c):
        return N.Window("ever", span=self._span(c))

    def since_enrollment(self, c):
        return N.Window("since_enrollment", span=self._span(c))

    def ever(self, c):
        return N.Window("ever", span=self._span(c))

    # -- values
    def string(self, c):
        return self._string(c[0])

    def number(self, c):
        text = str(c[0])
        whole = text.lstrip("-").partition(".")[0].lstrip("0")
        # Thousands of digits would make int() refuse (or float() overflow):
        # judge the size by the digits before converting.
        value = 0 if len(whole) > 16 else float(text) if "." in text else int(text)
        if len(whole) > 16 or abs(value) > 1e15:
            self.errors.append(error("E0008", f"the number {text[:30]} is too large (the limit is 10^15)",
                                     self._tok_span(c[0])))
            value = 0
        return N.Num(value, span=self._span(c))

    def true(self, c):
        return N.Bool(True, span=self._span(c))

    def false(self, c):
        return N.Bool(False, span=self._span(c))

    def list(self, c):
        return N.ListLit(tuple(self._nodes(c)), span=self._span(c))

    def map(self, c):
        return N.MapLit(tuple(x.items for x in c if isinstance(x, _Entry)), span=self._span(c))

    def map_entry(self, c):
        key = self._string(c[0]).value if c[0].type == "STRING" else str(c[0])
        return _Entry((key, c[2]), self._span(c))

    def ref(self, c):
        if len(c) == 1:  # (most references: one word)
            return N.Ref((str(c[0]),), span=self._tok_span(c[0]))
        return N.Ref(tuple([str(t) for t in c if t.type != "DOT"]), span=self._span(c))

    def duration(self, c):
        parts = []
        for i in range(0, len(c), 2):
            text = c[i]
            # (most counts: a few ASCII digits, under the limit: no error to find)
            n = int(text) if len(text) < 10 and text.isascii() and text.isdigit() else \
                self._int(text, "a duration", 10**9)
            parts.append((n, str(c[i + 1]).rstrip("s")))
        d = N.Duration(tuple(parts), span=self._span(c))
        if d.approx_seconds() > MAX_DURATION_SECONDS:
            self.errors.append(error("E0008", "this duration is longer than the limit of 10 years", d.span))
        return d

    # -- declarations
    def event_decl(self, c):
        fields = tuple(x for x in c if isinstance(x, A.FieldDecl))
        effects = tuple(x for x in c if isinstance(x, A.Effect))
        return N.EventDecl(c[1], fields, effects, span=self._span(c))

    def effect(self, c):
        return N.Effect(self._ident(c[0], user_name=False), tuple(x for x in c if isinstance(x, A.Ref)),
                        span=self._span(c))

    def field_decl(self, c):
        return N.FieldDecl(self._ident(c[0], user_name=False), c[2], span=self._span(c))

    def simple_type(self, c):
        return N.TypeExpr(str(c[0]), (), c[1] is not None, span=self._span(c))

    def enum_type(self, c):
        values = tuple(str(t) for t in c[2:] if _is_tok(t) and t.type == "NAME")
        optional = any(_is_tok(t) and t.type == "QMARK" for t in c)
        return N.TypeExpr("enum", values, optional, span=self._span(c))

    def action_decl(self, c):
        params = tuple(x for x in c if isinstance(x, A.Param))
        emits = tuple(x for x in c if isinstance(x, A.Emit))
        return N.ActionDecl(self._ident(c[1]), params, emits, span=self._span(c))

    def param(self, c):
        default = c[4] if len(c) > 4 else None
        return N.Param(self._ident(c[0], user_name=False), c[2], default, False, span=self._span(c))

    def rest_param(self, c):
        return N.Param(self._ident(c[1], user_name=False), None, None, True, span=self._span(c))

    def emit(self, c):
        fields = tuple(x.items for x in c if isinstance(x, _Entry))
        return N.Emit(c[0], fields, span=self._span(c))

    # -- tests
    def test_block(self, c):
        name = self._string(c[1])
        items = tuple(x for x in c[3:-1] if x is not None and not _is_tok(x))
        return N.TestBlock(N.Ident(name.value, span=name.span), items, span=self._span(c))

    def contact_name(self, c):
        return self.contact_id(c)

    def contact_id(self, c):
        tok = c[0]
        if tok.type == "STRING":
            s = self._string(tok)
            return N.Ident(s.value, span=s.span)
        return N.Ident(str(tok), span=self._tok_span(tok))

    def time_absolute(self, c):
        return N.TestTime(str(c[0]), None, span=self._span(c))

    def time_relative(self, c):
        return N.TestTime(None, c[1], span=self._span(c))

    def test_from(self, c):
        return N.TestFrom(c[1], span=self._span(c))

    def test_until(self, c):
        return N.TestUntil(c[1], span=self._span(c))

    def test_timezone(self, c):
        return N.TestTimezone(self._string(c[1]), span=self._span(c))

    def record(self, c):
        return N.MapLit(tuple(x.items for x in c if isinstance(x, _Entry)), span=self._span(c))

    def test_contact(self, c):
        return N.TestContact(c[1], c[2], span=self._span(c))

    def event_fields(self, c):
        entries = []
        for x in c:
            if isinstance(x, _Entry):
                key, value = x.items
                entries.append((N.Ident(key, span=x.span), value))
        return _Filter(entries, self._span(c))

    def test_event(self, c):
        fields = c[3]
        at = c[5] if len(c) > 5 else None
        return N.TestEvent(c[1], c[2], fields.items if fields is not None else (), fields is not None, at,
                           span=self._span(c))

    def test_expect(self, c):
        x = c[2]
        return nodes.evolve(x, contact=c[1], span=self._span(c))

    def in_workflow(self, c):
        s = self._string(c[1])
        return N.Ident(s.value, span=s.span)

    def by_time(self, c):
        return _Entry(("by", c[1]), self._span(c))

    def exit_reason(self, c):
        return N.Ident(str(c[0]), span=self._tok_span(c[0]))

    def _expect(self, kind, c, **kw):
        negated = any(_is_tok(x) and x.type == "NOT" for x in c[:1])
        by = next((x.items[1] for x in c if isinstance(x, _Entry) and x.items[0] == "by"), None)
        at = None
        for i, x in enumerate(c):
            if _is_tok(x) and x.type == "AT_TIME" and i + 1 < len(c):
                at = c[i + 1]
        return N.Expect(N.Ident("", span=self._span(c)), kind, negated, by=by, at=at, span=self._span(c), **kw)

    def expect_achieved(self, c):
        s = self._string(c[2])
        return self._expect("achieved", c, goal=N.Ident(s.value, span=s.span), workflow=c[3])

    def expect_ran(self, c):
        return self._expect("ran", c, call=c[2], workflow=c[3])

    def expect_exited(self, c):
        wf = None
        if c[2] is not None:
            s = self._string(c[2])
            wf = N.Ident(s.value, span=s.span)
        reason = next((x for x in c[3:] if isinstance(x, A.Ident)), None)
        return self._expect("exited", c, workflow=wf, reason=reason)

    def expect_enrolled(self, c):
        s = self._string(c[2])
        return self._expect("enrolled", c, workflow=N.Ident(s.value, span=s.span))

    def expect_step(self, c):
        return self._expect("step", c, step=c[3], workflow=c[4])

    def expect_holds(self, c):
        return self._expect("holds", [None] + list(c), cond=c[0])

    def emit_field(self, c):
        return _Entry((self._ident(c[0], user_name=False), c[2]), self._span(c))
