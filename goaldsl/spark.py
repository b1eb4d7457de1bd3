"""Running a program on Spark: the same activity as ``goal run``, for logs
that outgrow one machine (docs/scale.md).

    import goaldsl, goaldsl.spark
    program = goaldsl.load_program("my-program")
    events = spark.read.parquet("s3://lake/events/")        # the columns goal's Parquet reader takes
    contacts = spark.read.parquet("s3://lake/contacts/")    # optional
    activity = goaldsl.spark.run(program, events, contacts)   # a DataFrame, one row an entry
    activity.orderBy("order").write.parquet("s3://lake/goal-activity/")
    figures = goaldsl.spark.summary(activity, program)        # exactly goal run's summary

What stays global is decided by Spark over the whole log, before the log is
split: the rows are checked on the executors by goal's Parquet reader
(``readers.arrow_rows``, the same schema and messages as ``goal run`` on a
Parquet file, the same mapping file); bad rows refuse the run; a repeated
event id is a duplicate across all contacts (the first row in the log's
order wins: the order Spark reads it in, for one file the file's order);
the run's window is by default the first and last event of the whole log.
Then the events are shuffled by contact, sorted by (time, seq) within each
partition, and each partition runs the partition kernel
(``runtime/partition.py``) with order keys: the ``order`` column (binary)
sorts the entries into the order ``goal run`` writes them.

An engine that loops (the round limit) fails the whole run, as one process
does: ``run`` raises ``EngineError`` with the one-process message, and the
activity up to the failing instant is on the error (``error.activity``).

Needs ``pip install 'goaldsl[spark]'`` (PySpark, with Java 17 or later).
"""
from __future__ import annotations

import functools
import hashlib
import json
import os
import pickle
import sys
from typing import Iterator, Optional

from .runtime.engine import EngineError
from .runtime.inputs import BadLine, InputError, check_contact
from .runtime.output import ACTIVITY_COLUMNS, activity_row, entry_of_row
from .runtime.partition import PIECE, PartitionRun
from .runtime.program import Program, loads_program
from .runtime.summary import Summary, shapes_of

_KERNEL_SCHEMA = ("time_s long, contact string, workflow string, type string, action string, args string, "
                  "step string, goal string, reason string, id string, more string, `order` binary, "
                  "failure string, failed_at long")
_CHECKED_SCHEMA = ("kind int, time long, contact string, type string, payload string, id string, seq long, "
                   "message string")
_BAD_SHOWN = 20  # bad rows listed in the error (the count says how many more)

# kinds of the checked rows
_EVENT, _BAD, _SKIPPED, _CONTACT = 0, 1, 2, 3


def session(master: Optional[str] = None, app: str = "goal"):
    """A Spark session for goal: UTC, no progress bars, this Python on the
    executors (local mode). ``master`` defaults to $GOAL_SPARK_MASTER, else
    ``local[*]`` (every core of this machine)."""
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    from pyspark.sql import SparkSession
    b = (SparkSession.builder.appName(app)
         .master(master or os.environ.get("GOAL_SPARK_MASTER", "local[*]"))
         .config("spark.sql.session.timeZone", "UTC")
         .config("spark.ui.showConsoleProgress", "false")
         .config("spark.ui.enabled", "false"))
    spark = b.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def run(program: Program, events, contacts=None, *, start: Optional[int] = None, until: Optional[int] = None,
        partitions: Optional[int] = None, skip_bad: bool = False, mapping=None, shown: str = "events",
        window: Optional[list] = None):
    """The program's activity over ``events`` (a DataFrame with the columns
    goal's Parquet reader takes, docs/inputs.md) and ``contacts`` (one row a
    contact, an ``id`` column): a DataFrame with goal run's Parquet columns and ``order``, one
    row an entry, ``waiting`` entries included; ``order`` sorts it into the
    order ``goal run`` writes. ``start`` and ``until`` (epoch seconds)
    default to the first and last event; ``partitions`` (the memory knob:
    each holds its contacts' engine state) to Spark's shuffle partitions.
    ``window``, a list, gets the run's first and last instants.

    The result is persisted (computed once). Raises ``InputError`` for bad
    rows (unless ``skip_bad``), ``EngineError`` when workflows loop."""
    from pyspark.sql import functions as F
    spark = events.sparkSession
    data = program.dumps()
    checked = _checked_events(program, data, events, mapping, shown).persist()
    contact_rows = _checked_contacts(data, contacts) if contacts is not None else None
    _refuse_bad(checked, contact_rows, skip_bad)
    good = checked.filter(F.col("kind") == _EVENT)
    good = _first_of_each_id(good)
    span = good.agg(F.min("time").alias("first"), F.max("time").alias("last")).collect()[0]
    first = start if start is not None else span["first"]
    last = until if until is not None else span["last"]
    if first is None or last is None:
        raise InputError([BadLine(shown, 0, "there are no events to set the run's time span: give start and until")])
    if last < first:
        raise InputError([BadLine(shown, 0, "until is before start")])
    if window is not None:
        window[:] = [first, last]
    rows = good.filter(F.col("time") <= F.lit(last)).select("kind", "time", "seq", "contact", "type", "payload")
    if contact_rows is not None:
        rows = rows.unionByName(contact_rows.filter(F.col("kind") == _CONTACT)
                                .select("kind", "time", "seq", "contact", "type", "payload"))
    n = partitions or int(spark.conf.get("spark.sql.shuffle.partitions"))
    rows = rows.repartition(n, "contact").sortWithinPartitions("kind", "time", "seq", ascending=[False, True, True])
    kernel = functools.partial(_kernel, data, first, last)
    out = rows.mapInArrow(kernel, _KERNEL_SCHEMA).persist()
    failures = out.filter(F.col("failure").isNotNull()).select("failure", "failed_at").collect()
    activity = (out.filter(F.col("failure").isNull())
                .withColumn("time", F.timestamp_seconds("time_s"))
                .select(*ACTIVITY_COLUMNS, "order"))
    checked.unpersist()
    if failures:
        worst = min(failures, key=lambda r: (r["failed_at"] is None, r["failed_at"] or 0))
        err = EngineError(worst["failure"], worst["failed_at"])
        if worst["failed_at"] is not None:  # what one process writes before it stops
            activity = activity.filter(F.col("time") <= F.timestamp_seconds(F.lit(worst["failed_at"])))
        err.activity = activity.filter(F.col("type") != "waiting")
        raise err
    return activity


def summary(activity, program: Program, *, window: Optional[tuple[int, int]] = None) -> dict:
    """The figures of a run's activity (``run``'s DataFrame): exactly what
    ``goal run --summary`` gives for the same run. Each partition of
    contacts is summarised on the executors and the partitions' summaries
    added (every time to goal kept: the quantiles are exact)."""
    data = program.dumps()
    parts = (activity.repartition("contact").sortWithinPartitions("order")
             .mapInArrow(functools.partial(_summarise, data), "summary binary").collect())
    total = Summary(shapes_of(program.ir))
    for row in parts:
        total.merge(pickle.loads(row["summary"]))
    return total.result(window=window)


def entries(activity) -> Iterator[dict]:
    """The activity DataFrame's entries in ``goal run``'s order (collected
    to the driver: for tests and small runs), as ``goal run`` writes them."""
    for row in activity.orderBy("order").toLocalIterator():
        yield entry_of_row(_row_values(row))


# ---------------------------------------------------------------- on the driver

def _checked_events(program: Program, data: bytes, events, mapping, shown: str):
    from pyspark.sql import functions as F
    from .runtime.readers import RowMapper, parquet_columns
    mapper = RowMapper(program.ir.events, mapping, "parquet", shown, [], {})
    cols = parquet_columns(events.columns, mapper)
    missing = [c for c in (mapper.type_col,) if c not in events.columns]
    if missing or not any(c in events.columns for c in mapper.time_cols) \
            or not any(c in events.columns for c in mapper.contact_cols):
        raise InputError([BadLine(shown, 0, f"has none of the columns goal reads an event from (time, contact, "
                                            f"type; its columns: {', '.join(events.columns)}); docs/inputs.md")])
    fn = functools.partial(_check_events, data, cols, mapping, shown)
    return events.select(*cols).withColumn("_seq", F.monotonically_increasing_id()).mapInArrow(fn, _CHECKED_SCHEMA)


def _checked_contacts(data: bytes, contacts):
    from pyspark.sql import Window
    from pyspark.sql import functions as F
    fn = functools.partial(_check_contacts, data, list(contacts.columns))
    rows = contacts.withColumn("_seq", F.monotonically_increasing_id()).mapInArrow(fn, _CHECKED_SCHEMA)
    # A contact on two rows: the later ones are bad, as in a contacts file.
    w = Window.partitionBy("contact").orderBy("seq")
    rows = rows.withColumn("_n", F.when(F.col("kind") == _CONTACT, F.row_number().over(w)))
    return rows.select(
        F.when(F.col("_n") > 1, F.lit(_BAD)).otherwise(F.col("kind")).alias("kind"), "time", "contact", "type",
        "payload", "id", "seq",
        F.when(F.col("_n") > 1, F.concat(F.lit('contacts: contact "'), F.col("contact"),
                                         F.lit('" is on more than one row'))).otherwise(F.col("message"))
        .alias("message")).persist()


def _refuse_bad(checked, contact_rows, skip_bad: bool) -> None:
    from pyspark.sql import functions as F
    bad = checked.filter(F.col("kind") == _BAD)
    if contact_rows is not None:
        bad = contact_rows.filter(F.col("kind") == _BAD).unionByName(bad)
    if skip_bad:
        return
    shown = bad.orderBy("seq").select("message").limit(_BAD_SHOWN).collect()
    if shown:
        total = bad.count()
        lines = [BadLine("", 0, r["message"]) for r in shown]
        if total > len(shown):
            lines.append(BadLine("", 0, f"... and {total - len(shown)} more bad rows"))
        raise InputError(lines)


def _first_of_each_id(good):
    """The first row with an id wins, whoever it is for; the others are duplicates."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F
    w = Window.partitionBy("id").orderBy("seq")
    with_id = good.filter(F.col("id").isNotNull())
    first = with_id.withColumn("_n", F.row_number().over(w)).filter(F.col("_n") == 1).drop("_n")
    return good.filter(F.col("id").isNull()).unionByName(first)


# ---------------------------------------------------------------- on the executors

_PROGRAMS: dict[str, Program] = {}


def _program(data: bytes) -> Program:
    """The program, compiled once per Python worker process."""
    key = hashlib.sha256(data).hexdigest()
    p = _PROGRAMS.get(key)
    if p is None:
        p = _PROGRAMS[key] = loads_program(data)
    return p


def _partition_id() -> int:
    from pyspark import TaskContext
    ctx = TaskContext.get()
    return ctx.partitionId() if ctx is not None else 0


def _check_events(data: bytes, cols: list[str], mapping, shown: str, batches) -> Iterator:
    """Rows checked by goal's Parquet reader: good events (time in epoch
    seconds, fields as JSON), bad rows with their message, skipped rows."""
    import pyarrow as pa
    from .runtime.readers import RowMapper, arrow_rows
    program = _program(data)
    bad: list = []
    skipped: dict = {}
    where = f"{shown} (Spark partition {_partition_id()}, row"
    mapper = RowMapper(program.ir.events, mapping, "parquet", shown, bad, skipped)
    first = 1
    for rb in batches:
        seqs = rb.column(rb.schema.get_field_index("_seq")).to_pylist()
        part = pa.RecordBatch.from_arrays([rb.column(rb.schema.get_field_index(c)) for c in cols], names=cols)
        rows = arrow_rows(part, mapper, first)
        out = {"kind": [], "time": [], "contact": [], "type": [], "payload": [], "id": [], "seq": [], "message": []}

        def put(kind, t, cid, typ, payload, eid, seq, msg):
            out["kind"].append(kind)
            out["time"].append(t)
            out["contact"].append(cid)
            out["type"].append(typ)
            out["payload"].append(payload)
            out["id"].append(eid)
            out["seq"].append(seq)
            out["message"].append(msg)
        for t, cid, typ, fields, eid, no in rows:
            put(_EVENT, t, cid, typ, json.dumps(fields, ensure_ascii=False), None if eid is None else str(eid),
                seqs[no - first], None)
        for b in bad:
            text = f"{where} {b.line}{', column ' + b.column if b.column else ''}): {b.message}"
            put(_BAD, None, None, None, None, None, seqs[b.line - first] if first <= b.line < first + rb.num_rows
                else None, text)
        for typ, count in skipped.items():
            put(_SKIPPED, count, None, typ, None, None, None, None)
        bad.clear()
        skipped.clear()
        first += rb.num_rows
        yield pa.RecordBatch.from_pydict(out, schema=_arrow_schema(_CHECKED_SCHEMA))


def _check_contacts(data: bytes, cols: list[str], batches) -> Iterator:
    import pyarrow as pa
    from .runtime.readers import arrow_contact_records
    where = f"contacts (Spark partition {_partition_id()}, row"
    n = 0
    for rb in batches:
        seqs = rb.column(rb.schema.get_field_index("_seq")).to_pylist()
        part = pa.RecordBatch.from_arrays([rb.column(rb.schema.get_field_index(c)) for c in cols], names=cols)
        out: dict[str, list] = {k: [] for k in ("kind", "time", "contact", "type", "payload", "id", "seq", "message")}
        for i, rec in enumerate(arrow_contact_records(part)):
            n += 1
            problem = check_contact(rec, {"id": "id"})
            out["time"].append(None)
            out["type"].append(None)
            out["id"].append(None)
            out["seq"].append(seqs[i])
            if problem:
                out["kind"].append(_BAD)
                out["contact"].append(None)
                out["payload"].append(None)
                out["message"].append(f"{where} {n}{', column ' + problem[0] if problem[0] else ''}): {problem[1]}")
            else:
                out["kind"].append(_CONTACT)
                out["contact"].append(str(rec["id"]))
                out["payload"].append(json.dumps(rec, ensure_ascii=False))
                out["message"].append(None)
        yield pa.RecordBatch.from_pydict(out, schema=_arrow_schema(_CHECKED_SCHEMA))


def _kernel(data: bytes, start: int, until: int, batches) -> Iterator:
    """One Spark partition of contacts: the partition kernel with order
    keys, fed the contacts (first, by rank) and the events (by time, seq)."""
    program = _program(data)
    contacts: list = []
    run: Optional[PartitionRun] = None
    piece: list = []
    try:
        for rb in batches:
            d = rb.to_pydict()
            for kind, t, seq, cid, typ, payload in zip(d["kind"], d["time"], d["seq"], d["contact"], d["type"],
                                                       d["payload"]):
                if kind == _CONTACT:
                    contacts.append((seq, json.loads(payload)))
                    continue
                if run is None:
                    run = PartitionRun(program, contacts, start=start, until=until, keyed=True)
                piece.append((t, cid, typ, json.loads(payload), seq))
                if len(piece) >= PIECE:
                    yield _batch(run.feed(piece))
                    piece = []
        if run is None:
            run = PartitionRun(program, contacts, start=start, until=until, keyed=True)
        if piece:
            yield _batch(run.feed(piece))
        yield _batch(run.finish(until))
        yield _batch(run.waiting())
    except EngineError as e:
        yield _batch(run.entries() if run is not None else [], failure=(str(e), e.instant))


def _batch(pairs: list, failure: Optional[tuple] = None):
    import pyarrow as pa
    cols: list[list] = [[] for _ in range(len(ACTIVITY_COLUMNS) + 3)]
    for key, e in pairs:
        for i, v in enumerate(activity_row(e)):
            cols[i].append(v)
        cols[-3].append(key)  # (bytes that sort as the keys: runtime/order.py)
        cols[-2].append(None)
        cols[-1].append(None)
    if failure is not None:
        for i in range(len(ACTIVITY_COLUMNS) + 1):
            cols[i].append(None)
        cols[-2].append(failure[0])
        cols[-1].append(failure[1])
    names = ["time_s", *ACTIVITY_COLUMNS[1:], "order", "failure", "failed_at"]
    return pa.RecordBatch.from_pydict(dict(zip(names, cols)), schema=_arrow_schema(_KERNEL_SCHEMA))


def _summarise(data: bytes, batches) -> Iterator:
    import pyarrow as pa
    program = _program(data)
    s = Summary(shapes_of(program.ir))
    for rb in batches:
        d = rb.to_pydict()
        for i in range(rb.num_rows):
            s.add(entry_of_row(tuple(_epoch(d["time"][i]) if c == "time" else d[c][i] for c in ACTIVITY_COLUMNS)))
    yield pa.RecordBatch.from_pydict({"summary": [pickle.dumps(s)]}, schema=_arrow_schema("summary binary"))


def _row_values(row) -> tuple:
    return tuple(_epoch(row["time"]) if c == "time" else row[c] for c in ACTIVITY_COLUMNS)


def _epoch(v) -> int:
    """A timestamp (aware or naive UTC, as Spark hands it back) as epoch seconds."""
    import calendar
    import datetime
    if isinstance(v, datetime.datetime):
        if v.tzinfo is not None:
            return int(v.timestamp())
        return calendar.timegm(v.timetuple())
    return int(v)


@functools.lru_cache(maxsize=None)
def _arrow_schema(ddl: str):
    import pyarrow as pa
    kinds = {"long": pa.int64(), "int": pa.int32(), "string": pa.string(), "binary": pa.binary()}
    fields = []
    for part in ddl.split(","):
        name, kind = part.split()
        fields.append(pa.field(name.strip("`"), kinds[kind]))
    return pa.schema(fields)
