"""Bad input, tried systematically: every input ends in diagnostics, never a
traceback or a hang.

Each class of input is driven through the public API (parse, load, check,
load_program, read_inputs, the engine) and through the ``goal`` command
line: in process for every input, as a subprocess for a sample. For each
input the tests assert that

* no exception escapes (the CLI's exit code is 0, 1 or 2, never 70),
* nothing is slow enough to look like a hang (``HANG_SECONDS``),
* every error has a position and renders as ``FILE:LINE:COL: error[...]``
  (program errors) or ``FILE:LINE: message`` (bad input lines).

The figures (inputs tried, tracebacks) are printed (run pytest with ``-s``),
recorded with ``record_property`` and shown in the terminal summary.
"""
from __future__ import annotations

import contextlib
import gc
import io
import json
import random
import re
import resource
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from goaldsl import cli
from goaldsl.api import GoalError, engine_for, load_program, read_inputs
from goaldsl.semantics.checker import check
from goaldsl.syntax.formatter import format_module
from goaldsl.semantics.loader import load
from goaldsl.syntax.parser import keywords, parse_condition
from strategies import conds, modules

ROOT = Path(__file__).resolve().parent.parent
HANG_SECONDS = 10.0  # CPU seconds: a busy machine makes the wall clock run on, not the CPU time


def cpu_seconds() -> float:
    """CPU time of this process and of the subprocesses it has waited for
    (a hang that waits without computing is caught by the subprocesses' timeouts)."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime
DEEP = 10_000
MB = 1_000_000

DIAG_LINE = re.compile(r"^(?P<file>.+?):(?P<line>\d+):(?P<col>\d+): (?:error|warning)\[E\d{4}\]: \S")
BAD_LINE = re.compile(r"^(?P<file>[^:\n]+):(?P<line>\d+): \S")

# ---------------------------------------------------------------- the figures

FIGURES: dict[str, list[int]] = {}  # class -> [inputs tried, failures]


class _Summary:
    def pytest_terminal_summary(self, terminalreporter):
        if not FIGURES:
            return
        terminalreporter.section("bad input tried (issue 7)")
        for name, (n, bad) in FIGURES.items():
            terminalreporter.write_line(f"fuzz {name}: {n} inputs, {bad} tracebacks or hangs")


@pytest.fixture(scope="session", autouse=True)
def _summary_plugin(request):
    plugin = _Summary()
    request.config.pluginmanager.register(plugin, "goal-fuzz-summary")
    yield


class Tally:
    """Counts the inputs of one class and collects what went wrong."""

    def __init__(self, name: str, record_property):
        self.name, self.n, self.failures = name, 0, []
        self.record_property = record_property

    @contextlib.contextmanager
    def one(self, what, inputs: int = 1):
        """Run one input (or a file of ``inputs`` inputs, or 0 for another
        look at inputs already counted)."""
        self.n += inputs
        t0 = cpu_seconds()
        try:
            yield
        except AssertionError as e:
            self.failures.append(f"{_short(what)}: {e}")
        except BaseException as e:  # the point: nothing may escape
            self.failures.append(f"{_short(what)}: {type(e).__name__}: {_short(str(e))}")
        took = cpu_seconds() - t0
        if took > HANG_SECONDS:
            self.failures.append(f"{_short(what)}: took {took:.1f}s")

    def done(self):
        FIGURES[self.name] = [FIGURES.get(self.name, [0, 0])[0] + self.n,
                              FIGURES.get(self.name, [0, 0])[1] + len(self.failures)]
        self.record_property(f"fuzz {self.name} inputs", self.n)
        self.record_property(f"fuzz {self.name} tracebacks", len(self.failures))
        print(f"\nfuzz {self.name}: {self.n} inputs, {len(self.failures)} tracebacks or hangs")
        assert self.n > 0
        assert not self.failures, "\n".join(self.failures[:20])


@pytest.fixture
def tally(record_property):
    return lambda name: Tally(name, record_property)


def _short(x) -> str:
    s = repr(x) if not isinstance(x, str) else x
    return s if len(s) <= 160 else s[:120] + f"... ({len(s):,} chars)"


# ---------------------------------------------------------------- checking one program input

def assert_good_diagnostics(diags, sources):
    """Every error has a position inside its file and renders FILE:LINE:COL."""
    lines = {name: text.count("\n") + 1 for name, text in sources.items()}
    for d in diags:
        rendered = d.render(sources)
        if not d.is_error:
            continue
        assert d.span is not None, f"error without a position: {rendered}"
        assert d.span.line >= 1 and d.span.col >= 1, rendered
        if d.span.file in lines:
            assert d.span.line <= lines[d.span.file], f"line past the end of the file: {rendered[:300]}"
        first = rendered.split("\n", 1)[0]
        assert DIAG_LINE.match(first), f"not FILE:LINE:COL: {first[:200]}"


def check_program_file(path: Path) -> int:
    """Load, check, compile and plan a file through the API (what `goal run`
    does before reading input); return the number of errors."""
    try:
        program = load_program(path)
    except GoalError as e:
        assert e.diagnostics and any(d.is_error for d in e.diagnostics)
        assert_good_diagnostics(e.diagnostics, e.sources)
        return sum(d.is_error for d in e.diagnostics)
    assert_good_diagnostics(program.diagnostics, program.sources)
    return 0


def run_cli(argv) -> tuple[int, str, str]:
    """``goal ARGV`` in this process: exit code, stdout, stderr."""
    out, err = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                rc = cli.main(argv)
            except SystemExit as e:  # argparse
                rc = e.code if isinstance(e.code, int) else 2
    finally:
        gc.enable()  # `goal run` turns the cyclic collector off for its run
    return rc, out.getvalue(), err.getvalue()


def assert_cli_check_ok(rc, out, err, n_errors=None):
    assert rc in (0, 1, 2), f"exit code {rc}: {err[-500:]}"
    assert "Traceback" not in out + err and "internal error" not in err, err[-500:]
    if n_errors is not None:
        assert rc == (1 if n_errors else 0), (rc, n_errors)
    for line in out.splitlines():
        if "error[" in line and not line.startswith((" ", "\t")):
            assert DIAG_LINE.match(line), f"not FILE:LINE:COL: {line[:200]}"


def check_everywhere(path: Path, *, cli_too: bool = True) -> None:
    n = check_program_file(path)
    if cli_too:
        assert_cli_check_ok(*run_cli(["check", str(path)]), n_errors=n)
        # `goal run` too: refused with the same diagnostics, or run for a day.
        rc, out, err = run_cli(["run", str(path), "--from", "2026-11-16T00:00:00Z", "--until",
                                "2026-11-17T00:00:00Z", "--format", "jsonl"])
        assert_cli_check_ok(rc, out if n else "", err, n_errors=n)


def goal_subprocess(args, cwd, timeout=60):
    return subprocess.run([sys.executable, "-m", "goaldsl", *args], cwd=cwd, capture_output=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


def assert_subprocess_ok(proc, *, program=True):
    out = proc.stdout.decode("utf-8", "replace")
    err = proc.stderr.decode("utf-8", "replace")
    assert proc.returncode in (0, 1, 2), f"exit code {proc.returncode}: {err[-500:]}"
    assert "Traceback" not in out + err, err[-500:]
    if program:
        for line in out.splitlines():
            if "error[" in line and not line.startswith((" ", "\t")):
                assert DIAG_LINE.match(line), f"not FILE:LINE:COL: {line[:200]}"


def sample_through_subprocess(paths, tally_, cwd, args_for=lambda p: ["check", str(p)], program=True):
    # Inputs already counted: another look through the real command.
    """A sample of inputs through the real command, two at a time."""
    def one(p):
        return p, goal_subprocess(args_for(p), cwd)

    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(one, paths))
    for p, proc in results:
        with tally_.one(f"subprocess {p.name}", inputs=0):
            assert_subprocess_ok(proc, program=program)


@pytest.fixture
def work(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _write(folder: Path, name: str, content) -> Path:
    p = folder / name
    if isinstance(content, bytes):
        p.write_bytes(content)
    else:
        p.write_bytes(content.encode("utf-8", "surrogatepass"))
    return p


# ---------------------------------------------------------------- 1. from the AST side (hypothesis)

KW = sorted(keywords())
PUNCT = ["(", ")", "{", "}", "[", "]", ",", ":", ".", "=", "==", "!=", "<", "<=", ">", ">=", "?", "...",
         '"', "#", "\\", "-", "@", "$", "'", ";"]
SNIPPETS = ['"text"', '"unterminated', "42", "-3", "12.5", "2026-11-16T14:00", "2026-02-30T10:00", "09:00",
            "99:99", "7 days", "0 minutes", "contact.x", "contact.company.size", "email.opened",
            "page.visited(url == \"/p\")", "send_email(\"x\")", "at least 3 times", "within 14 days",
            "since enrollment", "ever", "s", "é", "_", "x1", "\n", "\t", "#c\n", "{contact.email}"]

_mut_tokens = st.sampled_from(KW + PUNCT + SNIPPETS)


@st.composite
def mutated_programs(draw):
    """A printed generated AST, then cut, spliced or shuffled."""
    text = format_module(draw(modules))
    for _ in range(draw(st.integers(0, 3))):
        op = draw(st.sampled_from(["delete", "insert", "truncate", "dup-line", "swap-lines"]))
        n = len(text)
        if op == "delete" and n:
            i = draw(st.integers(0, n - 1))
            text = text[:i] + text[i + draw(st.integers(1, 12)):]
        elif op == "insert":
            i = draw(st.integers(0, n))
            text = text[:i] + " " + draw(_mut_tokens) + " " + text[i:]
        elif op == "truncate" and n:
            text = text[:draw(st.integers(0, n - 1))]
        elif op in ("dup-line", "swap-lines"):
            lines = text.split("\n")
            i, j = draw(st.integers(0, len(lines) - 1)), draw(st.integers(0, len(lines) - 1))
            if op == "dup-line":
                lines.insert(j, lines[i])
            else:
                lines[i], lines[j] = lines[j], lines[i]
            text = "\n".join(lines)
    return text


def test_generated_programs_check_without_tracebacks(tally, tmp_path_factory):
    t = tally("generated ASTs")
    folder = tmp_path_factory.mktemp("gen")
    counter = iter(range(10**9))

    @settings(max_examples=60, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(modules)
    def prop(module):
        text = format_module(module)
        with t.one(text):
            check_everywhere(_write(folder, f"g{next(counter)}.goal", text), cli_too=False)

    prop()
    t.done()


def test_mutated_programs_check_without_tracebacks(tally, tmp_path_factory):
    t = tally("mutated ASTs")
    folder = tmp_path_factory.mktemp("mut")
    counter = iter(range(10**9))
    kept: list[Path] = []

    @settings(max_examples=60, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(mutated_programs())
    def prop(text):
        i = next(counter)
        p = _write(folder, f"m{i}.goal", text)
        with t.one(text):
            check_everywhere(p, cli_too=(i % 10 == 0))
        if i % 15 == 0:
            kept.append(p)

    prop()
    sample_through_subprocess(kept[:4], t, folder)
    t.done()


@settings(max_examples=100, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(conds)
def test_conditions_at_eval(cond):
    # `goal eval` and the REPL parse a lone condition: printed generated
    # conditions, cut at a random point, parse or give positioned errors.
    from goaldsl.syntax import ast as A
    text = format_module(A.Module("c.goal", (A.SegmentDef(A.Ident("s"), cond),))).split("=", 1)[1].strip()
    for cut in (text, text[: len(text) // 2]):
        res, diags = parse_condition(cut, "<condition>")
        for d in diags:
            if d.is_error:
                assert d.span is not None and d.span.line >= 1 and d.span.col >= 1


# ---------------------------------------------------------------- 2. random bytes and token soups

def _random_bytes(rng: random.Random) -> bytes:
    kind = rng.randrange(4)
    n = rng.randrange(0, 400)
    if kind == 0:  # anything
        return bytes(rng.randrange(256) for _ in range(n))
    if kind == 1:  # mostly ASCII source characters, some high bytes
        alphabet = b'abcdefghijklmnopqrstuvwxyz_.,:(){}[]"#=<>!?0123456789 \n\t\r-'
        return bytes(rng.choice(alphabet) if rng.random() < 0.95 else rng.randrange(128, 256) for _ in range(n))
    if kind == 2:  # a valid program with a few bytes flipped
        base = bytearray(_VALID.encode())
        for _ in range(rng.randrange(1, 6)):
            base[rng.randrange(len(base))] = rng.randrange(256)
        return bytes(base)
    # valid UTF-8 of random code points (no surrogates)
    cps = [rng.choice([rng.randrange(32, 127), rng.randrange(0x80, 0xD800), rng.randrange(0xE000, 0x110000)])
           for _ in range(n // 4)]
    return "".join(map(chr, cps)).encode()


_VALID = '''import "common.goal"
segment hot = contact.lead_score >= 80 and page.visited(url starts with "/pricing") within 14 days
workflow "Demo" {
    evaluate every 5 minutes
    timezone "America/New_York"
    audience hot or contact.country in ["US", "CA"]
    send_email("welcome") as welcome
    wait 2 days
    if contact.company.size >= 500 { add_tag("big") } else { end }
    goal "Booked" {
        when appointment.status_changed(status == confirmed) within 7 days
        then { notify(to: "s@x.com", message: "{contact.email}") }
        on unmet wait up to 3 days then continue
    }
    goals { goal "Out" { when email.unsubscribed } }
}
'''


def test_random_bytes(tally, work):
    t = tally("random bytes")
    rng = random.Random(7)
    _write(work, "common.goal", "segment c = contact.x == 1\n")
    sample = []
    for i in range(250):
        data = _random_bytes(rng)
        p = _write(work, f"b{i}.goal", data)
        with t.one(data):
            check_everywhere(p, cli_too=(i % 10 == 0))
        if i % 75 == 0:
            sample.append(p)
    sample_through_subprocess(sample, t, work)
    t.done()


def _soup(rng: random.Random) -> str:
    pool = KW + PUNCT + SNIPPETS
    parts = []
    if rng.random() < 0.5:  # inside a workflow, to reach deeper grammar states
        parts.append('workflow "W" { audience contact.x == 1')
    for _ in range(rng.randrange(1, 60)):
        parts.append(rng.choice(pool))
    if parts[0].startswith("workflow") and rng.random() < 0.7:
        parts.append("}")
    return "".join(p + rng.choice([" ", " ", "\n", "\t", ""]) for p in parts)


def test_token_soups(tally, work):
    t = tally("token soups")
    rng = random.Random(11)
    sample = []
    for i in range(400):
        text = _soup(rng)
        p = _write(work, f"s{i}.goal", text)
        with t.one(text):
            check_everywhere(p, cli_too=(i % 20 == 0))
        if i % 150 == 0:
            sample.append(p)
    sample_through_subprocess(sample, t, work)
    t.done()


# ---------------------------------------------------------------- 3. deep nesting (10^4)

_WF = 'workflow "W" {\n    audience contact.x == 1\n'

DEEP_INPUTS = {
    "parentheses": "segment s = " + "(" * DEEP + "contact.x == 1" + ")" * DEEP + "\n",
    "open-parentheses": "segment s = " + "(" * DEEP + "\n",
    "close-parentheses": "segment s = contact.x == 1" + ")" * DEEP + "\n",
    "not": "segment s = " + "not " * DEEP + "contact.x == 1\n",
    "not-paren": "segment s = " + "not (" * DEEP + "contact.x == 1" + ")" * DEEP + "\n",
    "and-chain": "segment s = " + " and ".join(["contact.x == 1"] * DEEP) + "\n",
    "or-chain": "segment s = " + " or ".join(["email.opened"] * DEEP) + "\n",
    "and-or-not-mixed": "segment s = " + " ".join(f"not contact.x == {i} {'and' if i % 2 else 'or'}"
                                                   for i in range(DEEP)) + " contact.y == 2\n",
    "filter-chain": "segment s = page.visited(" + ", ".join(f'url == "/{i}"' for i in range(DEEP)) + ")\n",
    "nested-filters": "segment s = " + "page.visited(" * DEEP + ")" * DEEP + "\n",
    "if-blocks": _WF + "if contact.y == 1 { " * DEEP + "end" + " }" * DEEP + "\n}\n",
    "else-if-chain": _WF + "if contact.y == 0 { end }" + "".join(f" else if contact.y == {i} {{ end }}"
                                                              for i in range(1, DEEP)) + " else { end }\n}\n",
    "goals": _WF + 'goal "g" { ' * DEEP + "}" * DEEP + "\n}\n",
    # Many rather than deep: 2,000 is enough to show nothing is quadratic.
    "goal-steps": _WF + "".join(f'goal "g{i}" {{ when email.opened }}\n' for i in range(2000)) + "}\n",
    "exit-goals": _WF + "goals {\n" + "".join(f'goal "g{i}" {{ when contact.x == {i} }}\n'
                                              for i in range(2000)) + "}\n}\n",
    "workflows": "".join(f'workflow "W{i}" {{ audience contact.x == {i} }}\n' for i in range(2000)),
    "unknown-names": "".join(f"segment s{i} = t{i} or sx{i} or email.opend\n" for i in range(3000)),
    "lists": "segment s = contact.x in " + "[" * DEEP + "1" + "]" * DEEP + "\n",
    "maps": _WF + 'webhook("u", payload: ' + "{a: " * DEEP + "1" + "}" * DEEP + ")\n}\n",
    "segment-chain": "".join(f"segment s{i} = s{i + 1}\n" for i in range(DEEP)) + f"segment s{DEEP} = contact.x == 1\n"
                     + 'workflow "W" { audience s0 }\n',
    "segment-cycle": "".join(f"segment s{i} = s{i + 1}\n" for i in range(DEEP)) + f"segment s{DEEP} = s0\n",
    "skip-chain": _WF + "".join(f"skip to s{i}\nsend_email(\"x\") as s{i}\n" for i in range(2000)) + "}\n",
    "steps": _WF + 'send_email("x")\n' * 2000 + "}\n",
    "braces-only": "{" * DEEP,
    "closing-braces": "}" * DEEP,
    "quotes": '"' * DEEP,
    "comment-lines": "#\n" * DEEP + "segment s = contact.x == 1\n",
}


def test_deep_nesting(tally, work):
    t = tally("deep nesting")
    for name, text in DEEP_INPUTS.items():
        p = _write(work, f"{name}.goal", text)
        with t.one(name):
            check_everywhere(p, cli_too=len(text) < 100_000)
    sample_through_subprocess([work / "parentheses.goal", work / "not.goal", work / "goals.goal",
                               work / "segment-chain.goal"], t, work)
    t.done()


def test_deep_conditions_at_eval(tally):
    t = tally("deep conditions at eval")
    for name, text in DEEP_INPUTS.items():
        if text.startswith("segment s = ") and len(text) < 100_000:
            cond = text[len("segment s = "):].split("\n", 1)[0]
            with t.one(name):
                _, diags = parse_condition(cond, "<condition>")
                for d in diags:
                    assert d.span is not None and d.span.line == 1
    t.done()


def test_import_chain(tally, work):
    # Each file imports the next: no recursion limit on the way.
    t = tally("import chain")
    n = 1200  # past the default recursion limit of 1,000
    for i in range(n):
        _write(work, f"f{i}.goal", f'import "f{i + 1}.goal"\nsegment s{i} = contact.x == {i}\n')
    _write(work, f"f{n}.goal", 'import "f0.goal"\n')  # and back: a cycle
    with t.one("chain with a cycle"):
        loaded = load([work / "f0.goal"])
        d = [x for x in loaded.diagnostics if x.is_error]
        assert len(d) == 1 and d[0].code == "E0103", d
        assert len(d[0].summary) < 400
    _write(work, f"f{n}.goal", "segment last = contact.x == 0\n")
    with t.one("chain"):
        assert check_program_file(work / "f0.goal") == 0
    t.done()


# ---------------------------------------------------------------- 4. big values

_BIG = "a" * MB
_DIGITS = "9" * 5000
BIG_INPUTS = {
    "string-compare": f'segment s = contact.note == "{_BIG}"\n',
    "string-arg": _WF + f'    send_email("{_BIG}")\n}}\n',
    "string-interpolated": _WF + '    notify(to: "x", message: "' + "{contact.email}" * (MB // 16) + '")\n}\n',
    "workflow-name": f'workflow "{_BIG}" {{ audience contact.x == 1 }}\n',
    "goal-name": _WF + f'goal "{_BIG}" {{ when email.opened }}\n}}\n',
    "timezone": f'workflow "W" {{ timezone "{_BIG}"\n audience contact.x == 1 }}\n',
    "import-path": f'import "{_BIG}"\n',
    "import-deep-path": 'import "' + "a/" * (MB // 2) + 'x.goal"\n',
    "skip-target": _WF + f'skip to "{_BIG}"\n}}\n',
    "unterminated-string": f'segment s = contact.note == "{_BIG}\n',
    "identifier": f"segment {_BIG} = contact.x == 1\n",
    "ref": f"segment s = contact.{_BIG} == 1\n",
    "event-type": f"segment s = {_BIG}.opened\n",
    "comment": f"# {_BIG}\nsegment s = contact.x == 1\n",
    "whitespace": " " * MB + "segment s = contact.x == 1\n",
    "newlines": "\n" * MB + "segment s = contact.x ==\n",
    "escapes": 'segment s = contact.x == "' + "\\q" * (MB // 2) + '"\n',
    "big-int": f"segment s = contact.x == {_DIGITS}\n",
    "big-negative": f"segment s = contact.x == -{_DIGITS}\n",
    "big-float": f"segment s = contact.x == {_DIGITS}.{_DIGITS}\n",
    "long-fraction": f"segment s = contact.x == 0.{_DIGITS}\n",
    "big-count": f"segment s = email.opened at least {_DIGITS} times\n",
    "big-exact-count": f"segment s = email.opened exactly {_DIGITS} times\n",
    "big-window": f"segment s = email.opened within {_DIGITS} days\n",
    "big-wait": _WF + f"    wait {_DIGITS} months\n}}\n",
    "many-units": _WF + "    wait " + "1 minute " * 10_000 + "\n}\n",
    "every-huge": f'workflow "W" {{ evaluate every {_DIGITS} minutes\n audience contact.x == 1 }}\n',
    "every-zero": 'workflow "W" { evaluate every 0 minutes\n audience contact.x == 1 }\n',
    "wait-limit": _WF + f"    wait until email.opened up to {_DIGITS} weeks\n}}\n",
    "unmet-limit": _WF + f'goal "g" {{ when email.opened\n on unmet wait up to {_DIGITS} days then end }}\n}}\n',
    "time-of-day": _WF + "    wait until 99:99\n}\n",
    "weekday-time": _WF + "    wait until monday 24:00\n}\n",
    "datetime-past-9999": _WF + "    wait until 9999-12-31T23:59:59-12:00\n}\n",
    "datetime-year-0": 'workflow "W" { runs once at 0000-01-01T00:00\n audience contact.x == 1 }\n',
    "datetime-invalid": 'workflow "W" { runs once at 2026-02-30T25:61\n audience contact.x == 1 }\n',
    "datetime-offset": 'workflow "W" { runs once at 2026-01-01T00:00+99:99\n audience contact.x == 1 }\n',
    "big-list": "segment s = contact.x in [" + ", ".join(map(str, range(20_000))) + "]\n",
    "big-map": _WF + 'webhook("u", payload: {' + ", ".join(f"k{i}: {i}" for i in range(10_000)) + "})\n}\n",
    "many-args": _WF + "update_contact(" + ", ".join(f"f{i}: {i}" for i in range(10_000)) + ")\n}\n",
    "over-size": "#" + "x" * (3 * MB) + "\n",
}


def test_big_values(tally, work):
    t = tally("big values")
    for name, text in BIG_INPUTS.items():
        p = _write(work, f"{name}.goal", text)
        with t.one(name):
            check_everywhere(p, cli_too=len(text) < 100_000)
    sample_through_subprocess([work / "big-int.goal", work / "string-compare.goal", work / "big-count.goal",
                               work / "import-deep-path.goal"], t, work)
    t.done()


# ---------------------------------------------------------------- 5. encodings and odd characters

_OK = 'segment s = contact.x == "é"\nworkflow "W" {\n    audience s\n    send_email("x")\n}\n'
ENCODING_INPUTS = {
    "nul-start": b"\x00" + _OK.encode(),
    "nul-middle": _OK.encode().replace(b"audience", b"aud\x00ience"),
    "nul-in-string": _OK.encode().replace(b'"x"', b'"\x00"'),
    "nul-in-comment": b"# \x00\n" + _OK.encode(),
    "nul-only": b"\x00" * 1000,
    "lone-continuation": _OK.encode().replace(b"audience", b"aud\x80ience"),
    "latin-1": _OK.encode().replace("é".encode(), b"\xe9"),
    "overlong": b"segment s = contact.x == \"\xc0\xaf\"\n",
    "encoded-surrogate": b"segment s = contact.x == \"\xed\xa0\x80\"\n",
    "truncated-multibyte-at-end": _OK.encode() + b"\xe2\x82",
    "invalid-on-line-3": _OK.encode().replace(b"send_email", b"send_\xffmail"),
    "utf-16": _OK.encode("utf-16"),
    "crlf": _OK.replace("\n", "\r\n").encode(),
    "lone-cr": _OK.replace("\n", "\r").encode(),
    "crlf-error": 'workflow "W" {\r\n    audience contact.x ==\r\n}\r\n'.encode(),
    "crlf-in-string": b'segment s = contact.x == "a\r\nb"\r\n',
    "bom": b"\xef\xbb\xbf" + _OK.encode(),
    "bom-crlf": b"\xef\xbb\xbf" + _OK.replace("\n", "\r\n").encode(),
    "bom-error": b"\xef\xbb\xbfsegment s = \n",
    "two-boms": b"\xef\xbb\xbf\xef\xbb\xbf" + _OK.encode(),
    "bom-mid-file": _OK.encode() + "\ufeff".encode() + b"segment t = s\n",
    "tabs": _OK.replace("    ", "\t").replace(" ", "\t").encode(),
    "tab-before-error": b"\t\t\tsegment s = contact.x ==\n",
    "form-feed": _OK.replace("\n", "\n\x0c").encode(),
    "vertical-tab": _OK.replace(" ", "\x0b", 3).encode(),
    "nbsp": _OK.replace(" ", "\u00a0", 3).encode(),
    "zero-width": _OK.replace("audience", "aud\u200bience").encode(),
    "rtl-override": _OK.replace('"x"', '"\u202ex"').encode(),
    "line-separator": _OK.replace("\n", "\u2028").encode(),
    "nel": _OK.replace("\n", "\x85").encode(),
    "non-ascii-name": "segment café = contact.x == 1\n".encode(),
    "emoji-string": 'segment s = contact.x == "🎯🎯"\nsegment t = contact.y ==\n'.encode(),
    "emoji-name": "segment 🎯 = contact.x == 1\n".encode(),
    "control-chars": bytes(range(1, 32)) + b"\n" + _OK.encode(),
    "del-char": _OK.encode().replace(b"audience", b"aud\x7fience"),
    "empty": b"",
    "only-newlines": b"\n" * 10,
    "only-bom": b"\xef\xbb\xbf",
}


def test_encodings(tally, work):
    t = tally("encodings")
    for name, data in ENCODING_INPUTS.items():
        p = _write(work, f"{name}.goal", data)
        with t.one(name):
            check_everywhere(p)
    sample_through_subprocess([work / f"{n}.goal" for n in ("nul-middle", "latin-1", "crlf-error", "bom",
                                                             "utf-16", "emoji-string")], t, work)
    t.done()


def test_encodings_give_the_right_position(work):
    # Not only no traceback: the position is the one a user looks for.
    def first_error(name):
        p = _write(work, f"{name}.goal", ENCODING_INPUTS[name])
        return next(d for d in check(load([p])).diagnostics if d.is_error)

    d = first_error("nul-middle")
    assert (d.code, d.span.line, d.span.col) == ("E0005", 3, 8)
    d = first_error("invalid-on-line-3")
    assert (d.code, d.span.line, d.span.col) == ("E0102", 4, 10)
    d = first_error("crlf-error")
    assert (d.code, d.span.line) == ("E0001", 3)
    d = first_error("bom-error")  # the mark is not a character of the line
    assert (d.code, d.span.line, d.span.col) == ("E0001", 2, 1)
    d = first_error("tab-before-error")
    assert (d.span.line, d.span.col) == (2, 1)
    d = first_error("emoji-string")
    assert (d.span.line, d.span.col) == (3, 1)
    for ok in ("crlf", "bom", "bom-crlf", "tabs", "form-feed", "lone-cr"):
        p = _write(work, f"{ok}.goal", ENCODING_INPUTS[ok])
        assert [d for d in check(load([p])).diagnostics if d.is_error] == [], ok


# ---------------------------------------------------------------- 6. the JSON Lines readers

_PROGRAM = '''segment engaged = email.opened at least 2 times within 30 days
workflow "Fuzz" {
    evaluate on event
    audience contact.lead_score >= 50 or contact.country in ["US", "CA"] or "vip" in contact.tags
    send_email("hi {contact.first_name} at {contact.company.name}") as hi
    if contact.email ends with "@acme.com" and contact.phone is set { add_tag("acme") }
    update_contact(stage: "lead", score: 3)
    adjust_score(5)
    wait until engaged or page.visited(url contains "pricing") up to 2 days
    send_invoice("inv", amount: 120) as first_invoice
    goal "Paid" {
        when invoice.status_changed(status in [paid, partially_paid], action == first_invoice, amount >= 10)
        then { notify(to: "s@x.com", message: "{contact.email} {contact.company.size} {contact.tags}") }
        then if contact.company.size >= 500 { add_to_list("big") } else { move_to_list("small", from: "all") }
    }
    goals {
        goal "Demo" { when appointment.status_changed(status == confirmed) within 7 days }
        goal "Gone" { when email.unsubscribed or contact.unsubscribed == true }
    }
}
workflow "Trigger" {
    evaluate every 1 hour
    enroll when form.submitted(form starts with "demo") or link.clicked
    allow reentry
    send_review_request(email)
    wait until monday 09:00
    remove_tag("acme")
}
'''

_WEIRD_VALUES = [None, True, False, 0, -1, 1.5, 10**18, -(10**18), 10**30, 1e308, -1e308, "", "x", "é" * 3,
                 "a" * 100_000, [], [1, "a"], ["vip", "b"], {}, {"size": 800}, {"size": "big"}, {"a": {"b": {}}},
                 "2026-11-16T14:00:00Z", "\u0000", "\ud7ff"]
_TIMES = ["2026-11-16T14:00:00Z", "2026-11-16T14:00:00-05:00", "2026-11-16T14:00:00.123456+02:00",
          "2026-11-16T14:00:00", "2026-11-16", "2026-02-30T10:00:00Z", "2026-13-01T00:00:00Z",
          "2026-11-16T24:00:00Z", "2026-11-16T23:59:60Z", "2026-11-16T14:00:00+24:00", "2026-11-16T14:00:00+99:99",
          "0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-23:59", "1899-12-31T23:59:59Z", "9000-01-01T00:00:00Z",
          "20261116T140000Z", "2026-11-16 14:00:00Z", "2026-11-16t14:00:00z", "now", "", "   ", "T", "Z",
          "2026-11-16T14:00:00Z" + "0" * 1000, 1763301600, 1.5, True, None, [], {}]
_TYPES = ["page.visited", "email.opened", "email.clicked", "contact.updated", "tag.added", "tag.removed",
          "list.added", "appointment.status_changed", "invoice.status_changed", "invoice.sent", "form.submitted",
          "link.clicked", "email.unsubscribed", "purchase.completed", "review_request.clicked",
          "goal.achieved", "workflow.enrolled", "workflow.exited", "contact.score_adjusted",
          "page.visit", "PAGE.VISITED", "unknown", "", "x" * 10_000, 42, None, ["page.visited"], {"t": 1}]
_FIELDS = ["url", "email", "link", "fields", "tag", "list", "appointment", "calendar", "status", "invoice",
           "action", "amount", "form", "channel", "goal", "workflow", "reason", "by", "product", "extra"]
_GOOD_FIELD = {"url": "/pricing", "email": "e", "link": "l", "fields": {"lead_score": 90}, "tag": "vip",
               "list": "big", "appointment": "a1", "calendar": "c", "status": "confirmed", "invoice": "inv",
               "action": "first_invoice", "amount": 150, "form": "demo-1", "channel": "email", "goal": "Paid",
               "workflow": "Fuzz", "reason": "goal", "by": 5, "product": "p"}
_STATUSES = ["paid", "confirmed", "new", "payed", 3, None]


def _value(rng):
    return rng.choice(_WEIRD_VALUES)


def _contact_line(rng: random.Random, i: int):
    obj = {}
    for key, good in (("id", f"c{i % 40}"), ("email", f"u{i}@acme.com"), ("lead_score", rng.randrange(100)),
                      ("country", rng.choice(["US", "FR"])), ("company", {"size": rng.randrange(1000), "name": "N"}),
                      ("tags", ["vip"]), ("lists", []), ("phone", "1"), ("first_name", "Ana"),
                      ("unsubscribed", False)):
        r = rng.random()
        if r < 0.6:
            obj[key] = good
        elif r < 0.85:
            obj[key] = _value(rng)
    return obj


def _event_line(rng: random.Random, i: int):
    obj = {}
    if rng.random() < 0.7:
        obj["id"] = rng.choice([f"e{i}", f"e{i // 3}", i, None, True, [], "x" * 1000])
    if rng.random() < 0.95:
        obj["time"] = rng.choice(_TIMES) if rng.random() < 0.4 else \
            f"2026-11-{rng.randrange(10, 20)}T{rng.randrange(24):02d}:{rng.randrange(60):02d}:00Z"
    if rng.random() < 0.95:
        obj["contact"] = f"c{rng.randrange(50)}" if rng.random() < 0.85 else _value(rng)
    if rng.random() < 0.97:
        obj["type"] = rng.choice(_TYPES[:19]) if rng.random() < 0.8 else rng.choice(_TYPES)
    for f in rng.sample(_FIELDS, rng.randrange(0, 5)):
        if f == "status" and rng.random() < 0.7:
            obj[f] = rng.choice(_STATUSES)
        else:
            obj[f] = _GOOD_FIELD.get(f, "x") if rng.random() < 0.7 else _value(rng)
    return obj


_BAD_RAW_LINES = [b"[]", b"[1, 2]", b'"just a string"', b"42", b"null", b"true", b"{", b"}", b"{]",
                  b'{"id": "c1",}', b"{'id': 'c1'}", b'{"id": NaN}', b'{"id": Infinity}', b'{"id": 1e999}',
                  b'{"id": "c1"} trailing', b'{"id": "c1"}{"id": "c2"}', b'{"id": "c\x00"}', b'{"id": "c\xff"}',
                  b"\xff\xfe{}", b"\x00\x00", b'{"id": "\\ud800"}', b'{"a": ' + b"[" * 10_000 + b"]" * 10_000 + b"}",
                  b'{"a": ' + b'{"b": ' * 5000 + b"1" + b"}" * 5000 + b"}", b'{"id": 1' + b"0" * 5000 + b"}",
                  b'{"id": "' + b"x" * 5 * MB + b'"}', b'{"id": "c1", "id": "c2"}', b"\xef\xbb\xbf{\"id\": \"c9\"}",
                  b'{"time": "2026-11-16T14:00:00Z", "contact": "c1", "type": "page.visited", "url": "/", '
                  b'"x": "' + b"y" * 2 * MB + b'"}']


def _jsonl(rng, make, n) -> bytes:
    lines = []
    for i in range(n):
        r = rng.random()
        if r < 0.08:
            lines.append(rng.choice(_BAD_RAW_LINES))
        elif r < 0.1:
            lines.append(rng.choice([b"", b"   ", b"\t", b"\r"]))
        else:
            lines.append(json.dumps(make(rng, i), ensure_ascii=rng.random() < 0.5).encode("utf-8", "surrogatepass"))
    sep = b"\r\n" if rng.random() < 0.2 else b"\n"
    return sep.join(lines) + (sep if rng.random() < 0.8 else b"")


def _assert_bad_lines(bad, names):
    for b in bad:
        assert b.file in names and b.line >= 1, b
        assert BAD_LINE.match(str(b).split("\n", 1)[0]), str(b)[:200]
        assert "\n" not in b.message, b.message[:200]


def _assert_run_stderr(err: str):
    for line in err.splitlines():
        s = line.strip()
        if not s or s.startswith(("skipped ", "ignored ", "... and", "fix the lines")) or "bad input line" in s:
            continue
        if s.startswith("goal run: ") and "internal error" not in s:
            continue  # a command-line problem (exit code 2), such as no events to take the span from
        assert BAD_LINE.match(s), f"not FILE:LINE: {s[:200]}"


def test_jsonl_readers(tally, work):
    t = tally("JSON Lines inputs")
    rng = random.Random(5)
    _write(work, "program.goal", _PROGRAM)
    program = load_program(work / "program.goal")
    lines_tried = 0
    sample = []
    for i in range(60):
        cpath = _write(work, f"contacts{i}.jsonl", _jsonl(rng, _contact_line, rng.randrange(1, 40)))
        epath = _write(work, f"events{i}.jsonl", _jsonl(rng, _event_line, rng.randrange(1, 120)))
        lines = cpath.read_bytes().count(b"\n") + epath.read_bytes().count(b"\n") + 2
        lines_tried += lines
        with t.one(f"inputs {i}", inputs=lines):  # each line is an input
            inputs = read_inputs(program, cpath, epath, skip_bad=True)
            _assert_bad_lines(inputs.bad, {cpath.name, epath.name})
            if inputs.first_time is not None:
                eng = engine_for(program, inputs, start=inputs.first_time)
                eng.run_until(inputs.last_time + 30 * 86400)
            if i % 3 == 0:
                for fmt in ("jsonl", "table"):
                    for extra in ([], ["--skip-bad"]):
                        rc, out, err = run_cli(["run", "program.goal", "--contacts", cpath.name, "--events",
                                                epath.name, "--format", fmt, *extra])
                        assert rc in (0, 1, 2), f"exit code {rc}: {err[-500:]}"
                        assert "Traceback" not in out + err and "internal error" not in err, err[-500:]
                        _assert_run_stderr(err)
        if i % 10 == 0:
            sample.append((cpath, epath))
    # A sample through the real command.
    procs = []
    with ThreadPoolExecutor(max_workers=2) as pool:
        procs = list(pool.map(lambda ce: goal_subprocess(["run", "program.goal", "--contacts", ce[0].name,
                                                          "--events", ce[1].name, "--format", "jsonl"], work),
                              sample))
    for proc in procs:
        with t.one("subprocess run", inputs=0):
            assert_subprocess_ok(proc, program=False)
            _assert_run_stderr(proc.stderr.decode("utf-8", "replace"))
    print(f"\nfuzz JSON Lines inputs: {lines_tried} lines in 60 pairs of files")
    t.done()


@pytest.mark.parametrize("what", ["contacts", "events"])
def test_every_field_missing_or_of_every_wrong_type(tally, work, what):
    """Systematic, not random: each field of a good line removed, and each
    field given each wrong kind of value."""
    t = tally(f"{what} fields")
    _write(work, "program.goal", _PROGRAM)
    program = load_program(work / "program.goal")
    if what == "contacts":
        good = {"id": "c1", "email": "a@acme.com", "lead_score": 70, "country": "US",
                "company": {"size": 800, "name": "A"}, "tags": ["vip"], "lists": [], "phone": "1"}
        goods = [good]
    else:
        goods = [dict({"id": "e1", "time": "2026-11-16T14:00:00Z", "contact": "c1", "type": typ},
                      **{f: _GOOD_FIELD[f] for f in fields})
                 for typ, fields in [("page.visited", ["url"]), ("contact.updated", ["fields"]),
                                     ("invoice.status_changed", ["invoice", "status", "action", "amount"]),
                                     ("appointment.status_changed", ["appointment", "status"]),
                                     ("email.clicked", ["email", "link"]), ("tag.added", ["tag"]),
                                     ("purchase.completed", ["amount", "product"])]]
    variants = []
    for g in goods:
        for k in g:
            variants.append({x: v for x, v in g.items() if x != k})
            for v in _WEIRD_VALUES + _TIMES[:20]:
                variants.append(dict(g, **{k: v}))
    lines = [json.dumps(v, ensure_ascii=False).encode("utf-8", "surrogatepass") for v in variants]
    path = _write(work, f"{what}.jsonl", b"\n".join(lines) + b"\n")
    other = _write(work, "other.jsonl", b"")
    cpath, epath = (path, other) if what == "contacts" else (other, path)
    with t.one(f"{what} file", inputs=len(lines)):  # each line is an input
        inputs = read_inputs(program, cpath, epath, skip_bad=True)
        _assert_bad_lines(inputs.bad, {cpath.name, epath.name})
        start = inputs.first_time if inputs.first_time is not None else 1763301600
        eng = engine_for(program, inputs, start=start)
        eng.run_until(start + 40 * 86400)
    with t.one(f"{what} file, refused", inputs=0):
        try:
            read_inputs(program, cpath, epath)
        except Exception as e:  # InputError, listing every bad line
            assert type(e).__name__ == "InputError", e
            assert len(e.bad) == len(inputs.bad)
    with t.one(f"goal run on the {what} file", inputs=0):
        for extra in ([], ["--skip-bad"]):
            rc, out, err = run_cli(["run", "program.goal", "--contacts", cpath.name, "--events", epath.name,
                                    "--from", "2026-11-16T00:00:00Z", "--until", "2026-12-30T00:00:00Z",
                                    "--format", "jsonl", *extra])
            assert rc in (0, 1, 2) and "Traceback" not in err and "internal error" not in err, err[-800:]
            _assert_run_stderr(err)
    t.done()


def test_jsonl_odd_files(tally, work):
    t = tally("JSON Lines files")
    _write(work, "program.goal", _PROGRAM)
    program = load_program(work / "program.goal")
    good_e = b'{"time": "2026-11-16T14:00:00Z", "contact": "c1", "type": "page.visited", "url": "/"}'
    files = {
        "empty": b"",
        "only-blank-lines": b"\n\n  \n\t\n",
        "bom": b"\xef\xbb\xbf" + good_e + b"\n",
        "crlf": good_e + b"\r\n" + good_e + b"\r\n",
        "no-final-newline": good_e,
        "nul-bytes": b"\x00" * 100 + b"\n" + good_e + b"\n",
        "binary": bytes(range(256)) * 40,
        "utf-16": (good_e.decode() + "\n").encode("utf-16"),
        "one-huge-line": b'{"id": "' + b"x" * 8 * MB + b'"}\n',
        "many-bad-lines": b"x\n" * 20_000,
        "pretty-printed": b'{\n  "id": "c1"\n}\n',
        "concatenated": good_e * 3 + b"\n",
    }
    for name, data in files.items():
        p = _write(work, f"{name}.jsonl", data)
        for role in ("contacts", "events"):
            with t.one(f"{name} as {role}"):
                args = (p, None) if role == "contacts" else (None, p)
                inputs = read_inputs(program, *args, skip_bad=True)
                _assert_bad_lines(inputs.bad, {p.name})
                if role == "events" and inputs.first_time is not None:
                    engine_for(program, inputs, start=inputs.first_time).run_until(inputs.last_time + 86400)
                rc, out, err = run_cli(["run", "program.goal", f"--{role}", p.name, "--from", "2026-11-16T00:00:00Z",
                                        "--until", "2026-11-20T00:00:00Z", "--format", "jsonl"])
                assert rc in (0, 1, 2) and "Traceback" not in err and "internal error" not in err, err[-800:]
                _assert_run_stderr(err)
    procs = []
    with ThreadPoolExecutor(max_workers=2) as pool:
        procs = list(pool.map(lambda n: goal_subprocess(
            ["run", "program.goal", "--events", f"{n}.jsonl", "--from", "2026-11-16T00:00:00Z", "--until",
             "2026-11-20T00:00:00Z", "--format", "jsonl"], work), ["binary", "utf-16", "many-bad-lines", "bom"]))
    for proc in procs:
        with t.one("subprocess run", inputs=0):
            assert_subprocess_ok(proc, program=False)
            _assert_run_stderr(proc.stderr.decode("utf-8", "replace"))
    t.done()


# ---------------------------------------------------------------- 7. times on the command line

CLI_TIMES = ["0001-01-01T00:00:00Z", "1899-12-31T23:59:59Z", "1900-01-01T00:00:00Z", "1970-01-01T00:00:00Z",
             "2026-11-16T00:00:00+23:59", "2026-11-16T00:00:00-23:59", "8999-12-31T23:59:59Z", "9999-12-31T23:59:59Z",
             "2026-02-30T00:00:00Z", "2026-11-16", "2026", "now", "", "T", "2026-11-16T25:00:00Z",
             "2026-11-16T14:00:00+99:99", "9" * 5000]


def test_times_on_the_command_line(tally, work):
    t = tally("command-line times")
    folder = ROOT / "examples" / "booked-a-demo"
    for when in CLI_TIMES:
        for argv in (["run", str(folder), "--from", when, "--format", "jsonl"],
                     ["run", str(folder), "--until", when, "--format", "table"],
                     ["eval", "email.opened within 7 days", str(folder), "--contact", "c1", "--at", when],
                     ["explain", str(folder), "--contact", "c1", "--goal", "Booked a Demo", "--at", when]):
            with t.one(argv):
                rc, out, err = run_cli(argv)
                assert rc in (0, 1, 2), f"exit code {rc}: {err[-500:]}"
                assert "Traceback" not in out + err and "internal error" not in err, err[-500:]
    t.done()


# ---------------------------------------------------------------- what the fuzzing found, pinned down

def _errors_of(work, text):
    p = _write(work, "found.goal", text)
    return [d for d in check(load([p])).diagnostics if d.is_error]


def test_found_numbers_with_thousands_of_digits(work):
    # int() refuses more than 4,300 digits: this was a ValueError.
    (d,) = _errors_of(work, f"segment s = contact.x == {_DIGITS}\n")
    assert (d.code, d.span.line, d.span.col) == ("E0008", 1, 26)
    assert d.summary == f"the number {_DIGITS[:30]} is too large (the limit is 10^15)"
    (d,) = _errors_of(work, f"segment s = email.opened at least {_DIGITS} times\n")
    assert d.summary == f"a count {_DIGITS[:27]}... is over the limit of 1,000,000"
    assert [d.code for d in _errors_of(work, _WF + f"    wait {_DIGITS} days\n}}\n")] == ["E0008", "E0008"]


def test_found_segment_chains_past_the_nesting_limit(work):
    # A chain of 10,000 segments crashed the compiler with a RecursionError.
    def chain(n):
        return "".join(f"segment s{i} = s{i + 1}\n" for i in range(n)) + f"segment s{n} = contact.x == 1\n" \
            + 'workflow "W" { audience s0 }\n'

    assert _errors_of(work, chain(200)) == []
    (d,) = _errors_of(work, chain(201))
    assert (d.code, d.span.line, d.span.col) == ("E0003", 1, 9)
    assert d.summary == "segment s0 is nested 201 levels deep, counting the segments it uses; the limit is 200"
    (d,) = _errors_of(work, chain(DEEP))
    assert d.summary.startswith(f"segment s{DEEP - 201} is nested 201 levels deep")  # where it crosses 200


def test_found_one_unknown_escape_error_per_string(work):
    (d,) = _errors_of(work, 'segment s = contact.x == "a\\qb\\qc\\q"\n')
    assert (d.code, d.span.col, d.summary) == ("E0009", 28, "unknown escape \\q in a string")


def test_found_long_import_paths_refused_before_resolving(work):
    (d,) = _errors_of(work, 'import "' + "a/" * 5000 + 'x.goal"\n')
    assert (d.code, d.summary) == ("E0104", "an import path may be at most 4,096 characters; this one has 10,006")


def test_found_many_unknown_names_among_many_segments(work):
    # Each suggestion compared the name with every segment: hours for this file.
    text = "".join(f"segment s{i} = sx{i}\n" for i in range(5000))
    t0 = cpu_seconds()
    errs = _errors_of(work, text)
    assert cpu_seconds() - t0 < HANG_SECONDS
    assert len(errs) == 5000 and all(e.code == "E0301" for e in errs)
    assert errs[0].hint == 'did you mean "s0"?'  # the first ones still get a suggestion


def test_found_bad_event_lines(work):
    _write(work, "program.goal", _PROGRAM)
    program = load_program(work / "program.goal")
    good = '{"time": "%s", "contact": "c1", "type": "page.visited", "url": "/"}'
    lines = [good % "2026-11-16T14:00:00+01:00", good % "9999-12-31T23:59:59-23:59", good % "1899-12-31T23:59:59Z",
             '{"a": ' + "[" * 10_000 + "]" * 10_000 + "}", good % "8999-12-31T23:59:59+00:00"]
    events = _write(work, "events.jsonl", "\n".join(lines) + "\n")
    inputs = read_inputs(program, None, events, skip_bad=True)
    assert [str(b) for b in inputs.bad] == [
        'events.jsonl:2: "time" 9999-12-31T23:59:59-23:59 is out of range (events must fall between the years 1900 and 8999)',
        'events.jsonl:3: "time" 1899-12-31T23:59:59Z is out of range (events must fall between the years 1900 and 8999)',
        "events.jsonl:4: not valid JSON (nested too deeply)",
    ]
    assert len(inputs.events) == 2
    contacts = _write(work, "contacts.jsonl", '{"id": "c1", "x": ' + "[" * 10_000 + "]" * 10_000 + "}\n")
    inputs = read_inputs(program, contacts, None, skip_bad=True)
    assert [str(b) for b in inputs.bad] == ["contacts.jsonl:1: not valid JSON (nested too deeply)"]


def test_found_command_line_times_out_of_range():
    folder = ROOT / "examples" / "booked-a-demo"
    rc, out, err = run_cli(["run", str(folder), "--from", "0001-01-01T00:00:00Z", "--format", "jsonl"])
    assert (rc, out) == (2, "")
    assert err == "goal run: '0001-01-01T00:00:00Z' is out of range: give a time between the years 1900 and 8999\n"
