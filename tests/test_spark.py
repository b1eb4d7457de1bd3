"""goal on Spark (goaldsl/spark.py, docs/scale.md): the same lines, in the
same order once sorted by ``order``, and the same summary as `goal run`.

One local[2] session serves the whole test session (starting the JVM is the
slow part). Skipped, and saying why, where PySpark or Java is missing;
.ci/run installs the extra (pip install '.[spark]') and runs these.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pyspark = pytest.importorskip("pyspark", reason="PySpark is not installed: pip install '.[spark]' (.ci/run does)")
if shutil.which("java") is None:
    pytest.skip("Java is not installed: Spark needs Java 17 or later", allow_module_level=True)

import goaldsl  # noqa: E402
from goaldsl import spark as gs  # noqa: E402
from goaldsl.runtime.output import jsonl_line  # noqa: E402

from format_fixtures import read_jsonl, write_parquet  # noqa: E402
from workloads import SHARED_GEN, generated  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def spark():
    s = gs.session("local[2]")
    s.conf.set("spark.sql.shuffle.partitions", "4")
    yield s
    s.stop()


def one_process(folder: Path, *args: str) -> tuple[int, list[str], str]:
    p = subprocess.run([sys.executable, "-m", "goaldsl", "run", str(folder), "--format", "jsonl", *args],
                       capture_output=True, text=True, timeout=600)
    return p.returncode, p.stdout.splitlines(), p.stderr


def as_parquet(folder: Path, out: Path) -> tuple[Path, Path]:
    """The folder's events and contacts as Parquet, as a warehouse writes them."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    out.mkdir(parents=True, exist_ok=True)
    write_parquet(read_jsonl(folder / "events.jsonl"), out / "events.parquet", row_group_size=4096)
    pq.write_table(pa.Table.from_pylist(read_jsonl(folder / "contacts.jsonl")), out / "contacts.parquet")
    return out / "events.parquet", out / "contacts.parquet"


def on_spark(spark, folder: Path, tmp: Path, **kw) -> tuple[list[str], dict]:
    program = goaldsl.load_program(folder)
    events, contacts = as_parquet(folder, tmp)
    window: list[int] = []
    activity = gs.run(program, spark.read.parquet(str(events)), spark.read.parquet(str(contacts)), window=window,
                      **kw)
    lines = [jsonl_line(e) for e in gs.entries(activity)]
    return lines, gs.summary(activity, program, window=tuple(window))


@pytest.mark.parametrize("example", ["booked-a-demo", "invoice-paid"])
def test_examples(spark, tmp_path, example):
    folder = ROOT / "examples" / example
    lines, figures = on_spark(spark, folder, tmp_path, partitions=3)
    code, expected, _ = one_process(folder, "--summary", str(tmp_path / "s.json"))
    assert code == 0 and lines == expected and expected
    assert figures == json.loads((tmp_path / "s.json").read_text())


@pytest.mark.skipif(not SHARED_GEN.exists(), reason="needs ../shared/bench/gen.py beside the repository")
def test_a_generated_log_with_repeated_ids_and_the_default_window(spark, tmp_path):
    folder = generated(tmp_path, 5, events=20000, contacts=1000)
    lines, figures = on_spark(spark, folder, tmp_path / "pq", partitions=5)
    code, expected, err = one_process(folder, "--summary", str(tmp_path / "s.json"))
    assert code == 0 and "duplicate events (repeated ids)" in err
    assert len(expected) > 5000
    assert lines == expected
    assert figures == json.loads((tmp_path / "s.json").read_text())


def test_a_loop_fails_the_run_with_the_one_process_message(spark, tmp_path):
    from test_workers import LOOP
    (tmp_path / "program.goal").write_text(LOOP)
    (tmp_path / "contacts.jsonl").write_text('{"id": "c0"}\n')
    rows = [{"time": "2026-11-16T09:00:00Z", "contact": f"c{i}", "type": "page.visited", "url": "/", "id": f"e{i}"}
            for i in range(6)]
    rows.append({"time": "2026-11-16T10:00:00Z", "contact": "c3", "type": "tag.added", "tag": "pong", "id": "t"})
    rows.append({"time": "2026-11-16T11:00:00Z", "contact": "c4", "type": "page.visited", "url": "/", "id": "l"})
    (tmp_path / "events.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    code, expected, err = one_process(tmp_path)
    assert code == 1
    with pytest.raises(goaldsl.EngineError) as e:
        on_spark(spark, tmp_path, tmp_path / "pq", partitions=3)
    assert f"goal run: {e.value}\n" == err
    assert [jsonl_line(x) for x in gs.entries(e.value.activity)] == expected


def test_bad_rows_refuse_the_run(spark, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq
    program = goaldsl.load_program(ROOT / "examples" / "booked-a-demo")
    pq.write_table(pa.table({"time": ["2026-11-16T09:00:00Z", "yesterday"], "contact": ["c1", "c2"],
                             "type": ["page.visited", "page.visited"], "url": ["/", "/"]}), tmp_path / "e.parquet")
    with pytest.raises(goaldsl.InputError) as e:
        gs.run(program, spark.read.parquet(str(tmp_path / "e.parquet")))
    assert len(e.value.bad) == 1 and "yesterday" in str(e.value)


def test_the_command_line(tmp_path):
    """`goal run --engine spark`: Parquet in, a folder of Parquet out, in goal run's order."""
    import pyarrow.parquet as pq
    from goaldsl.runtime.output import entry_of_row, ACTIVITY_COLUMNS
    folder = ROOT / "examples" / "booked-a-demo"
    events, contacts = as_parquet(folder, tmp_path)
    p = subprocess.run([sys.executable, "-m", "goaldsl", "run", str(folder), "--engine", "spark", "--events",
                        str(events), "--contacts", str(contacts), "--out", str(tmp_path / "out")],
                       capture_output=True, text=True, timeout=900, env={**__import__("os").environ,
                                                                         "GOAL_SPARK_MASTER": "local[2]"})
    assert p.returncode == 0, p.stderr
    table = pq.read_table(tmp_path / "out", use_threads=False).sort_by("order")
    rows = zip(*(table.column(c).to_pylist() for c in ACTIVITY_COLUMNS))
    got = [jsonl_line(entry_of_row((int(r[0].timestamp()),) + r[1:])) for r in rows]
    assert got == one_process(folder)[1]
