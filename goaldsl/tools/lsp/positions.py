"""Paths and positions: files as dictionary keys, unsaved buffers by path,
and the mapping between the loader's positions (1-based lines, columns
counted in characters) and the protocol's (0-based, counted in the client's
position encoding)."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Optional

from lsprotocol import types as T

from ...syntax.source import Span


def path_key(path: str | Path) -> str:
    """A path as a dictionary key: absolute, normalised, case-folded where the
    file system folds case."""
    return os.path.normcase(os.path.normpath(os.path.abspath(str(path))))


class Texts(dict):
    """Unsaved buffers by path, for ``load(texts=)``; looks paths up
    normalised, so ``dir/../common.goal`` finds ``common.goal``."""

    def __contains__(self, path) -> bool:
        return dict.__contains__(self, path_key(path))

    def get(self, path, default=None):
        return dict.get(self, path_key(path), default)

    def __getitem__(self, path):
        return dict.__getitem__(self, path_key(path))

    def __setitem__(self, path, text) -> None:
        dict.__setitem__(self, path_key(path), text)


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
        self.encoding = encoding
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


def span_of(file: str, text: str, start: int, end: int) -> Span:
    line = text.count("\n", 0, start) + 1
    col = start - (text.rfind("\n", 0, start) + 1) + 1
    end_line = text.count("\n", 0, end) + 1
    end_col = end - (text.rfind("\n", 0, end) + 1) + 1
    return Span(file, line, col, end_line, end_col, start, end)


def contains(outer: T.Range, inner: T.Range) -> bool:
    return (outer.start.line, outer.start.character) <= (inner.start.line, inner.start.character) and \
        (inner.end.line, inner.end.character) <= (outer.end.line, outer.end.character)
