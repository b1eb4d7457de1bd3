"""``goal test``: run the ``test`` blocks of a program and report.

Each test runs in an engine of its own, over its own contacts and events,
from its start to its end (docs/spec.md section 11). The engine stops at
every instant an expectation looks at (``at T``) so that where a contact is
and what a condition says are read as of that instant; expectations about
what happened (``achieved``, ``ran``, ``exited``, with ``by T``) read the
activity stream at the end.

A failed expectation says what was expected and shows the first activity
entry where the run went otherwise, in the words of ``goal explain``
(``output.activity_line``), with the contact's activity in that workflow
around it.

Coverage (``--coverage``) runs the tests on a plan whose instruction lists
and branch conditions record what they were asked: a step is covered when
the engine reached it, an ``if`` branch when it was taken (the fall-through
of an ``if`` without ``else`` counts as its else), a ``then if`` when its
condition held and when it did not, a goal when it was achieved.
"""
from __future__ import annotations

import time as _time
from pathlib import Path
from typing import Any, Callable, Optional

import attrs

from ..runtime.compiler import Compiler
from ..runtime.engine import Engine, EngineError
from ..runtime.plan import Branch, GoalStep, Plan, build_plan
from ..runtime.program import Program
from ..semantics import ir
from ..semantics.calendar import format_utc
from ..semantics.testblocks import Expectation, TestCase
from .evaluate import observe
from ..runtime.inputs import copy_value
from ..syntax.formatter import duration
from ..syntax.values import show_value
from ..runtime.output import activity_line
from .explain import describe_instruction, why_false

MAX_CONTEXT = 8  # activity lines shown around a difference


@attrs.define
class Outcome:
    expectation: Expectation
    passed: bool
    details: list[str] = attrs.Factory(list)


@attrs.define
class TestResult:
    case: TestCase
    status: str  # passed | failed | error
    outcomes: list[Outcome] = attrs.Factory(list)
    error: Optional[str] = None
    seconds: float = 0.0
    cpu: float = 0.0

    @property
    def failures(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.passed]


# ====================================================================== running

def run_test(program: Program, case: TestCase, plan: Optional[Plan] = None,
             coverage: Optional["Coverage"] = None) -> TestResult:
    t0, c0 = _time.perf_counter(), _time.process_time()
    plan = plan or program.plan
    eng = Engine(plan, start=case.start)
    for rec in case.contacts:
        eng.add_contact(copy_value(rec))
    for t, cid, typ, fields in case.events:
        eng.add_event(t, cid, typ, copy_value(fields))
    result = TestResult(case, "passed")
    comps: dict[str, Compiler] = {}
    checkpoints = sorted({x.time for x in case.expects if x.kind in ("enrolled", "step", "holds")} | {case.until})
    try:
        for at in checkpoints:
            eng.run_until(at)
            for x in case.expects:
                if x.kind in ("enrolled", "step", "holds") and x.time == at:
                    result.outcomes.append(_now(program, eng, x, comps, case))
    except EngineError as e:
        result.status, result.error = "error", str(e)
    else:
        for x in case.expects:
            if x.kind in ("achieved", "ran", "exited"):
                result.outcomes.append(_after(program, eng, x))
        order = {id(x): i for i, x in enumerate(case.expects)}
        result.outcomes.sort(key=lambda o: order[id(o.expectation)])
        if any(not o.passed for o in result.outcomes):
            result.status = "failed"
    if coverage is not None:
        coverage.absorb(eng.activity)
    result.seconds = _time.perf_counter() - t0
    result.cpu = _time.process_time() - c0
    return result


def _mine(eng: Engine, x: Expectation, workflow: Optional[str] = None) -> list[dict]:
    wf = workflow or x.workflow
    return [e for e in eng.activity if e["contact"] == x.contact and (wf is None or e["workflow"] == wf)]


def _context(entries: list[dict], around: Optional[dict] = None) -> list[str]:
    if not entries:
        return []
    i = next((k for k, e in enumerate(entries) if e is around), len(entries) - 1)
    lo = max(0, min(i - MAX_CONTEXT // 2, len(entries) - MAX_CONTEXT))
    shown = entries[lo:lo + MAX_CONTEXT]
    out = ["activity of the contact" + (f' in "{entries[0]["workflow"]}"' if len({e["workflow"] for e in entries}) == 1
                                        else "") + ":"]
    if lo:
        out.append(f"  ... {lo} earlier")
    out += [("> " if e is around else "  ") + activity_line(e) for e in shown]
    if lo + len(shown) < len(entries):
        out.append(f"  ... {len(entries) - lo - len(shown)} later")
    return out


def _after(program: Program, eng: Engine, x: Expectation) -> Outcome:
    """achieved / ran / exited, by a time, from the activity stream."""
    mine = _mine(eng, x)
    by = x.time
    if x.kind == "achieved":
        hits = [e for e in mine if e["type"] == "goal_achieved" and e["goal"] == x.goal]
    elif x.kind == "ran":
        same = [e for e in mine if e["type"] == "action" and e["action"] == x.action]
        hits = [e for e in same if _args_match(x.args, e.get("args") or {})]
    else:
        hits = [e for e in mine if e["type"] == "exited" and (x.reason is None or e["reason"] == x.reason)]
    in_time = [e for e in hits if e["time"] <= by]
    if x.negated:
        if not in_time:
            return Outcome(x, True)
        first = in_time[0]
        return Outcome(x, False, [f"first difference: {activity_line(first)}", *_context(mine, first)])
    if in_time:
        return Outcome(x, True)
    if hits:
        late = hits[0]
        return Outcome(x, False, [f"it happened later, after {format_utc(by)}: {activity_line(late)}",
                                  *_context(mine, late)])
    details = []
    if x.kind == "ran" and same:
        e = same[0]
        diffs = [f"{k}: {show_value((e.get('args') or {}).get(k))} (expected {show_value(v)})"
                 for k, v in x.args if not _same((e.get("args") or {}).get(k), v)]
        details.append(f"first difference: {activity_line(e)}")
        details.append("  the arguments differ: " + "; ".join(diffs))
        return Outcome(x, False, details + _context(mine, e))
    if not mine:
        where = f' in "{x.workflow}"' if x.workflow else ""
        enrolled = [e for e in eng.activity if e["contact"] == x.contact]
        details.append(f"contact {x.contact} was never enrolled{where}" if not enrolled or x.workflow
                       else f"contact {x.contact} has no such entry")
        return Outcome(x, False, details + (_context(enrolled) if not x.workflow else []))
    # The first entry that rules it out: the contact's leaving, else where it still is.
    exits = [e for e in mine if e["type"] == "exited" and e["time"] <= by]
    if exits and x.kind != "exited":
        first = exits[0]
        details.append(f"first difference: {activity_line(first)}")
        return Outcome(x, False, details + _context(mine, first))
    wf = x.workflow or mine[-1]["workflow"]
    where = _where(program, eng, wf, x.contact)
    details.append(f"at {format_utc(by)} contact {x.contact} is still in \"{wf}\"" + (f", {where}" if where else ""))
    return Outcome(x, False, details + _context(mine))


def _now(program: Program, eng: Engine, x: Expectation, comps: dict, case: TestCase) -> Outcome:
    """enrolled / step / holds, at an instant the engine has just reached."""
    if x.kind == "holds":
        comp = comps.get(case.timezone)
        if comp is None:
            comp = comps[case.timezone] = Compiler(program.ir, case.timezone)
        c = eng.contacts.get(x.contact)
        if c is None:
            from ..runtime.engine import Contact
            c = Contact(x.contact, {"id": x.contact, "tags": [], "lists": []}, 0)
        value = bool(comp.cond(x.cond)(c, x.time, None, None))
        if value != x.negated:
            return Outcome(x, True)
        if value:
            return Outcome(x, False, [f"the condition holds at {format_utc(x.time)}"])
        lines = [f"the condition is false at {format_utc(x.time)}:"]
        for head, details in why_false(program, observe(comp, x.cond, c, x.time), case.timezone):
            lines.append(f"  - {head}")
            lines += [f"      {d}" for d in details]
        return Outcome(x, False, lines)
    workflows = [x.workflow] if x.workflow else [w.name for w in program.ir.workflows]
    found = None
    for wf in workflows:
        pos = eng.position(wf, x.contact)
        if pos is None:
            continue
        if x.kind == "enrolled":
            found = (wf, None)
            break
        if _step_name(pos.instruction) == x.step:
            found = (wf, x.step)
            break
    ok = (found is not None) != x.negated
    if ok:
        return Outcome(x, True)
    wf = x.workflow or (found[0] if found else None)
    mine = [e for e in eng.activity if e["contact"] == x.contact and (wf is None or e["workflow"] == wf)]
    if found is not None:
        return Outcome(x, False, [f"at {format_utc(x.time)} contact {x.contact} is there: "
                                  f"{_where(program, eng, found[0], x.contact)}", *_context(mine)])
    if wf is not None and eng.position(wf, x.contact) is not None:
        return Outcome(x, False, [f"at {format_utc(x.time)} contact {x.contact} is elsewhere in \"{wf}\": "
                                  f"{_where(program, eng, wf, x.contact)}", *_context(mine)])
    left = [e for e in mine if e["type"] == "exited"]
    if left:
        return Outcome(x, False, [f"first difference: {activity_line(left[-1])}", *_context(mine, left[-1])])
    return Outcome(x, False, [f"contact {x.contact} was never enrolled" + (f' in "{wf}"' if wf else "")])


def _step_name(ins) -> Optional[str]:
    """The name of the step an instruction belongs to (`as NAME`, a goal step's goal)."""
    if ins is None:
        return None
    if type(ins) is GoalStep:
        return ins.goal.name
    return getattr(ins, "name", None)


def _where(program: Program, eng: Engine, wf: str, contact: str) -> str:
    pos = eng.position(wf, contact)
    if pos is None:
        return ""
    if pos.instruction is None:
        return "past the last step"
    text = f"at {describe_instruction(pos.instruction)}"
    if pos.due is not None:
        text += f" until {format_utc(pos.due)}"
    return text


def _same(a, b) -> bool:
    return a == b and isinstance(a, bool) == isinstance(b, bool)


def _args_match(want: tuple, got: dict) -> bool:
    return all(k in got and _same(got[k], v) for k, v in want)


# ====================================================================== coverage

@attrs.define
class Item:
    kind: str  # goal | then_if | step | branch
    what: str  # for people: `goal "Paid" (workflow "W")`, `then if ...: the else side`
    span: Any
    covered: bool = False


class Coverage:
    """What the tests exercised in one program."""

    def __init__(self, program: Program):
        self.program = program
        self.items: list[Item] = []
        self._goals: dict[tuple[str, str], Item] = {}
        self.plan = build_plan(program.ir)
        for cw in self.plan.workflows:
            self._instrument(cw)

    def _instrument(self, cw) -> None:
        wf = cw.wf
        for g in ir.all_goals(wf):
            item = Item("goal", f'goal "{g.name}" (workflow "{wf.name}") was never achieved', g.span)
            self._goals[(wf.name, g.name)] = item
            self.items.append(item)
        for cg in cw.step_goals + cw.exit_goals:
            wrapped = []
            for k, (cond, calls, els) in enumerate(cg.then_ifs):
                src = cg.goal.then_ifs[k][0]
                yes = Item("then_if", f'then if in goal "{cg.name}": its actions never ran', src.span)
                no = Item("then_if", f'then if in goal "{cg.name}": it never found its condition false'
                          + (" (its else actions never ran)" if els else ""), src.span)
                self.items += [yes, no]
                wrapped.append((_recording(cond, yes, no), calls, els))
            cg.then_ifs = tuple(wrapped)
        # steps: each step of the workflow, reached when the engine fetched
        # one of its instructions
        origins = cw.origins
        by_step: dict[int, Item] = {}
        for st in ir.all_steps(wf.steps):
            if isinstance(st, ir.SIf):
                what = "if"
            elif isinstance(st, ir.SGoal):
                what = f'goal step "{st.goal.name}"'
            else:
                what = describe_step(st)
            item = Item("step", f"step {what} never ran", st.span)
            by_step[id(st)] = item
            self.items.append(item)
        pc_items = [by_step.get(id(o)) if o is not None else None for o in origins]
        cw.code = _Traced(cw.code, pc_items)
        # branches: each branch of each if, by its JUMP_UNLESS instruction
        for st in ir.all_steps(wf.steps):
            if not isinstance(st, ir.SIf):
                continue
            pcs = [pc for pc, o in enumerate(origins) if o is st and type(cw.code.raw(pc)) is Branch]
            items = [Item("branch", f"branch {i + 1} of the if never taken", c.span) for i, (c, _) in
                     enumerate(st.branches)]
            other = Item("branch", "the else of the if never taken" if st.else_steps else
                         "the if never found all its conditions false (the fall-through)", st.span)
            self.items += items + [other]
            for i, pc in enumerate(pcs):
                ins = cw.code.raw(pc)
                last = i == len(pcs) - 1
                cw.code.set_raw(pc, ins._replace(cond=_recording(ins.cond, items[i], other if last else None)))

    def absorb(self, activity: list[dict]) -> None:
        for e in activity:
            if e["type"] == "goal_achieved":
                item = self._goals.get((e["workflow"], e["goal"]))
                if item is not None:
                    item.covered = True

    def table(self) -> list[tuple[str, int, int]]:
        rows = []
        for kind, label in (("goal", "goals"), ("then_if", "then-if branches"), ("step", "steps"),
                            ("branch", "if branches")):
            its = [i for i in self.items if i.kind == kind]
            rows.append((label, sum(i.covered for i in its), len(its)))
        return rows

    def uncovered(self) -> list[Item]:
        return sorted((i for i in self.items if not i.covered), key=lambda i: (i.span.file, i.span.line, i.span.col))


def _recording(cond: Callable, yes: Item, no: Optional[Item]) -> Callable:
    def traced(c, now, since, f):
        v = cond(c, now, since, f)
        if v:
            yes.covered = True
        elif no is not None:
            no.covered = True
        return v
    return traced


class _Traced(list):
    """A workflow's instruction list that marks a step covered when the
    engine fetches one of its instructions (the engine reads ``code[pc]``)."""

    def __init__(self, code: list, items: list):
        super().__init__(code)
        self._items = items

    def __getitem__(self, pc):
        item = self._items[pc] if isinstance(pc, int) and 0 <= pc < len(self._items) else None
        if item is not None:
            item.covered = True
        return super().__getitem__(pc)

    def raw(self, pc: int):
        return list.__getitem__(self, pc)

    def set_raw(self, pc: int, value) -> None:
        list.__setitem__(self, pc, value)


def describe_step(st) -> str:
    if isinstance(st, ir.SAction):
        args = ", ".join(show_value(v.value) if v.kind == "const" else "..." for _, v in st.call.args)
        return f"{st.call.action}({args})" + (f" as {st.name}" if st.name else "")
    if isinstance(st, ir.SWait):
        return "wait " + duration(st.duration)
    if isinstance(st, (ir.SWaitTime, ir.SWaitDate)):
        return "wait until" + (f" (as {st.name})" if st.name else "")
    if isinstance(st, ir.SWaitCond):
        return "wait until a condition" + (f" as {st.name}" if st.name else "")
    if isinstance(st, ir.SSkip):
        return f"skip to {st.target}"
    if isinstance(st, ir.SEnd):
        return "end"
    return type(st).__name__


# ====================================================================== loading and reports

@attrs.define
class Suite:
    """A program and its tests, ready to run."""
    program: Program
    tests: list[TestCase]
    files: list[str]  # the test files, as shown


def load_suite(path: Path):
    """The program of ``path`` (a folder, a program file, or a test file) and
    its tests. Returns ``(suite, None)`` or ``(None, CheckResult)`` when the
    program or its tests have errors."""
    from ..runtime.plan import build_plan
    from ..semantics.checker import check
    from ..semantics.loader import load, program_files, program_of_test_file, test_files
    if path.is_file() and path.name.endswith("_test.goal"):
        tests = [path]
        prog_files = program_files(program_of_test_file(path))
    else:
        tests = test_files(path)
        prog_files = program_files(path)
    loaded = load(prog_files + tests)
    res = check(loaded)
    if not res.ok or res.program is None:
        return None, res
    program = Program(res.program, build_plan(res.program), loaded, res.diagnostics)
    shown = [n for n in loaded.roots[len(prog_files):]]
    return Suite(program, list(res.tests), shown), res


def select(tests: list[TestCase], pattern: Optional[str]) -> list[TestCase]:
    if not pattern:
        return list(tests)
    low = pattern.lower()
    return [t for t in tests if low in t.name.lower()]


def render_text(results: list[TestResult]) -> str:
    lines: list[str] = []
    current = None
    for r in results:
        if r.case.file != current:
            current = r.case.file
            lines.append(current)
        n = len(r.case.expects)
        if r.status == "passed":
            lines.append(f"  passed  {r.case.name} ({n} expectation{'s' if n != 1 else ''})")
            continue
        lines.append(f"  {'FAILED' if r.status == 'failed' else 'ERROR '}  {r.case.name}")
        if r.error:
            lines.append(f"          the run stopped: {r.error}")
        for o in r.failures:
            x = o.expectation
            lines.append(f"          {x.span}: {x.text}")
            lines += [f"            {d}" for d in o.details]
    return "\n".join(lines) + "\n" if lines else ""


def summary_line(results: list[TestResult]) -> str:
    passed = sum(r.status == "passed" for r in results)
    failed = len(results) - passed
    return f"{passed} passed, {failed} failed"


def to_json(results: list[TestResult], coverage: Optional[Coverage] = None) -> dict:
    out = {"tests": [], "passed": sum(r.status == "passed" for r in results),
           "failed": sum(r.status == "failed" for r in results), "errors": sum(r.status == "error" for r in results)}
    for r in results:
        out["tests"].append({
            "name": r.case.name, "file": r.case.file, "line": r.case.span.line, "status": r.status,
            "seconds": round(r.seconds, 6), "cpu_seconds": round(r.cpu, 6),
            "start": format_utc(r.case.start), "until": format_utc(r.case.until),
            **({"error": r.error} if r.error else {}),
            "expectations": [{"text": o.expectation.text, "line": o.expectation.span.line,
                              "column": o.expectation.span.col, "passed": o.passed,
                              **({"details": o.details} if o.details else {})} for o in r.outcomes]})
    if coverage is not None:
        out["coverage"] = coverage_json(coverage)
    return out


def to_junit(results: list[TestResult]) -> str:
    """JUnit XML, which CI systems (GitLab, Jenkins, GitHub's test reporters) show."""
    import xml.etree.ElementTree as ET
    root = ET.Element("testsuites", name="goal test", tests=str(len(results)),
                      failures=str(sum(r.status == "failed" for r in results)),
                      errors=str(sum(r.status == "error" for r in results)),
                      time=f"{sum(r.seconds for r in results):.6f}")
    by_file: dict[str, list[TestResult]] = {}
    for r in results:
        by_file.setdefault(r.case.file, []).append(r)
    for file, rs in by_file.items():
        suite = ET.SubElement(root, "testsuite", name=file, tests=str(len(rs)),
                              failures=str(sum(r.status == "failed" for r in rs)),
                              errors=str(sum(r.status == "error" for r in rs)), skipped="0",
                              time=f"{sum(r.seconds for r in rs):.6f}")
        for r in rs:
            case = ET.SubElement(suite, "testcase", classname=file, name=r.case.name, file=file,
                                 line=str(r.case.span.line), time=f"{r.seconds:.6f}")
            if r.status == "error":
                err = ET.SubElement(case, "error", message=r.error or "error", type="EngineError")
                err.text = r.error
            elif r.status == "failed":
                first = r.failures[0]
                fail = ET.SubElement(case, "failure", message=first.expectation.text, type="expectation")
                fail.text = "\n".join(f"{o.expectation.span}: {o.expectation.text}\n" + "\n".join(
                    f"  {d}" for d in o.details) for o in r.failures)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def coverage_json(cov: Coverage) -> dict:
    out = {}
    for (label, covered, total), kind in zip(cov.table(), ("goals", "then_if", "steps", "branches")):
        out[kind] = {"covered": covered, "total": total,
                     "uncovered": [{"what": i.what, "file": i.span.file, "line": i.span.line, "column": i.span.col}
                                   for i in cov.uncovered() if i.kind == _KIND[kind]]}
    return out


_KIND = {"goals": "goal", "then_if": "then_if", "steps": "step", "branches": "branch"}


def render_coverage(cov: Coverage) -> str:
    rows = cov.table()
    lines = ["coverage", f"  {'':<18}{'covered':>8}{'total':>7}"]
    for label, covered, total in rows:
        pct = f"{100 * covered / total:.1f}%" if total else "-"
        lines.append(f"  {label:<18}{covered:>8}{total:>7}{pct:>8}")
    missing = cov.uncovered()
    if missing:
        lines.append("not covered:")
        lines += [f"  {i.span}: {i.what}" for i in missing]
    return "\n".join(lines) + "\n"
