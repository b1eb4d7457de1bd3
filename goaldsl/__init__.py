"""goal: a language and interpreter for the goals of marketing automations.

The embedding API (see docs/embedding.md)::

    import goaldsl

    program = goaldsl.load_program("examples/booked-a-demo")   # raises goaldsl.GoalError
    engine = goaldsl.Engine(program.plan, start=goaldsl.parse_time("2026-11-02T10:00Z"),
                            handlers={"send_email": my_sender})
    engine.add_contact({"id": "c1", "email": "a@x.com"})
    engine.add_event(goaldsl.parse_time("2026-11-02T10:01Z"), "c1", "page.visited", {"url": "/pricing"})
    engine.run_until(goaldsl.parse_time("2026-11-03T00:00Z"))   # or engine.run(): to the last event fed
    for entry in engine.activity: ...

Public names: ``load_program``, ``check_paths``, ``read_inputs``, ``engine_for``,
``parse_time``, ``Program``, ``Engine``, ``ActionRequest``, ``GoalError``,
``InputError``, ``EngineError``, ``Diagnostic``.
"""
__version__ = "0.1.0"

from .api import (ActionRequest, Engine, EngineError, GoalError, InputError, Program, check_paths,  # noqa: E402
                  engine_for, load_program, parse_time, read_inputs)
from .diagnostics import Diagnostic  # noqa: E402

__all__ = ["load_program", "check_paths", "read_inputs", "engine_for", "parse_time", "Program", "Engine",
           "ActionRequest", "GoalError", "InputError", "EngineError", "Diagnostic", "__version__"]
