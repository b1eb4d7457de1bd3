"""Source files and spans: where every AST node and diagnostic points."""
from __future__ import annotations

import bisect

import attrs

# A UTF-8 byte order mark. Some editors and Windows tools write one at the
# start of a file; it is not part of the text (nor of JSON, RFC 8259 8.1), so
# every reader of .goal and input files drops it there (docs/decisions.md).
BOM = b"\xef\xbb\xbf"


@attrs.frozen
class Span:
    """A region of a source file. Lines and columns count from 1; ``end_col``
    is exclusive. Offsets are character offsets into the file's text."""

    file: str
    line: int
    col: int
    end_line: int
    end_col: int
    start: int = 0
    end: int = 0

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"

    def cover(self, other: "Span") -> "Span":
        """The smallest span holding both (same file)."""
        first, last = (self, other) if self.start <= other.start else (other, self)
        end_first = (self.end_line, self.end_col, self.end) >= (other.end_line, other.end_col, other.end)
        tail = self if end_first else other
        return Span(self.file, first.line, first.col, tail.end_line, tail.end_col, first.start, tail.end)


NO_SPAN = Span("<builtin>", 1, 1, 1, 1)


class SourceFile:
    """A file's text with a line index, for turning offsets into positions."""

    def __init__(self, name: str, text: str):
        self.name = name
        self.text = text
        self._starts = [0]
        for i, ch in enumerate(text):
            if ch == "\n":
                self._starts.append(i + 1)

    def position(self, offset: int) -> tuple[int, int]:
        offset = max(0, min(offset, len(self.text)))
        line = bisect.bisect_right(self._starts, offset)
        return line, offset - self._starts[line - 1] + 1

    def span(self, start: int, end: int) -> Span:
        line, col = self.position(start)
        end_line, end_col = self.position(end)
        return Span(self.name, line, col, end_line, end_col, start, end)

    def line_text(self, line: int) -> str:
        if line < 1 or line > len(self._starts):
            return ""
        start = self._starts[line - 1]
        end = self.text.find("\n", start)
        return self.text[start:] if end < 0 else self.text[start:end]
