"""`goal report` (docs/reports.md): the same figures as `goal run --summary`,
from a program, a stored stream or a state file; a self-contained HTML page
whose tables say what the JSON says; chart images for slides."""
from __future__ import annotations

import json
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import pytest

from goaldsl.cli import main

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "review-request"

pytestmark = pytest.mark.skipif(not __import__("importlib").util.find_spec("matplotlib"),
                                reason="matplotlib (the `report` extra) is not installed")


@pytest.fixture
def goal(capsys):
    def _goal(*argv: str):
        code = main([str(a) for a in argv])
        out, err = capsys.readouterr()
        return code, out, err
    return _goal


@pytest.fixture
def example(tmp_path, monkeypatch):
    """A copy of an example (goal steps, jumps, a goal step passed unmet)."""
    monkeypatch.chdir(tmp_path)
    shutil.copytree(EXAMPLE, tmp_path / "ex")
    return tmp_path / "ex"


def without_window(figures: dict) -> dict:
    return {k: v for k, v in figures.items() if k not in ("from", "until")}


def test_json_is_the_same_object_as_goal_run_summary(goal, example, tmp_path):
    assert goal("run", example, "--format", "jsonl", "--summary", "s.json")[0] == 0
    code, out, err = goal("report", example, "--format", "json")
    assert code == 0 and err == ""
    assert json.loads(out) == json.loads((tmp_path / "s.json").read_text())


def test_from_a_stored_stream_and_from_a_state_file(goal, example, tmp_path):
    code, stream, _ = goal("run", example, "--format", "jsonl", "--summary", "s.json")
    (tmp_path / "run.jsonl").write_text(stream)
    summary = json.loads((tmp_path / "s.json").read_text())
    # with the program: the same figures (a stream does not say the run's window)
    code, out, _ = goal("report", example, "--from-run", "run.jsonl", "--format", "json")
    assert code == 0 and json.loads(out) == without_window(summary)
    # without it: what the stream alone says (steps by number, goals as achieved)
    code, out, _ = goal("report", "--from-run", "run.jsonl", "--format", "json")
    alone = json.loads(out)["workflows"][0]
    w = summary["workflows"][0]
    assert [s["reached"] for s in alone["steps"]] == [s["reached"] for s in w["steps"]]
    assert alone["steps"][0]["label"] == "step 1" and alone["goals"][0]["kind"] is None
    assert (alone["enrolled"], alone["exits"]) == (w["enrolled"], w["exits"])
    # a state file
    assert goal("run", example, "--format", "jsonl", "--state", "run.db")[0] == 0
    code, out, _ = goal("report", example, "--from-run", "run.db", "--format", "json")
    assert code == 0 and json.loads(out) == summary


def test_bad_arguments_and_bad_files(goal, example, tmp_path):
    code, _, err = goal("report", "--from-run", "run.jsonl", "--events", "x.jsonl")
    assert code == 2 and "--events does not go with --from-run" in err
    code, _, err = goal("report", "--format", "json")
    assert code == 2 and "give a PROGRAM" in err
    code, _, err = goal("report", "--from-run", "nothing.jsonl")
    assert code == 2 and "no such file: nothing.jsonl" in err
    (tmp_path / "bad.jsonl").write_text('{"time": "2026-11-01T00:00:00Z", "contact": "c1"}\n')
    code, _, err = goal("report", "--from-run", "bad.jsonl", "--format", "json")
    assert code == 1 and err == "goal report: bad.jsonl:1: no 'type'\n"
    (tmp_path / "bad.jsonl").write_text("{oops\n")
    code, _, err = goal("report", "--from-run", "bad.jsonl", "--format", "json")
    assert code == 1 and "bad.jsonl:1: not an activity entry of goal run --format jsonl" in err


class Page(HTMLParser):
    """What the report page holds: tags, external references, charts, and
    the text of every element with a data-key."""

    def __init__(self):
        super().__init__()
        self.tags: list[str] = []
        self.refs: list[str] = []
        self.charts: list[str] = []
        self.svgs = 0
        self.keyed: list[tuple[list, str]] = []
        self._key = None
        self._text = ""

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.append(tag)
        for name in ("src", "href", "xlink:href", "action"):
            if name in a and not a[name].startswith("#"):
                self.refs.append(a[name])
        if tag == "figure":
            self.charts.append(a["id"])
        if tag == "svg":
            self.svgs += 1
        if "data-key" in a:
            self._key, self._text = json.loads(a["data-key"]), ""

    def handle_data(self, data):
        if self._key is not None:
            self._text += data

    def handle_endtag(self, tag):
        if self._key is not None and tag in ("td", "dd"):
            self.keyed.append((self._key, self._text))
            self._key = None


def figure_at(figures, key):
    for k in key:
        figures = figures[k]
    return figures


def shown_value(key: list, text: str):
    """The number a cell shows, read back from its text."""
    if text == "-":
        return None
    if text.endswith("%"):
        return float(text[:-1])
    if re.fullmatch(r"(\d+d)?( ?\d+h)?( ?\d+m)?", text):
        units = {"d": 86400, "h": 3600, "m": 60}
        return sum(int(n) * units[u] for n, u in re.findall(r"(\d+)([dhm])", text))
    return int(text.replace(",", ""))


def expected_value(key: list, v):
    if v is None:
        return None
    if "conversion" in key:
        return round(100 * v, 1)
    if "time_to_goal" in key and key[-1] != "count":
        return int(v) // 60 * 60
    return v


def check_page(html_text: str, figures: dict) -> Page:
    page = Page()
    page.feed(html_text)
    assert not {"script", "link", "img", "iframe", "object", "embed"} & set(page.tags)  # nothing to fetch
    assert page.refs == []
    assert page.svgs == len(page.charts) > 0
    assert len(page.keyed) > 20
    for key, text in page.keyed:
        assert shown_value(key, text) == expected_value(key, figure_at(figures, key)), (key, text)
    return page


def test_the_page_is_self_contained_and_says_what_the_json_says(goal, example, tmp_path):
    code, _, err = goal("report", example, "--out", "r.html")
    assert code == 0 and err == "wrote r.html\n"
    figures = json.loads(goal("report", example, "--format", "json")[1])
    page = check_page((tmp_path / "r.html").read_text(), figures)
    # one workflow with goal steps: every kind of chart
    assert page.charts == ["w1-funnel", "w1-cohorts", "w1-time-to-goal", "w1-exits", "w1-goal-order",
                           "w1-goal-steps"]
    # the same page for the same figures
    assert goal("report", example, "--out", "again.html")[0] == 0
    assert (tmp_path / "again.html").read_text() == (tmp_path / "r.html").read_text()


def test_every_example_makes_a_page(goal, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for ex in sorted((ROOT / "examples").iterdir()):
        if not (ex / "program.goal").exists():
            continue
        code, _, err = goal("report", ex, "--out", f"{ex.name}.html")
        assert code == 0, err
        figures = json.loads(goal("report", ex, "--format", "json")[1])
        check_page((tmp_path / f"{ex.name}.html").read_text(), figures)


def test_chart_images_for_slides(goal, example, tmp_path):
    code, _, err = goal("report", example, "--format", "json", "--out", "f.json", "--png", "png")
    assert code == 0 and "wrote 6 charts to png" in err
    pngs = sorted((tmp_path / "png").iterdir())
    assert [p.name for p in pngs][:2] == ["w1-cohorts.png", "w1-exits.png"] and len(pngs) == 6
    assert all(p.read_bytes().startswith(b"\x89PNG\r\n\x1a\n") for p in pngs)
    code, _, err = goal("report", example, "--svg", "svg", "--out", "r.html")
    svgs = sorted((tmp_path / "svg").iterdir())
    assert code == 0 and len(svgs) == 6
    assert all(p.read_text().startswith("<?xml") and "<svg" in p.read_text() for p in svgs)
    with pytest.raises(SystemExit) as stop:  # argparse: one or the other
        goal("report", example, "--png", "a", "--svg", "b")
    assert stop.value.code == 2


def test_labels_are_text_whatever_they_hold(goal, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "p").mkdir()
    (tmp_path / "p/program.goal").write_text('''
workflow "Deals <&> $5 off $10" {
    enroll when form.submitted
    send_email("save $5 on $10 <b>now</b>")
    wait 1 day
    goals { goal "Bought & \\"paid\\"" { when purchase.completed } }
}
''')
    (tmp_path / "p/events.jsonl").write_text(
        '{"time": "2026-11-02T10:00:00Z", "contact": "c1", "type": "form.submitted", "form": "f"}\n'
        '{"time": "2026-11-02T11:00:00Z", "contact": "c1", "type": "purchase.completed", "amount": 5}\n')
    code, _, err = goal("report", "p", "--out", "r.html")
    assert code == 0, err
    text = (tmp_path / "r.html").read_text()
    figures = json.loads(goal("report", "p", "--format", "json")[1])
    check_page(text, figures)
    assert "save $5 on $10 &lt;b&gt;now&lt;/b&gt;" in text and "<b>now</b>" not in text


def test_the_drawing_worker_draws_what_this_process_draws(goal, example):
    from goaldsl.tools.charts import Painter, charts_of
    charts = charts_of(json.loads(goal("report", example, "--format", "json")[1]))
    with Painter() as painter:
        assert painter.proc is not None  # a worker process (and its forked copy) drew them
        drawn = painter.render(charts)
        pngs = painter.render(charts[:3], "png")
    assert painter.proc is None  # closed with the block
    assert drawn == [c.svg() for c in charts] and len(drawn) == 6
    assert [p[:8] for p in pngs] == [b"\x89PNG\r\n\x1a\n"] * 3
