"""Where input bytes come from: a file, standard input (``-``) or a pipe,
compressed with gzip or zstandard or not.

A ``Source`` opens to a binary stream of the uncompressed bytes, however the
file is stored (compression is recognised by its first bytes, so a
compressed standard input works too). It can be opened again: a run reads
an unsorted log a second time (docs/execution.md), and a pipe cannot be
rewound, so what was read from a pipe is kept in a temporary file as it is
read and replayed from there. ``progress()`` says how far the reading has
come, for the progress display, when the size is known.

The file's format is named by its name without the compression suffix
(``events.csv.gz`` is CSV), else by its first bytes: ``detect_format``
(here, not with the readers: the answers about one contact ask the format
without importing them).
"""
from __future__ import annotations

import io
import os
import stat
import sys
import tempfile
from pathlib import Path
from typing import IO, TYPE_CHECKING, Optional

from ..syntax.source import BOM

if TYPE_CHECKING:
    from .mapping import Mapping

GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
COMPRESSED_SUFFIXES = (".gz", ".zst")


class SourceError(Exception):
    """An input file that cannot be read at all (not a bad line in it)."""

    def __init__(self, shown: str, message: str):
        self.shown = shown
        self.message = message
        super().__init__(f"{shown}: {message}")


class Source:
    """An input: ``Source("events.jsonl.gz")``, ``Source("-")`` for standard input."""

    def __init__(self, path: str | Path, shown: Optional[str] = None, *, stdin: Optional[IO[bytes]] = None):
        self.path = str(path)
        self.is_stdin = self.path == "-"
        self.shown = shown or ("<stdin>" if self.is_stdin else self.path)
        self._stdin = stdin
        self._spool: Optional[IO[bytes]] = None  # what was read from a pipe so far
        self._raw: Optional[IO[bytes]] = None  # the file opened last
        self._tee: Optional[_Tee] = None  # reading a pipe for the first time
        self._drained = False  # the pipe was read to its end into the copy
        self.compression: Optional[str] = None
        # rows read and in all, for readers that know them (Parquet): progress
        self.rows_read = 0
        self.rows_total: Optional[int] = None

    # ------------------------------------------------------------ naming

    @property
    def name(self) -> str:
        """The file name without a compression suffix (``events.csv``)."""
        n = Path(self.path).name if not self.is_stdin else ""
        for suf in COMPRESSED_SUFFIXES:
            if n.endswith(suf):
                return n[: -len(suf)]
        return n

    @property
    def suffix(self) -> str:
        return Path(self.name).suffix.lower()

    # ------------------------------------------------------------ kinds

    def is_regular(self) -> bool:
        """A regular file (it can be read twice and its size is known)."""
        if self.is_stdin:
            return False
        try:
            return stat.S_ISREG(os.stat(self.path).st_mode)
        except OSError:
            return False

    def size(self) -> Optional[int]:
        if not self.is_regular():
            return None
        try:
            return os.stat(self.path).st_size
        except OSError:
            return None

    # ------------------------------------------------------------ opening

    def _open_raw(self) -> IO[bytes]:
        if self.is_stdin:
            raw = self._stdin if self._stdin is not None else sys.stdin.buffer
            self._tee = _Tee(raw, self._new_spool())
            return io.BufferedReader(self._tee, 1 << 16)
        try:
            f = open(self.path, "rb")
        except OSError as e:
            raise SourceError(self.shown, f"cannot be read: {e.strerror or e}") from None
        if not self.is_regular():  # a named pipe, a process substitution: read once, kept as read
            self._tee = _Tee(f, self._new_spool())
            return io.BufferedReader(self._tee, 1 << 16)
        return f

    def _new_spool(self) -> IO[bytes]:
        try:
            self._spool = tempfile.TemporaryFile()
        except OSError:  # no writable temporary folder: keep it in memory
            self._spool = io.BytesIO()
        return self._spool

    def open(self) -> IO[bytes]:
        """The uncompressed bytes, from the start. Opening a pipe again first
        reads the rest of it into the copy, then reads the copy."""
        if self._tee is not None:
            spool = self._spool
            assert spool is not None
            spool.seek(0, io.SEEK_END)
            import shutil
            shutil.copyfileobj(self._tee.inner, spool, 1 << 20)
            self._tee = None
            self._drained = True
        if self._drained:
            assert self._spool is not None
            self._raw = None
            self._spool.seek(0)
            return self._decompressed(io.BufferedReader(_Kept(self._spool), 1 << 16))
        raw = self._open_raw()
        self._raw = raw
        return self._decompressed(raw)

    def _decompressed(self, raw: IO[bytes]) -> IO[bytes]:
        buffered = raw if hasattr(raw, "peek") else io.BufferedReader(raw, 1 << 16)  # type: ignore[arg-type]
        head = buffered.peek(4)[:4]
        if head.startswith(GZIP_MAGIC):
            import gzip
            self.compression = "gzip"
            return io.BufferedReader(_Errors(gzip.GzipFile(fileobj=buffered, mode="rb"), self.shown, "gzip"), 1 << 16)
        if head.startswith(ZSTD_MAGIC):
            try:
                import zstandard
            except ImportError:  # pragma: no cover - a dependency
                raise SourceError(self.shown, "is compressed with zstandard; install it with: "
                                              "pip install zstandard") from None
            self.compression = "zstd"
            reader = zstandard.ZstdDecompressor().stream_reader(buffered, read_across_frames=True)
            return io.BufferedReader(_Errors(reader, self.shown, "zstandard"), 1 << 16)
        return buffered

    def read_position(self) -> Optional[float]:
        """How far the reading has come, 0..1, when the size is known."""
        size = self.size()
        raw = self._raw
        if not size or raw is None:
            return None
        try:
            return min(1.0, raw.tell() / size)
        except (OSError, ValueError):
            return None

    def seekable_path(self) -> tuple[str | IO[bytes], bool]:
        """For readers that need to seek (Parquet): the path of a regular
        uncompressed file, or a temporary copy of the uncompressed bytes.
        Returns (path or file object, is_a_copy)."""
        if self.is_regular():
            with open(self.path, "rb") as f:
                head = f.read(4)
            if not head.startswith(GZIP_MAGIC) and not head.startswith(ZSTD_MAGIC):
                return self.path, False
        with self.open() as src:
            try:
                tmp: IO[bytes] = tempfile.TemporaryFile()
            except OSError:
                tmp = io.BytesIO()
            import shutil
            shutil.copyfileobj(src, tmp, 1 << 20)
        tmp.seek(0)
        return tmp, True


class _Tee(io.RawIOBase):
    """Reads from a stream and keeps a copy of what was read."""

    def __init__(self, inner: IO[bytes], copy: IO[bytes]):
        self.inner = inner
        self._copy = copy

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        data = self.inner.read(len(b))
        if not data:
            return 0
        self._copy.write(data)
        n = len(data)
        b[:n] = data
        return n

    def close(self) -> None:  # the pipe stays open: a second reading may go on with it
        super().close()


class _Kept(io.RawIOBase):
    """The copy of a pipe, read again (closing it keeps the copy)."""

    def __init__(self, f: IO[bytes]):
        self._f = f

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        data = self._f.read(len(b))
        n = len(data)
        b[:n] = data
        return n


class _Errors(io.RawIOBase):
    """A decompressing stream whose errors name the file."""

    def __init__(self, inner: IO[bytes], shown: str, what: str):
        self._inner = inner
        self._shown = shown
        self._what = what

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        try:
            data = self._inner.read(len(b))
        except (OSError, EOFError, ValueError) as e:
            raise SourceError(self._shown, f"is not a readable {self._what} file ({e})") from None
        except Exception as e:  # zstandard.ZstdError
            raise SourceError(self._shown, f"is not a readable {self._what} file ({e})") from None
        n = len(data)
        b[:n] = data
        return n

    def close(self) -> None:
        try:
            self._inner.close()
        finally:
            super().close()


# ---------------------------------------------------------------- formats

SEGMENT_CALLS = ("track", "identify", "page", "screen", "group", "alias")
PARQUET_MAGIC = b"PAR1"
_SUFFIXES = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl", ".csv": "csv", ".tsv": "csv",
             ".parquet": "parquet", ".pq": "parquet"}

def detect_format(source: Source, forced: Optional[str] = None, mapping: Optional[Mapping] = None) -> str:
    """``--input-format``, else the mapping file's ``format``, else the file
    name (``.jsonl``, ``.csv``, ``.parquet``, compressed or not), else the
    first bytes. JSON Lines whose first line is a Segment/RudderStack call
    (``"type": "track"`` with ``userId``, ``anonymousId`` or
    ``messageId``) are read as ``segment``."""
    if forced:
        return forced
    if mapping is not None and mapping.format:
        return mapping.format
    return _sniff(source, segment=True)


def _sniff(source: Source, segment: bool) -> str:
    """The format by the file's name, else its first bytes: Parquet's magic,
    a JSON object (a Segment call when ``segment``), else CSV text."""
    fmt = _SUFFIXES.get(source.suffix)
    if fmt in ("csv", "parquet"):
        return fmt
    if fmt is None and not source.is_stdin and source.is_regular():
        with source.open() as f:
            head = f.read(4)
        if head == PARQUET_MAGIC:
            return "parquet"
    first = first_line(source)
    if first is None:
        return "jsonl"
    if first.startswith(PARQUET_MAGIC):
        return "parquet"
    s = first.lstrip()
    if s.startswith(BOM):
        s = s[len(BOM):]
    if not s.startswith(b"{"):
        return fmt or "csv"
    if not segment:
        return "jsonl"
    from .inputs import decode_json  # as the readers decode JSON (imported by then: what reads the file)
    try:
        obj = decode_json(s)
    except Exception:
        return "jsonl"
    if isinstance(obj, dict) and obj.get("type") in SEGMENT_CALLS and "contact" not in obj \
            and any(k in obj for k in ("userId", "anonymousId", "messageId")):
        return "segment"
    return "jsonl"


def first_line(source: Source) -> Optional[bytes]:
    """The first non-blank line, looked at without using it up (the source is
    opened again to be read)."""
    with source.open() as f:
        for _ in range(1000):
            line = f.readline(1 << 20)
            if not line:
                return None
            if line.strip():
                return line
    return None


def contact_format(source: Source, mapping: Optional[Mapping] = None) -> str:
    """A contacts file's format: CSV or Parquet by its name, else by its
    first bytes (standard input, a pipe, an unusual name), as for events;
    JSON objects are JSON Lines."""
    return _sniff(source, segment=False)
