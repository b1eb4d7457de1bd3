"""Writing the activity stream: JSON Lines for tools, a table for people."""
from __future__ import annotations

import functools
import io
import json
import shutil
from typing import IO, Iterable, Sequence

from ..semantics.calendar import format_utc
from ..syntax.values import show_json, show_value

_KEY_ORDER = ("time", "contact", "workflow", "type", "action", "args", "step", "goal", "reason", "id")


def entry_json(e: dict) -> dict:
    out = {}
    for k in _KEY_ORDER:
        if k in e:
            out[k] = format_utc(e[k]) if k == "time" else e[k]
    for k, v in e.items():
        if k not in out:
            out[k] = v
    return out


try:
    import msgspec

    _encoder = msgspec.json.Encoder(enc_hook=str)
    _encode = _encoder.encode

    def jsonl_line(e: dict) -> str:
        return _encode(entry_json(e)).decode()
except ImportError:  # pragma: no cover
    _encoder = None

    def jsonl_line(e: dict) -> str:
        return json.dumps(entry_json(e), ensure_ascii=False, default=str)


def copy_held(held: IO[bytes], out: IO) -> None:
    """A run's output, held in a binary file until the run was complete,
    written to ``out`` (a text stream with a binary buffer, a binary
    file, or a text stream only). Copied through one small buffer,
    reused: read 4 MiB at a time, each a new bytes object, the 1M-event
    run's 42 MB took 0.10-0.14 s against 0.011 s (``docs/performance.md``)."""
    held.flush()
    held.seek(0)
    binary = getattr(out, "buffer", None)
    out.flush()
    if binary is None and not isinstance(out, io.TextIOBase):  # a binary file (--out)
        binary = out
    if binary is not None:
        shutil.copyfileobj(held, binary)
        binary.flush()
    else:  # a text stream only (io.StringIO): whole lines, so no character is cut in two
        for line in held:
            out.write(line.decode())
        out.flush()


class JsonlWriter:
    """Writes activity entries as JSON Lines, the same text as ``jsonl_line``
    gives. Call it for each entry; ``flush()`` at the end. Entries are
    encoded into one buffer and written in large pieces (to a text stream's
    binary buffer when it has one), and each instant's UTC text is made once."""

    def __init__(self, out: IO, buffer_size: int = 1 << 16):
        binary = getattr(out, "buffer", None)
        if binary is not None:
            out.flush()  # what was written as text goes first
            self._raw = binary.write
            self._flush = binary.flush
        elif isinstance(out, io.TextIOBase):
            self._raw = lambda b: out.write(b.decode())
            self._flush = out.flush
        else:
            self._raw = out.write
            self._flush = out.flush
        self.size = buffer_size
        self.buf = bytearray()
        self._times: dict[int, str] = {}
        self._hours: dict[int, str] = {}
        self._orders: dict[tuple, tuple] = {}
        self._mm_ss = _minutes_seconds()

    def __call__(self, e: dict) -> None:
        self.write_all((e,))

    def write_all(self, entries, owned: bool = False) -> None:
        """Write entries, in order: the usual ones (an integer time) encoded
        together, in one call. ``owned``: the entries are the writer's to
        change (nothing reads them afterwards), so each gets its time text
        in place instead of being copied."""
        rows: list[dict] = []
        orders, times = self._orders, self._times
        for e in entries:
            t = e.get("time")
            if _encoder is None or t.__class__ is not int:
                if rows:
                    self.buf += _encoder.encode_lines(rows)
                    rows = []
                self.buf += (jsonl_line(e) + "\n").encode()
                continue
            text = times.get(t)
            if text is None:
                text = self._time_text(t)
            keys = tuple(e)
            order = orders.get(keys, keys)
            if order is keys:
                # entry_json's order: the known keys first, then the rest as they come (None: as they are).
                order = tuple(entry_json(dict.fromkeys(keys, 0)))
                order = orders[keys] = None if order == keys else order
            if order is None:
                d = e if owned else e.copy()
            else:
                d = {k: e[k] for k in order}
            d["time"] = text
            rows.append(d)
        if rows:
            self.buf += _encoder.encode_lines(rows)
        if len(self.buf) >= self.size:
            self._raw(self.buf)
            self.buf = bytearray()

    def add_line(self, line: bytes) -> None:
        """A line this writer (in another process) encoded already, without its newline."""
        self.buf += line
        self.buf += b"\n"
        if len(self.buf) >= self.size:
            self._raw(self.buf)
            self.buf = bytearray()

    def _time_text(self, t: int) -> str:
        """format_utc's text: its hour's part (``YYYY-MM-DDTHH:``) made once
        per hour, then the minutes and seconds from a table (formatting them
        for each new instant took a sixth of the writer's time)."""
        if len(self._times) > 4096:
            self._times.clear()
        hour, rest = divmod(t, 3600)
        head = self._hours.get(hour)
        if head is None:
            if len(self._hours) > 4096:
                self._hours.clear()
            head = self._hours[hour] = format_utc(hour * 3600)[:-6]  # less "MM:SSZ"
        text = self._times[t] = head + self._mm_ss[rest]
        return text

    def flush(self) -> None:
        if self.buf:
            self._raw(self.buf)
            self.buf = bytearray()
        self._flush()


@functools.lru_cache(maxsize=1)
def _minutes_seconds() -> tuple[str, ...]:
    """``MM:SSZ`` for each second of an hour, the end of format_utc's text."""
    return tuple(f"{m:02d}:{s:02d}Z" for m in range(60) for s in range(60))


def table_widths(entries: Iterable[dict]) -> tuple[int, int]:
    """Column widths for contact ids and workflow names, so long names stay
    in their column (at least 12 and 24 characters, as before)."""
    wc, ww = 12, 24
    for e in entries:
        wc = max(wc, len(e["contact"]))
        ww = max(ww, len(e["workflow"]))
    return wc, ww


def activity_words(e: dict, *, table: bool = False) -> str:
    """What an activity entry says, in words (its time, contact and workflow
    apart). Explain, the REPL, ``goal test`` and ``goal diff`` write an
    action's arguments as in a .goal file and an exit as a sentence; the
    table (``table=True``) writes arguments as JSON and an exit as
    ``exited (REASON) [goal "G"]``, as it always has."""
    kind = e["type"]
    if kind == "action":
        show = show_json if table else show_value
        args = ", ".join(f"{k}: {show(v)}" for k, v in (e.get("args") or {}).items())
        what = f"{e['action']}({args})"
        if e.get("step"):
            what += f" as {e['step']}"
        if e.get("goal"):
            what += f'  [goal "{e["goal"]}"]'
    elif kind == "goal_achieved":
        what = f'goal achieved: "{e["goal"]}"'
    elif kind == "goal_missed":
        what = f'goal missed: "{e["goal"]}" (on unmet {e.get("policy")})'
    elif kind == "not_enrolled":
        what = f'not enrolled: goal "{e["goal"]}" already met'
    elif kind == "exited":
        reason, goal = e["reason"], e.get("goal")
        if table:
            what = f"exited ({reason})" + (f' [goal "{goal}"]' if goal else "")
        elif reason == "goal" and goal:
            what = f'exited: goal "{goal}" achieved'
        elif reason == "unmet" and goal:
            what = f'exited: goal step "{goal}" unmet'
        else:
            what = f"exited: {reason}" + (f' (goal "{goal}")' if goal else "")
    elif kind == "waiting":  # the end of a run: where the contact waits
        what = f"waiting at step {e['at']}" + (f' (goal "{e["goal"]}")' if e.get("goal") else "")
    else:
        what = kind
    return what


def activity_line(e: dict) -> str:
    """An activity entry on one line: its time, then what it says."""
    return f"{format_utc(e['time'])}  {activity_words(e)}"


def table_line(e: dict, widths: tuple[int, int] = (12, 24)) -> str:
    t = format_utc(e["time"]).replace("T", " ")
    wc, ww = widths
    return f"{t}  {e['contact']:<{wc}} {e['workflow']:<{ww}} {activity_words(e, table=True)}"


def summary(entries: Iterable[dict], workflows: list[str], goals: dict[str, list[str]]) -> list[str]:
    """The table's last lines: per workflow, enrolled, achieved per goal,
    conversion, median time to goal, exits by reason (runtime/summary.py
    computes them; ``goals`` lists each workflow's goals in order, others
    follow as the stream names them)."""
    from .summary import GoalShape, Summary, WorkflowShape, table_lines
    shapes = [WorkflowShape(w, [GoalShape(g, "") for g in goals.get(w, [])]) for w in workflows]
    return table_lines(Summary(shapes).add_all(entries).result())


# Entry types that only feed the figures (runtime/summary.py): not shown in the table.
FIGURES_ONLY = frozenset(("waiting",))


def table_entries(entries: Iterable[dict]) -> list[dict]:
    """The entries a table shows."""
    return [e for e in entries if e["type"] not in FIGURES_ONLY]


def write_table(out: IO[str], entries: list[dict], lines: list[str]) -> None:
    """The activity as a table, then the summary's ``lines``."""
    entries = table_entries(entries)
    widths = table_widths(entries)
    for e in entries:
        out.write(table_line(e, widths) + "\n")
    if entries:
        out.write("\n")
    for line in lines:
        out.write(line + "\n")


# ---------------------------------------------------------------- CSV and Parquet

#: The activity stream's columns in CSV and Parquet, in this order. ``args``
#: is JSON text; ``more`` holds, as JSON text, any other keys of an entry.
ACTIVITY_COLUMNS = ("time", "contact", "workflow", "type", "action", "args", "step", "goal", "reason", "id", "more")
_TEXT_COLUMNS = ACTIVITY_COLUMNS[1:]


def activity_row(e: dict) -> tuple:
    """An entry as the columns' values (``time`` as epoch seconds)."""
    more = {k: v for k, v in e.items() if k not in ACTIVITY_COLUMNS}
    args = e.get("args")
    return (e["time"], e.get("contact"), e.get("workflow"), e.get("type"), e.get("action"),
            None if args is None else json.dumps(args, ensure_ascii=False, default=str),
            e.get("step"), e.get("goal"), e.get("reason"), e.get("id"),
            json.dumps(more, ensure_ascii=False, default=str) if more else None)


def entry_of_row(row: Sequence) -> dict:
    """An entry from its columns' values (``activity_row``'s inverse, ``time``
    as epoch seconds): the same keys in the same order, so ``jsonl_line``
    gives the same line."""
    e = {"time": row[0]}
    for name, v in zip(ACTIVITY_COLUMNS[1:10], row[1:10]):
        if v is not None:
            e[name] = json.loads(v) if name == "args" else v
    if row[10] is not None:
        e.update(json.loads(row[10]))
    return e


class CsvWriter:
    """The activity stream as CSV with a header row (``ACTIVITY_COLUMNS``);
    times as ``2026-11-16T14:02:00Z``, an absent value as an empty cell."""

    def __init__(self, out: IO):
        import csv
        binary = getattr(out, "buffer", None)
        if binary is not None:
            out.flush()
            out = binary
        self._owned = not isinstance(out, io.TextIOBase)
        self._text = io.TextIOWrapper(out, encoding="utf-8", newline="") if self._owned else out
        self._w = csv.writer(self._text, lineterminator="\n")
        self._w.writerow(ACTIVITY_COLUMNS)

    def __call__(self, e: dict) -> None:
        r = activity_row(e)
        self._w.writerow((format_utc(r[0]),) + tuple("" if v is None else v for v in r[1:]))

    def flush(self) -> None:
        """Write out what is buffered; called once, at the end (the text
        layer is then taken off, so the file stays open for its owner)."""
        self._text.flush()
        if isinstance(self._text, io.TextIOWrapper) and self._owned:
            self._text.detach()
            self._owned = False


class ParquetWriter:
    """The activity stream as Parquet (``ACTIVITY_COLUMNS``; ``time`` a UTC
    timestamp in seconds, the rest text), written in row groups."""

    ROWS = 1 << 16

    def __init__(self, out: IO):
        try:
            import pyarrow as pa
            import pyarrow.parquet as pq
        except ImportError:
            from .sources import SourceError
            raise SourceError("--format parquet", "writing Parquet needs pyarrow; install it with: pip install pyarrow "
                                                  "(or, from a checkout of goal: pip install '.[parquet]')") from None
        self._pa = pa
        self.schema = pa.schema([("time", pa.timestamp("s", tz="UTC"))] + [(c, pa.string()) for c in _TEXT_COLUMNS])
        binary = getattr(out, "buffer", None)
        if binary is not None:
            out.flush()
            out = binary
        self._w = pq.ParquetWriter(out, self.schema)
        self._rows: list[tuple] = []

    def __call__(self, e: dict) -> None:
        self._rows.append(activity_row(e))
        if len(self._rows) >= self.ROWS:
            self._write()

    def _write(self) -> None:
        if not self._rows:
            return
        cols = list(zip(*self._rows))
        self._w.write_table(self._pa.Table.from_arrays([self._pa.array(c, t) for c, t in zip(cols, self.schema.types)],
                                                       schema=self.schema))
        self._rows = []

    def flush(self) -> None:
        self._write()
        self._w.close()


WRITERS = {"jsonl": JsonlWriter, "csv": CsvWriter, "parquet": ParquetWriter}
