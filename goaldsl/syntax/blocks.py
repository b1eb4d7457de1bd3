"""A file parsed top-level block by top-level block, each block kept: for the
language server, which parses a document again after every keystroke, an
edit costs the block it touched.

A block runs from the start of a line that begins a top-level item (``import``,
``segment``, ``workflow``, ``drip``, ``event``, ``action``, ``test``, at the
start of the line, outside brackets, strings and comments) to the start of
the next one. Each block is parsed on its own, with spans relative to it
(its first line is line 1, offsets count from its first character; columns
are the file's, since a block starts a line) in a file name of its own. So a
block that moves (an edit above it) keeps its nodes, and whatever was
computed from them; ``place`` maps a span of a block to where it is now.

Parsing block by block gives what parsing the whole text gives, or nothing
(then the caller parses the whole text): the grammar's top level is a
sequence of items, and an item begins with its keyword however the text
before it ends, so when every block parses, the whole text parses into the
same items. A block the fast path cannot parse (a syntax error) sends the
whole text to the usual parser, which says what is wrong.
tests/test_blocks.py compares the two ways on edited programs.
"""
from __future__ import annotations

import itertools
import re
from typing import Optional

import attrs

from . import ast as A
from . import parser as P
from .diagnostics import Diagnostic, Related
from .source import Span

_ITEM_START = re.compile(r"^(?:import|segment|workflow|drip|event|action|test)\b", re.MULTILINE)
_STOP = re.compile(r'[#"()\[\]{}]')
_SERIAL = itertools.count(1)


def bounds(text: str) -> list[int]:
    """Where the blocks of ``text`` start (0 first)."""
    starts = [0]
    depth, i, n = 0, 0, len(text)
    for cand in _ITEM_START.finditer(text):
        c = cand.start()
        while True:
            m = _STOP.search(text, i, c)
            if m is None:
                break
            i = m.start()
            ch = text[i]
            if ch == "#":
                j = text.find("\n", i)
                i = n if j < 0 else j
            elif ch == '"':
                i = P.STRING_REST.match(text, i + 1).end() + 1  # strings end at the end of their line
            else:
                depth += 1 if ch in "([{" else -1
                i += 1
        if i > c:
            continue  # (cannot happen: strings and comments end with their line)
        i = c
        if depth == 0 and c > 0:
            starts.append(c)
    return starts


@attrs.frozen(eq=False)
class Block:
    """One block, parsed: nodes, comments (offset in the block, text) and
    the parser's own diagnostics, all relative to the block, in ``name``."""
    name: str
    text: str
    items: tuple
    comments: tuple
    errors: tuple
    nesting: P.Nesting


class Blocks:
    """The blocks of the files last parsed, to parse them again after an edit."""

    def __init__(self) -> None:
        self.files: dict[str, dict[tuple[str, int], Block]] = {}

    def parse_file(self, text: str, file: str) -> P.ParseResult:
        """``text`` parsed block by block if it can be, else whole (``parser.parse``)."""
        return self.parse(text, file) or P.parse(text, file)

    def parse(self, text: str, file: str) -> Optional[P.ParseResult]:
        """``text`` parsed block by block, or None when it must be parsed whole.
        The module's items have their blocks' spans; ``places`` says where
        each block is: its file -> (the file, its first line - 1, its first offset)."""
        if P.file_limits(text, file):
            return None
        old = self.files.get(file, {})
        new: dict[tuple[str, int], Block] = {}
        seen: dict[str, int] = {}
        starts = bounds(text)
        places: dict[str, tuple[str, int, int]] = {}
        items: list = []
        comments: list = []
        errors: list = []
        deepest = nots = 0
        line = 1
        for k, start in enumerate(starts):
            end = starts[k + 1] if k + 1 < len(starts) else len(text)
            chunk = text[start:end]
            n = seen[chunk] = seen.get(chunk, -1) + 1  # the same text twice: two blocks
            block = old.get((chunk, n)) or _parse_block(chunk, file)
            if block is None:
                return None
            if block.nesting.end != 0 and k + 1 < len(starts):
                return None  # (cannot happen: blocks start outside brackets)
            new[(chunk, n)] = block
            places[block.name] = (file, line - 1, start)
            items.extend(block.items)
            comments.extend((start + off, c) for off, c in block.comments)
            errors.extend(block.errors)
            deepest = max(deepest, block.nesting.deepest)
            nots = max(nots, block.nesting.nots)
            line += chunk.count("\n")
        if deepest + nots > P.MAX_NESTING:
            return None  # the whole text's check says where
        self.files[file] = new
        module = A.Module(file, tuple(items), tuple(comments),
                          span=Span(file, 1, 1, text.count("\n") + 1, 1, 0, len(text)))
        return P.ParseResult(module, tuple(errors), places)

    def forget(self, file: str) -> None:
        self.files.pop(file, None)


def _parse_block(chunk: str, file: str) -> Optional[Block]:
    name = f"{file}\x00{next(_SERIAL)}"
    res = P.parse_fast(chunk, name)
    if res is None:
        return None
    items, comments, errors = res
    return Block(name, chunk, tuple(items), tuple(comments), tuple(errors), P.nesting(chunk))


def place(span: Optional[Span], places: dict) -> Optional[Span]:
    """Where ``span`` (of a block, or of any other file) is in its file."""
    if span is None:
        return None
    where = places.get(span.file)
    if where is None:
        return span
    file, lines, offset = where
    return Span(file, span.line + lines, span.col, span.end_line + lines, span.end_col,
                span.start + offset, span.end + offset)


def place_diagnostic(d: Diagnostic, places: dict) -> Diagnostic:
    span = place(d.span, places)
    related = tuple(Related(place(r.span, places), r.message) if r.span is not None and r.span.file in places else r
                    for r in d.related)
    if span is d.span and all(a is b for a, b in zip(related, d.related)):
        return d
    return attrs.evolve(d, span=span, related=related)
