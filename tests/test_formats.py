"""Input formats (docs/inputs.md): the same events as the project's JSON
Lines, as a Segment export, CSV and Parquet, compressed or not, from a file
or standard input, give byte-identical activity. Bad rows of every format
are reported as FILE:ROW[:COLUMN] with what is allowed. The fixtures are
made here from the examples (tests/format_fixtures.py).
"""
from __future__ import annotations

import gzip
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from format_fixtures import read_jsonl, write_csv, write_parquet, write_segment
from goaldsl.api import load_program, read_inputs
from goaldsl.cli import main

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted(p.parent.name for p in (ROOT / "examples").glob("*/program.goal"))
GOAL = [sys.executable, "-m", "goaldsl"]


def run(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([*GOAL, *args], input=stdin, capture_output=True)


@pytest.fixture(scope="module")
def fixtures(tmp_path_factory):
    """Per example: the events in every format."""
    out = {}
    for name in EXAMPLES:
        d = tmp_path_factory.mktemp(name)
        events = read_jsonl(ROOT / "examples" / name / "events.jsonl")
        (d / "segment.toml").write_text(write_segment(events, d / "segment.jsonl"))
        write_csv(events, d / "events.csv")
        write_parquet(events, d / "events.parquet")
        raw = (ROOT / "examples" / name / "events.jsonl").read_bytes()
        (d / "events.jsonl.gz").write_bytes(gzip.compress(raw))
        import zstandard
        (d / "events.jsonl.zst").write_bytes(zstandard.ZstdCompressor().compress(raw))
        (d / "events.csv.gz").write_bytes(gzip.compress((d / "events.csv").read_bytes()))
        out[name] = d
    return out


@pytest.fixture
def activity(capsys, monkeypatch):
    """activity(example, *args, stdin=bytes) -> the activity stream of goal run, in process."""

    def _run(example: str, *more: str, stdin: bytes | None = None) -> str:
        if stdin is not None:
            monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin)))
        code = main(["run", str(ROOT / "examples" / example), "--format", "jsonl", *more])
        out, err = capsys.readouterr()
        assert code == 0, err
        assert out
        return out

    return _run


@pytest.mark.parametrize("example", EXAMPLES)
def test_every_format_gives_byte_identical_activity(example, fixtures, activity):
    d = fixtures[example]
    want = activity(example)
    assert activity(example, "--events", str(d / "segment.jsonl"), "--map", str(d / "segment.toml")) == want
    assert activity(example, "--events", str(d / "events.csv")) == want
    assert activity(example, "--events", str(d / "events.parquet")) == want
    assert activity(example, "--events", str(d / "events.jsonl.gz")) == want
    assert activity(example, "--events", str(d / "events.jsonl.zst")) == want
    assert activity(example, "--events", str(d / "events.csv.gz")) == want


@pytest.mark.parametrize("example", EXAMPLES[:3])
def test_standard_input_in_every_format(example, fixtures, activity):
    d = fixtures[example]
    want = activity(example)
    raw = (ROOT / "examples" / example / "events.jsonl").read_bytes()
    assert activity(example, "--events", "-", stdin=raw) == want
    assert activity(example, "--events", "-", stdin=(d / "events.jsonl.zst").read_bytes()) == want
    # No file name: the format is told by the bytes (Parquet's magic, a CSV header) or by --input-format.
    assert activity(example, "--events", "-", stdin=(d / "events.parquet").read_bytes()) == want
    assert activity(example, "--events", "-", "--input-format", "csv", stdin=(d / "events.csv").read_bytes()) == want
    assert activity(example, "--events", "-", "--map", str(d / "segment.toml"),
                    stdin=(d / "segment.jsonl").read_bytes()) == want


def test_unsorted_log_from_standard_input_is_read_again_from_what_was_kept(write):
    """An unsorted log is read a second time; standard input is replayed from a copy."""
    write("program.goal", 'workflow "W" { evaluate on event\n enroll when page.visited\n allow reentry\n send_email("x") }\n')
    rows = [{"time": f"2026-11-16T1{h}:00:00Z", "contact": f"c{i}", "type": "page.visited", "url": "/"}
            for i, h in enumerate([5, 3, 4, 1] * 2000)]
    text = "".join(json.dumps(r) + "\n" for r in rows)
    write("events.jsonl", text)
    from_file = run("run", ".", "--format", "jsonl")
    from_stdin = run("run", ".", "--format", "jsonl", "--events", "-", stdin=text.encode())
    assert from_file.returncode == 0 and from_stdin.returncode == 0, from_stdin.stderr
    assert from_file.stdout == from_stdin.stdout
    assert from_file.stdout.count(b"\n") == 24000  # enrolled, the email, exited


# ---------------------------------------------------------------- bad rows

PROGRAM = 'workflow "W" { evaluate on event\n enroll when purchase.completed\n allow reentry\n send_email("x") }\n'


def _read(write, name: str, content, **kw):
    write("program.goal", PROGRAM)
    path = write(name, content)
    prog = load_program("program.goal")
    return read_inputs(prog, None, path, skip_bad=True, **kw)


def test_null_in_an_optional_field_is_absent_in_every_format(write):
    """product is optional in purchase.completed: null (JSON), an empty
    cell (CSV), a Parquet null, a Segment property set to null: absent,
    the same validated events whatever the format."""
    events = [{"id": "e1", "time": "2026-11-16T14:00:00Z", "contact": "c1", "type": "purchase.completed",
               "amount": 20, "product": None},
              {"id": "e2", "time": "2026-11-16T15:00:00Z", "contact": "c2", "type": "purchase.completed",
               "amount": 30, "product": "shoe"}]
    from pathlib import Path as P
    write("program.goal", PROGRAM)
    write("events.jsonl", "".join(json.dumps(e) + "\n" for e in events))
    write_csv(events, P("events.csv"))
    write_parquet(events, P("events.parquet"))
    write("segment.toml", write_segment(events, P("export.jsonl")))
    prog = load_program("program.goal")
    from goaldsl.runtime.mapping import load_mapping
    from goaldsl.api import parse_time
    want = [(parse_time("2026-11-16T14:00:00Z"), "c1", "purchase.completed", {"amount": 20}),
            (parse_time("2026-11-16T15:00:00Z"), "c2", "purchase.completed", {"amount": 30, "product": "shoe"})]
    for name, more in (("events.jsonl", {}), ("events.csv", {}), ("events.parquet", {}),
                       ("export.jsonl", {"mapping": load_mapping("segment.toml")})):
        inputs = read_inputs(prog, None, name, **more)
        assert inputs.events == want, name
    assert '"product": null' in P("export.jsonl").read_text()
    assert "2026-11-16T14:00:00Z,c1,purchase.completed,e1,20,\n" in P("events.csv").read_text()
    import pyarrow.parquet as pq
    assert pq.read_table("events.parquet", use_threads=False).column("product").null_count == 1


def test_bad_csv_rows_name_the_row_and_the_column(write):
    csv_text = ("time,contact,type,id,properties.amount,properties.product\n"
                "2026-11-16T14:00:00Z,c1,purchase.completed,e1,49,shoe\n"
                "2026-11-16T14:00:00Z,c1,purchase.completed,e2,lots,shoe\n"
                "2026-11-16T14:00:00,c1,purchase.completed,e3,49,\n"
                ",c1,purchase.completed,e4,49,\n"
                "2026-11-16T14:00:00Z,,purchase.completed,e5,49,\n"
                "2026-11-16T14:00:00Z,c1,purchase.complete,e6,49,\n"
                "2026-11-16T14:00:00Z,c1,purchase.completed,e7,,\n"
                "2026-11-16T14:00:00Z,c1\n")
    inputs = _read(write, "events.csv", csv_text)
    got = [str(b) for b in inputs.bad]
    assert got == [
        'events.csv:3:properties.amount: field "amount" of purchase.completed must be a number, not "lots"',
        'events.csv:4:time: "time" 2026-11-16T14:00:00 has no Z or UTC offset (write "2026-11-16T14:00:00Z" for UTC)',
        'events.csv:5:time: an event needs a "time"',
        'events.csv:6:contact: an event needs a "contact" (the contact id)',
        'events.csv:7:type: unknown event type "purchase.complete" (did you mean "purchase.completed"?); map it to '
        'one of the program\'s events in [events] of the mapping file, or set unknown_events = "skip" there',
        'events.csv:8:properties.amount: purchase.completed needs the field "amount"',
        'events.csv:9: has 2 cells; the header has 6 columns',
    ]
    # The good row: numbers read as numbers, an empty optional cell is absent.
    assert [e[3] for e in inputs.events] == [{"amount": 49, "product": "shoe"}]


def test_bad_parquet_rows_name_the_row_and_the_column(write):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq
    write("program.goal", PROGRAM)
    table = pa.table({
        "time": pa.array([1790000000000, None, 1790000000000, 1790000000000, -99999999999999], pa.timestamp("ms", "UTC")),
        "contact": ["c1", "c1", None, "c2", "c3"],
        "type": ["purchase.completed", "purchase.completed", "purchase.completed", "page.visited", "purchase.completed"],
        "amount": pa.array([1.5, 2.0, 3.0, None, 4.0]),
    })
    pq.write_table(table, "events.parquet")
    prog = load_program("program.goal")
    inputs = read_inputs(prog, None, Path("events.parquet"), skip_bad=True)
    assert [str(b) for b in inputs.bad] == [
        'events.parquet:2:time: an event needs a "time"',
        'events.parquet:3:contact: an event needs a "contact" (the contact id)',
        'events.parquet:4:url: page.visited needs the field "url"',
        'events.parquet:5:time: "time" -100000000000 is out of range (events must fall between the years 1900 and 8999)',
    ]
    assert [(e[0], e[1], e[3]) for e in inputs.events] == [(1790000000, "c1", {"amount": 1.5})]


def test_parquet_json_text_fields_of_the_wrong_kind_in_two_columns(write):
    """Map and list fields kept as JSON text: rows whose text holds another
    kind are checked row by row, whichever column and however many of its
    columns are wrong (one row wrong in both is one bad row); the others
    are read as they are. (Main crashed with an IndexError on this file:
    a row wrong in a later column before a row wrong in an earlier one.)"""
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq
    write("program.goal", "event thing.done { a: map, b: list, n: number }\n" + PROGRAM.replace(
        "purchase.completed", "thing.done"))
    n = 6
    pq.write_table(pa.table({
        "time": pa.array([1790000000000 + i * 1000 for i in range(n)], pa.timestamp("ms", "UTC")),
        "contact": [f"c{i}" for i in range(n)],
        "type": ["thing.done"] * n,
        "a": ['{"x": 1}', '{"x": 2}', '{"x": 3}', "[4]", "[5]", '{"x": 6}'],
        "b": ["[1]", '{"y": 2}', "[3]", "[4]", '{"y": 5}', "[6]"],
        "n": list(range(n)),
    }), "events.parquet")
    inputs = read_inputs(load_program("program.goal"), None, Path("events.parquet"), skip_bad=True)
    assert [str(b) for b in inputs.bad] == [
        'events.parquet:2:b: field "b" of thing.done must be a list, not an object',
        'events.parquet:4:a: field "a" of thing.done must be an object, not a list',
        'events.parquet:5:a: field "a" of thing.done must be an object, not a list',
    ]
    assert [(e[1], e[3]) for e in inputs.events] == [
        ("c0", {"a": {"x": 1}, "b": [1], "n": 0}), ("c2", {"a": {"x": 3}, "b": [3], "n": 2}),
        ("c5", {"a": {"x": 6}, "b": [6], "n": 5})]


def test_parquet_read_a_stretch_at_a_time_gives_the_whole_batch_check_rows(write, monkeypatch):
    """The Parquet reader makes a record batch's Python rows BATCH rows at a
    time where the column-wise check took every row, and reads a stretch
    with a row it did not take (a bad row, an unknown type, a JSON text
    field of the wrong kind) with ``arrow_rows``: the same rows (fields in
    the same order), ids, row numbers and messages as ``arrow_rows`` on the
    whole file as one record batch, over stretches of each kind."""
    pa = pytest.importorskip("pyarrow")
    import random
    import pyarrow.parquet as pq
    from goaldsl.runtime import readers
    from goaldsl.runtime.inputs import BATCH, Inputs, checked_batches, as_source
    write("program.goal", "event thing.done { a: map?, n: number, k: enum(x, y)?, s: string? }\n" + PROGRAM)
    rng = random.Random(12)
    n = 3 * BATCH + 123
    cols: dict = {c: [] for c in ("time", "contact", "type", "id", "a", "n", "k", "s", "url", "amount", "product")}
    bad_at = {BATCH + 5, BATCH + 700, 2 * BATCH - 1, n - 2}  # (record batches of 5,000 rows)
    for i in range(n):
        row = dict.fromkeys(cols)
        row.update(time=1790000000000 + 1000 * (i // 3), contact=f"c{rng.randrange(50)}", id=f"e{rng.randrange(n)}")
        kind = rng.choice(("thing.done", "page.visited", "purchase.completed"))
        row["type"] = kind
        if kind == "thing.done":
            row.update(n=rng.choice((1, 2.5, -3)), k=rng.choice(("x", "y", None)), s=rng.choice(("t", None, "")),
                       a=rng.choice((None, '{"p": 1}', '{}')))
        elif kind == "page.visited":
            row["url"] = rng.choice(("/pricing", "/", ""))
        else:
            row.update(amount=rng.choice((10, 20)), product=rng.choice(("shoe", None)))
        if i in bad_at:
            row.update(rng.choice(({"contact": None}, {"time": None}, {"type": "nope.never"},
                                   {"type": "thing.done", "n": 1, "a": "[1]"}, {"type": "thing.done", "n": None},
                                   {"type": "thing.done", "n": 1, "k": "z"})))
        for c in cols:
            cols[c].append(row[c])
    table = pa.table({**cols, "time": pa.array(cols["time"], pa.timestamp("ms", "UTC")),
                      "n": pa.array([None if v is None else float(v) for v in cols["n"]]),
                      "amount": pa.array(cols["amount"], pa.int64())})
    pq.write_table(table, "events.parquet", row_group_size=5000)
    events = load_program("program.goal").ir.events

    want_bad: list = []
    mapper = readers.RowMapper(events, None, "parquet", "events.parquet", want_bad, {})
    rb = table.combine_chunks().to_batches()[0]
    want = readers.arrow_rows(rb, mapper, 1)

    stretches = []
    real = readers.arrow_rows
    monkeypatch.setattr(readers, "arrow_rows", lambda rb, m, first: stretches.append(rb.num_rows) or real(rb, m, first))
    inputs = Inputs()
    got = [row for batch in checked_batches(as_source("events.parquet"), events, inputs.bad, fmt="parquet")
           for row in batch.rows()]
    assert stretches and sum(stretches) <= n - 2 * BATCH  # some stretches row by row, some a column at a time

    def shown(rows):
        return [(*r[:3], list(r[3].items()), *r[4:]) for r in rows]
    assert len(want) > n - 10
    assert shown(got) == shown(want)
    assert [str(b) for b in inputs.bad] == [str(b) for b in want_bad]
    assert [b.line for b in inputs.bad] == [i + 1 for i in sorted(bad_at)]


def test_reading_parquet_imports_neither_numpy_nor_pyarrow_compute(fixtures, tmp_path):
    """pyarrow is imported without numpy (pyarrow takes it only to convert
    to and from numpy's arrays) and without ``pyarrow.compute`` (the reader
    calls Arrow's functions by name): a tenth of a second less. pandas is
    not imported either, when installed (Arrow asks it about untyped
    scalars: the reader gives them their types). The run's
    activity is the same; in that process numpy still imports and works
    afterwards (the duplicates rule takes it for long logs), and pyarrow
    still writes Parquet."""
    pytest.importorskip("pyarrow")
    d = fixtures["booked-a-demo"]
    code = f"""
import io, sys
from goaldsl.cli import main
assert main(["run", {str(ROOT / "examples" / "booked-a-demo")!r}, "--format", "jsonl",
             "--events", {str(d / "events.parquet")!r}]) == 0
print("imported:", sorted(m for m in sys.modules if m.split(".")[0] in ("numpy", "pandas") or m == "pyarrow.compute"))
from goaldsl.runtime.inputs import SeenIds
print("repeats:", SeenIds()._in_table(["a", "b", "a"]))
from goaldsl.runtime.output import ParquetWriter
out = io.BytesIO()
w = ParquetWriter(out)
w({{"time": 0, "contact": "c1", "workflow": "W", "event": "enrolled"}})
w.flush()
import pyarrow.parquet as pq
# (no thread pool: pyarrow 26 aborted at exit after writing and reading Parquet with one, most runs here)
print("written:", pq.read_table(io.BytesIO(out.getvalue()), use_threads=False).num_rows)
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    want = run("run", str(ROOT / "examples" / "booked-a-demo"), "--format", "jsonl").stdout.decode()
    assert done.stdout.endswith("imported: []\nrepeats: [False, False, True]\nwritten: 1\n")
    assert done.stdout[:-len("imported: []\nrepeats: [False, False, True]\nwritten: 1\n")] == want


def test_a_pyarrow_that_needs_numpy_is_imported_with_it(tmp_path):
    """pyarrow before 16 cannot be imported without numpy: then the reader
    imports it again, with numpy, instead of saying pyarrow is missing.
    (A stand-in pyarrow package that fails without numpy, in a new
    process.)"""
    fake = tmp_path / "fake" / "pyarrow"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("import numpy\nWITH = numpy.__name__\n")
    (fake / "_compute.py").write_text("")
    (fake / "parquet.py").write_text("")
    code = ("import sys; from goaldsl.runtime.readers import _pyarrow; pa = _pyarrow(); "
            "print(pa.WITH, pa.__file__.startswith(sys.argv[1]), sys.modules['numpy'] is not None)")
    env = dict(__import__("os").environ)
    env["PYTHONPATH"] = f"{tmp_path / 'fake'}{__import__('os').pathsep}{env.get('PYTHONPATH', '')}"
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, env=env,
                          cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "numpy True True\n"


def test_bad_segment_messages(write):
    rows = [
        {"type": "track", "event": "Order Completed", "userId": "u1", "timestamp": "2026-11-16T14:00:00.250Z",
         "messageId": "m1", "properties": {"amount": 20, "product": None}},
        {"type": "track", "userId": "u1", "timestamp": "2026-11-16T14:00:00Z"},
        {"type": "trak", "event": "Order Completed", "userId": "u1", "timestamp": "2026-11-16T14:00:00Z"},
        {"type": "track", "event": "Order Completed", "anonymousId": "a1", "originalTimestamp": "2026-11-16T15:00:00Z",
         "properties": {"amount": "20"}},
        {"type": "identify", "userId": "u2", "timestamp": "2026-11-16T14:00:00Z", "traits": {"plan": "pro"}},
        {"type": "page", "userId": "u2", "timestamp": "2026-11-16T14:00:00Z", "name": "Home"},
    ]
    write("map.toml", '[events]\n"Order Completed" = "purchase.completed"\n')
    from goaldsl.runtime.mapping import load_mapping
    inputs = _read(write, "export.jsonl", "".join(json.dumps(r) + "\n" for r in rows), mapping=load_mapping("map.toml"))
    assert [str(b) for b in inputs.bad] == [
        'export.jsonl:2: a "track" message needs an "event" (the event\'s name)',
        'export.jsonl:3: "type" is "trak"; a Segment message is one of track, identify, page, screen, group, alias',
        'export.jsonl:4: field "amount" of purchase.completed must be a number, not "20"',
        'export.jsonl:6: unknown event type "page" (did you mean "page.visited"?); map it to one of the program\'s events in [events] of the '
        'mapping file, or set unknown_events = "skip" there',
    ]
    assert [(e[1], e[2], e[3]) for e in inputs.events] == [
        ("u1", "purchase.completed", {"amount": 20}), ("u2", "contact.updated", {"fields": {"plan": "pro"}})]


def test_segment_identify_traits_become_the_contact_attributes(write, capsys):
    """identify: each trait an attribute of the same name from the call's
    time on; an object trait replaces the attribute, a dotted name sets a
    nested one; null unsets it (null tags: none); the reserved "id" trait
    is the user's id, which is the contact, not an attribute."""
    write("program.goal", 'workflow "W" { evaluate on event\n enroll when purchase.completed\n'
                          ' if contact.plan == "pro" and contact.address.city == "Berlin" { add_tag("berlin-pro") }\n'
                          ' send_email("hi {contact.firstName}") }\n')
    rows = [
        {"type": "identify", "userId": "u1", "messageId": "m1", "timestamp": "2026-11-16T14:00:00Z",
         "traits": {"id": "u1", "firstName": "Ana", "plan": "pro", "address": {"city": "Berlin", "zip": "10115"},
                    "tags": ["vip"]}},
        {"type": "identify", "anonymousId": "a7", "messageId": "m2", "timestamp": "2026-11-16T14:01:00Z",
         "context": {"traits": {"firstName": "Ben", "plan": "free"}}},
        {"type": "identify", "userId": "u1", "messageId": "m3", "timestamp": "2026-11-16T14:02:00Z",
         "traits": {"company.size": 40, "tags": None}},
        {"type": "track", "event": "purchase.completed", "userId": "u1", "messageId": "m4",
         "timestamp": "2026-11-16T15:00:00Z", "properties": {"amount": 20}},
        {"type": "identify", "userId": "u1", "messageId": "m5", "timestamp": "2026-11-16T16:00:00Z",
         "traits": {"plan": None}},
        {"type": "track", "event": "purchase.completed", "userId": "u1", "messageId": "m6",
         "timestamp": "2026-11-16T17:00:00Z", "properties": {"amount": 30}},
    ]
    write("export.jsonl", "".join(json.dumps(r) + "\n" for r in rows))
    prog = load_program("program.goal")
    inputs = read_inputs(prog, None, "export.jsonl")
    assert not inputs.bad
    assert [(e[1], e[3]) for e in inputs.events if e[2] == "contact.updated"] == [
        ("u1", {"fields": {"firstName": "Ana", "plan": "pro", "address": {"city": "Berlin", "zip": "10115"},
                           "tags": ["vip"]}}),
        ("a7", {"fields": {"firstName": "Ben", "plan": "free"}}),
        ("u1", {"fields": {"company.size": 40, "tags": []}}),
        ("u1", {"fields": {"plan": None}}),
    ]
    assert main(["run", ".", "--events", "export.jsonl", "--format", "jsonl"]) == 0
    out = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    actions = [(e["time"], e["action"], e.get("args")) for e in out if e["type"] == "action"]
    assert actions[0][1:] == ("add_tag", {"tag": "berlin-pro"})  # plan and address.city from the traits
    assert [a for a in actions if a[1] == "send_email"][0][2] == {"template": "hi Ana"}
    from goaldsl.tools.evaluate import evaluate_condition
    for cond, at, want in (('"vip" in contact.tags', "2026-11-16T14:01:00Z", True),
                           ('"vip" in contact.tags', "2026-11-16T14:03:00Z", False),  # null tags: none
                           ("contact.company.size == 40", "2026-11-16T14:03:00Z", True),
                           ("contact.plan is set", "2026-11-16T15:30:00Z", True),
                           ("contact.plan is set", "2026-11-16T16:30:00Z", False)):  # null: no longer set
        from goaldsl.api import parse_time
        assert evaluate_condition(prog, inputs, cond, "u1", parse_time(at), "UTC").value is want, (cond, at)
    # In the project's JSON Lines the same rule: null tags in contact.updated mean none
    write("events.jsonl", json.dumps({"time": "2026-11-16T14:00:00Z", "contact": "c1", "type": "contact.updated",
                                      "fields": {"tags": None, "lists": None, "plan": None}}) + "\n")
    inputs = read_inputs(prog, None, "events.jsonl")
    assert inputs.events[0][3] == {"fields": {"tags": [], "lists": [], "plan": None}}


def test_unknown_events_skipped_by_the_mapping_are_counted_and_reported(write, capsys):
    rows = [{"type": "track", "event": e, "userId": "u1", "timestamp": "2026-11-16T14:00:00Z",
             "properties": {"amount": 5}} for e in ["Order Completed", "App Opened", "App Opened", "Signed Up"]]
    write("program.goal", PROGRAM)
    write("events.jsonl", "".join(json.dumps(r) + "\n" for r in rows))
    write("map.toml", 'unknown_events = "skip"\n[events]\n"Order Completed" = "purchase.completed"\n')
    assert main(["run", ".", "--format", "jsonl"]) == 0
    out, err = capsys.readouterr()
    assert len(out.splitlines()) == 3  # enrolled, the action, exited
    assert 'skipped 3 rows of events the program does not declare (unknown_events = "skip"): "App Opened" 2, ' \
           '"Signed Up" 1' in err


# ---------------------------------------------------------------- the mapping file

def test_mapping_columns_epoch_milliseconds_and_fields(write, capsys):
    write("program.goal", PROGRAM)
    write("events.csv", "ts,user,name,revenue,sku\n1790000000000,u1,Order Completed,12.5,A\n"
                        "1790000060000,u1,Order Completed,7,\n")
    write("map.toml", '[columns]\ncontact = "user"\ntime = "ts"\ntype = "name"\n[time]\nformat = "epoch_ms"\n'
                      '[events]\n"Order Completed" = "purchase.completed"\n'
                      '[fields."purchase.completed"]\namount = "revenue"\nproduct = "sku"\n')
    assert main(["run", ".", "--format", "jsonl", "--events", "events.csv"]) == 0
    out = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert [e["time"] for e in out if e["type"] == "enrolled"] == ["2026-09-21T14:13:20Z", "2026-09-21T14:14:20Z"]


def test_naive_times_read_in_the_mapping_time_zone(write):
    write("map.toml", '[time]\ntimezone = "America/New_York"\n')
    from goaldsl.runtime.mapping import load_mapping
    inputs = _read(write, "events.csv", "time,contact,type,properties.amount\n2026-07-01T09:00:00,c1,purchase.completed,1\n"
                                        "2026-12-01T09:00:00,c1,purchase.completed,1\n",
                   mapping=load_mapping("map.toml"))
    from goaldsl.semantics.calendar import format_utc
    assert [format_utc(e[0]) for e in inputs.events] == ["2026-07-01T13:00:00Z", "2026-12-01T14:00:00Z"]


def test_goal_check_reports_mapping_problems_with_file_and_line(write, capsys):
    write("program.goal", PROGRAM)
    write("map.toml", 'format = "csv"\n[columns]\ncontakt = "user"\n[events]\n"Order Completed" = "purchase.complete"\n'
                      '[fields."purchase.completed"]\namont = "revenue"\n[time]\nformat = "epoch"\n')
    assert main(["check", "."]) == 1
    out = capsys.readouterr().out
    assert 'map.toml:3:1: error[E0701]: unknown key "contakt" in [columns] (did you mean "contact"?)' in out
    assert 'map.toml:5:1: error[E0702]: "Order Completed" maps to "purchase.complete", which is not an event type ' \
           'of the program (did you mean "purchase.completed"?)' in out
    assert 'map.toml:7:1: error[E0702]: purchase.completed has no field "amont" (did you mean "amount"?)' in out
    assert 'map.toml:9:1: error[E0701]: "format" is "epoch", not one of iso, epoch_s, epoch_ms' in out
    write("map.toml", "[events\n")
    assert main(["check", "."]) == 1
    assert "map.toml:1:" in capsys.readouterr().out
    # goal run refuses the same file before reading anything
    write("map.toml", '[events]\n"A" = "nope.nope"\n')
    write("events.jsonl", "")
    assert main(["run", ".", "--from", "2026-01-01", "--until", "2026-01-02"]) == 1
    assert "map.toml:2:1: error[E0702]" in capsys.readouterr().out


def test_goal_check_on_a_mapping_file_named_alone(write, capsys):
    """goal check map.toml checks the file as a mapping (not as a program):
    against the program beside it, or the program named before it."""
    write("program.goal", 'event order.done { total: number }\n' + PROGRAM)
    write("map.toml", '[events]\n"Order Completed" = "order.don"\n[columns]\ncontakt = "user"\n')
    assert main(["check", "map.toml"]) == 1
    out = capsys.readouterr().out
    assert "E0001" not in out  # not read as a .goal program
    assert 'map.toml:4:1: error[E0701]: unknown key "contakt" in [columns] (did you mean "contact"?)' in out
    assert 'map.toml:2:1: error[E0702]: "Order Completed" maps to "order.don", which is not an event type of the ' \
           'program (did you mean "order.done"?)' in out
    # the folder and the file named together: each problem once
    assert main(["check", ".", "map.toml"]) == 1
    assert capsys.readouterr().out == out
    write("map.toml", '[events]\n"Order Completed" = "order.done"\n')
    assert main(["check", "map.toml"]) == 0
    assert capsys.readouterr().out == "ok: 1 file checked\n"
    # a mapping file elsewhere (--map FILE) is checked against the program named before it
    write("elsewhere/segment.toml", '[events]\n"Order Completed" = "order.done"\n')
    assert main(["check", "elsewhere/segment.toml"]) == 1  # beside it: the standard library alone
    assert 'is not an event type of the program' in capsys.readouterr().out
    assert main(["check", ".", "elsewhere/segment.toml"]) == 0
    assert capsys.readouterr().out == "ok: 3 files checked\n"  # program.goal, the map.toml beside it, segment.toml
    # TOML that does not parse, and a file that is not there: E0700 with the place
    write("map.toml", "[events\n")
    assert main(["check", "map.toml"]) == 1
    assert "map.toml:1:8: error[E0700]: the mapping file is not valid TOML" in capsys.readouterr().out
    assert main(["check", "--format", "json", "missing.toml"]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["files"] == 1 and doc["diagnostics"][0]["code"] == "E0700"
    assert "cannot read the mapping file missing.toml" in doc["diagnostics"][0]["summary"]


def test_a_file_that_cannot_be_read_is_one_message_not_a_traceback(write, capsys):
    write("program.goal", PROGRAM)
    write("events.parquet", b"PAR1 this is not parquet")
    assert main(["run", ".", "--events", "events.parquet", "--format", "jsonl"]) == 1
    assert "events.parquet: is not a readable Parquet file" in capsys.readouterr().err
    write("events.jsonl.gz", b"\x1f\x8b\x08\x00broken")
    assert main(["run", ".", "--events", "events.jsonl.gz", "--format", "jsonl"]) == 1
    assert "events.jsonl.gz: is not a readable gzip file" in capsys.readouterr().err
    write("events.csv", "when,who\n1,2\n")
    assert main(["run", ".", "--events", "events.csv", "--format", "jsonl"]) == 1
    err = capsys.readouterr().err
    assert 'events.csv: has no column "time" for the event\'s time (its columns: when, who)' in err


# ---------------------------------------------------------------- contacts

def test_contacts_in_csv_and_parquet_and_null_tags(write, capsys):
    write("program.goal", 'workflow "W" { audience contact.lead_score >= 50 and "vip" in contact.tags\n'
                          ' send_email("hi {contact.company.size}") }\n')
    write("events.jsonl", json.dumps({"time": "2026-11-16T14:00:00Z", "contact": "c1", "type": "page.visited",
                                      "url": "/"}) + "\n")
    write("contacts.jsonl", '{"id": "c1", "lead_score": 60, "tags": ["vip"], "company": {"size": 12}}\n'
                            '{"id": "c2", "lead_score": 90, "tags": null, "lists": null}\n')
    assert main(["run", ".", "--format", "jsonl"]) == 0
    want = capsys.readouterr().out
    assert '"template":"hi 12"' in want
    write("contacts.csv", 'id,lead_score,tags,company.size,zip\nc1,60,"[""vip""]",12,00123\nc2,90,,,\n')
    assert main(["run", ".", "--format", "jsonl", "--contacts", "contacts.csv"]) == 0
    assert capsys.readouterr().out == want
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq
    pq.write_table(pa.table({"id": ["c1", "c2"], "lead_score": [60, 90], "tags": [["vip"], None],
                             "company": [{"size": 12}, None]}), "contacts.parquet")
    assert main(["run", ".", "--format", "jsonl", "--contacts", "contacts.parquet"]) == 0
    assert capsys.readouterr().out == want
    from goaldsl.runtime.inputs import read_contacts
    recs = read_contacts(Path("contacts.csv")).contacts
    assert recs[0] == {"id": "c1", "lead_score": 60, "tags": ["vip"], "company": {"size": 12}, "zip": "00123"}


def test_contacts_from_standard_input_or_an_unusual_name_are_told_by_their_bytes(activity, tmp_path):
    """Contacts as CSV or Parquet with no name to go by (standard input,
    compressed or not; a .txt file) are read as such, as events are."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    import zstandard
    want = activity("booked-a-demo")
    contacts = read_jsonl(ROOT / "examples" / "booked-a-demo" / "contacts.jsonl")
    pq.write_table(pa.Table.from_pylist(contacts), tmp_path / "people.parquet")
    rows = ["id,email,first_name,lead_score,country,company.name,company.size,tags,lists"]
    rows += [",".join([c["id"], c["email"], c["first_name"], str(c["lead_score"]), c["country"], c["company"]["name"],
                       str(c["company"]["size"]), '"' + json.dumps(c["tags"]).replace('"', '""') + '"',
                       '"' + json.dumps(c["lists"]).replace('"', '""') + '"']) for c in contacts]
    text = ("\n".join(rows) + "\n").encode()
    (tmp_path / "people.txt").write_bytes(text)
    assert activity("booked-a-demo", "--contacts", str(tmp_path / "people.txt")) == want
    assert activity("booked-a-demo", "--contacts", "-", stdin=text) == want
    assert activity("booked-a-demo", "--contacts", "-", stdin=gzip.compress(text)) == want
    parquet = (tmp_path / "people.parquet").read_bytes()
    assert activity("booked-a-demo", "--contacts", "-", stdin=parquet) == want
    assert activity("booked-a-demo", "--contacts", "-", stdin=zstandard.ZstdCompressor().compress(parquet)) == want


def test_a_named_pipe_is_read_as_a_stream(write, activity, tmp_path):
    import os
    import threading
    want = activity("tags")
    fifo = tmp_path / "events.fifo"
    os.mkfifo(fifo)
    raw = (ROOT / "examples" / "tags" / "events.jsonl").read_bytes()

    def feed():
        with open(fifo, "wb") as f:
            f.write(raw)

    t = threading.Thread(target=feed)
    t.start()
    try:
        assert activity("tags", "--events", str(fifo)) == want
    finally:
        t.join(timeout=10)


@pytest.mark.parametrize("zone", ["Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "UTC"])
def test_naive_times_resolve_as_command_line_times_do(zone):
    """A naive time read in a zone (mapping [time] timezone) is the instant
    a command-line time without an offset is: the later one in an autumn
    overlap, moved forward by a spring gap."""
    from datetime import datetime, timedelta, timezone as tzone
    from goaldsl.semantics.calendar import parse_local_datetime, wall_to_epoch
    start = datetime(2026, 1, 1)
    for hours in range(0, 365 * 24, 7):
        wall = start + timedelta(hours=hours, minutes=30)
        text = wall.isoformat()
        epoch_wall = int(wall.replace(tzinfo=tzone.utc).timestamp())
        assert wall_to_epoch(epoch_wall, zone) == parse_local_datetime(text, zone), text
    for text in ("2026-03-29T02:30:00", "2026-10-25T02:30:00", "2026-03-08T02:30:00", "2026-11-01T01:30:00"):
        epoch_wall = int(datetime.fromisoformat(text).replace(tzinfo=tzone.utc).timestamp())
        assert wall_to_epoch(epoch_wall, zone) == parse_local_datetime(text, zone), text


@pytest.mark.parametrize("text", ["2026-11-16T14:00Z", "2026-11-16T14:00:30Z", "2026-03-29T01:30+02:00",
                                  "2026-10-25T02:30:00-05:30", "2024-02-29T23:59+14:00"])
@pytest.mark.parametrize("zone", ["UTC", "Europe/Paris", "America/New_York"])
def test_date_times_with_an_offset_read_without_pendulum_as_pendulum_reads_them(text, zone):
    import pendulum

    from goaldsl.semantics.calendar import parse_local_datetime
    assert parse_local_datetime(text, zone) == int(pendulum.parse(text, tz=zone, strict=False).timestamp())
