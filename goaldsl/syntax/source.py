"""Source files and spans: where every AST node and diagnostic points."""
from __future__ import annotations

from .nodes import Node, node

# A UTF-8 byte order mark. Some editors and Windows tools write one at the
# start of a file; it is not part of the text (nor of JSON, RFC 8259 8.1), so
# every reader of .goal and input files drops it there (docs/decisions.md).
BOM = b"\xef\xbb\xbf"


@node
class Span(Node):
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


NO_SPAN = Span("<builtin>", 1, 1, 1, 1)

