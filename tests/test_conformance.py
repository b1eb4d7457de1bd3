"""The conformance suite: every folder of tests/conformance is one case.

The cases are data in the acceptance cases' own format (see
tests/conformance/README.md), so `../shared/acceptance/check tests/conformance`
and this module read the same folders. The comparison rules below are the
checker's, written once here:

* ``run``: `goal run . --format jsonl ARGS` in the case folder must exit 0.
  Entries are grouped by (contact, workflow); each group is compared in
  order with expected.jsonl, only the keys an expected entry has ("args" as a
  subset). Entry types other than enrolled/action/goal_achieved/exited are
  compared only when the expected stream has that type. A (contact,
  workflow) pair the expected stream lacks must not appear at all.
* ``eval``: `goal eval ARGS .` must exit 0 and print the expected first line.
* ``error``: the command runs in the case folder; stdout + stderr must hold
  every ``output_contains`` string and none of ``output_lacks``;
  ``exit_nonzero`` asks for a non-zero exit.

One addition the shared checker does not read: ``"exit_code": N`` in an error
case asks for that exact exit code (the checker then only sees
``exit_nonzero``). Cases that use it still pass the checker.

The command is `goaldsl.cli.main`, called in this process with the case folder
as the working directory (about ten times faster than a process per command,
which matters at a few hundred commands). With ``GOAL`` set, as for the
checker, each command runs as that program in its own process instead:
``GOAL="python -m goaldsl" pytest tests/test_conformance.py``. CI runs the
shared checker over these folders as well, so both ways are exercised.
"""
from __future__ import annotations

import contextlib
import gc
import io
import json
import os
import shlex
import shutil
import subprocess
from collections import OrderedDict
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
CASES = HERE / "conformance"
# The public cases: $SHARED/acceptance/cases, by default ../shared beside the
# repository (as in CI).
SHARED_CASES = Path(os.environ.get("SHARED", HERE.parent.parent / "shared")) / "acceptance" / "cases"
GOAL = shlex.split(os.environ.get("GOAL", ""))
TIMEOUT = 120
CONTRACT_TYPES = {"enrolled", "action", "goal_achieved", "exited"}
KINDS = {"run", "eval", "error"}


def case_dirs() -> list[Path]:
    return sorted(p for p in CASES.iterdir() if (p / "case.json").exists())


def read_case(case: Path) -> dict:
    return json.loads((case / "case.json").read_text(encoding="utf-8"))


def goal(cmd: list[str], cwd: Path) -> tuple[int, str, str]:
    """Run `goal CMD` in the folder cwd: (exit code, stdout, stderr)."""
    if GOAL:
        try:
            p = subprocess.run(GOAL + cmd, cwd=cwd, capture_output=True, text=True,
                               timeout=TIMEOUT, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            return 124, "", f"timed out after {TIMEOUT}s"
        return p.returncode, p.stdout, p.stderr
    from goaldsl.cli import main
    out, err = io.StringIO(), io.StringIO()
    here, gc_was_on = os.getcwd(), gc.isenabled()
    os.chdir(cwd)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(cmd)
            except SystemExit as e:  # argparse's usage errors
                code = 0 if e.code is None else e.code if isinstance(e.code, int) else 1
    finally:
        os.chdir(here)
        if gc_was_on:  # `goal run` turns the collector off for its (short) process
            gc.enable()
    return code, out.getvalue(), err.getvalue()


def json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def by_pair(entries: list[dict]) -> "OrderedDict[tuple, list[dict]]":
    out: OrderedDict = OrderedDict()
    for e in entries:
        out.setdefault((e.get("contact"), e.get("workflow")), []).append(e)
    return out


def project(actual: dict, expected: dict) -> dict:
    """The actual entry seen through the expected one's keys ("args" as a subset)."""
    view = {}
    for k, v in expected.items():
        if k == "args" and isinstance(v, dict) and isinstance(actual.get("args"), dict):
            view[k] = {a: actual["args"].get(a) for a in v}
        else:
            view[k] = actual.get(k)
    return view


def compare_streams(actual: list[dict], expected: list[dict]) -> list[str]:
    known = CONTRACT_TYPES | {e.get("type") for e in expected}
    actual = [e for e in actual if e.get("type") in known]
    problems = []
    got, want = by_pair(actual), by_pair(expected)
    for key, e in want.items():
        a = got.get(key, [])
        if len(a) != len(e) or [project(x, y) for x, y in zip(a, e)] != e:
            lines = [f"{key[0]} in {key[1]!r}:"]
            for i in range(max(len(a), len(e))):
                w = e[i] if i < len(e) else None
                g = project(a[i], e[i]) if i < len(a) and i < len(e) else (a[i] if i < len(a) else None)
                lines.append(f"  {'  ' if w == g else '!!'} want {json.dumps(w)}\n     got  {json.dumps(g)}")
            problems.append("\n".join(lines))
    for key, a in got.items():
        if key not in want:
            problems.append(f"unexpected entries for {key[0]} in {key[1]!r}: {json.dumps(a[:3])}")
    return problems


def check_run(case: Path, spec: dict) -> list[str]:
    code, out, err = goal(["run", ".", "--format", "jsonl", *spec.get("args", [])], case)
    if code != 0:
        return [f"exit {code}: {(err or out).strip()[:800]}"]
    try:
        actual = json_lines(out)
    except json.JSONDecodeError as e:
        return [f"stdout is not JSON Lines: {e}: {out[:300]!r}"]
    expected = json_lines((case / "expected.jsonl").read_text(encoding="utf-8"))
    return compare_streams(actual, expected)


def check_eval(case: Path, spec: dict) -> list[str]:
    problems = []
    for r in spec["runs"]:
        code, out, err = goal(["eval", *r["args"], "."], case)
        first = out.splitlines()[0].strip() if out.strip() else ""
        if code != 0 or first != r["first_line"]:
            problems.append(f"eval {r['args']}: want first line {r['first_line']!r}, got {first!r} "
                            f"(exit {code}) {err.strip()[:300]}")
    return problems


def check_error(case: Path, spec: dict) -> list[str]:
    code, out, err = goal(spec["command"], case)
    text = out + err
    problems = []
    if spec.get("exit_nonzero") and code == 0:
        problems.append("exit 0, want non-zero")
    if "exit_code" in spec and code != spec["exit_code"]:
        problems.append(f"exit {code}, want {spec['exit_code']}")
    problems += [f"output lacks {s!r}" for s in spec.get("output_contains", []) if s not in text]
    problems += [f"output contains {s!r}" for s in spec.get("output_lacks", []) if s in text]
    if problems:
        problems.append("output was:\n" + text[:1500])
    return problems


CHECKS = {"run": check_run, "eval": check_eval, "error": check_error}


@pytest.mark.parametrize("case", case_dirs(), ids=lambda p: p.name)
def test_case(case: Path):
    spec = read_case(case)
    problems = CHECKS[spec["kind"]](case, spec)
    assert not problems, f"why: {spec.get('why')}\n" + "\n".join(problems)


def run_cases_with_programs() -> list[Path]:
    return [p for p in case_dirs() if read_case(p)["kind"] == "run" and any(p.rglob("*.goal"))]


@pytest.mark.parametrize("case", run_cases_with_programs(), ids=lambda p: p.name)
def test_formatting_a_case_changes_nothing_it_does(case: Path, tmp_path: Path):
    """`goal fmt` (spec section 9: canonical formatting, idempotent) on every
    .goal file of a run case: a second pass changes nothing, and the
    formatted program gives the same activity."""
    copy = tmp_path / case.name
    shutil.copytree(case, copy)
    files = [str(f.relative_to(copy)) for f in sorted(copy.rglob("*.goal"))]
    code, out, err = goal(["fmt", *files], copy)
    assert code == 0, out + err
    code, out, err = goal(["fmt", "--check", *files], copy)
    assert code == 0, f"formatting twice changed {out + err}"
    problems = check_run(copy, read_case(copy))
    assert not problems, "\n".join(problems)


# ---------------------------------------------------------------- the cases themselves

def test_every_case_is_well_formed():
    """Each folder holds a case.json of a known kind with its hand reasoning,
    and the files its kind reads."""
    folders = sorted(p for p in CASES.iterdir() if p.is_dir())
    assert len(folders) == len(case_dirs()), "a folder without case.json is never run"
    for case in folders:
        spec = read_case(case)
        assert spec.get("kind") in KINDS, case.name
        assert isinstance(spec.get("why"), str) and len(spec["why"]) > 20, f"{case.name}: no why"
        if spec["kind"] == "run":
            assert (case / "expected.jsonl").is_file(), case.name
            json_lines((case / "expected.jsonl").read_text(encoding="utf-8"))
        elif spec["kind"] == "eval":
            assert spec["runs"] and all({"args", "first_line"} <= set(r) for r in spec["runs"]), case.name
        else:
            assert spec["command"] and (spec.get("exit_nonzero") or "exit_code" in spec
                                        or spec.get("output_contains")), case.name
            assert not (spec.get("exit_nonzero") and spec.get("exit_code") == 0), case.name


def test_cases_cover_every_section():
    """Folder names start with the spec section they test (00: the public
    acceptance cases); every section of docs/spec.md, 1 to 10, has cases."""
    sections = {p.name.split("-")[0] for p in case_dirs()}
    assert {f"{n:02d}" for n in range(0, 11)} <= sections
    assert len(case_dirs()) >= 150


@pytest.mark.skipif(not SHARED_CASES.is_dir(), reason="../shared/acceptance is not beside the repository")
def test_vendored_acceptance_cases_match_the_public_ones():
    """tests/conformance/00-acceptance-NAME is a byte-for-byte copy of the
    public case NAME, so the two cannot drift apart unnoticed."""
    for public in sorted(p for p in SHARED_CASES.iterdir() if (p / "case.json").exists()):
        ours = CASES / f"00-acceptance-{public.name}"
        assert ours.is_dir(), f"public case {public.name} is not vendored"
        names = sorted(f.name for f in public.iterdir())
        assert sorted(f.name for f in ours.iterdir()) == names, public.name
        for n in names:
            assert (ours / n).read_bytes() == (public / n).read_bytes(), f"{public.name}/{n}"
