"""The embedding API: load a program, feed it contacts and events, run it.

Everything here raises ``GoalError`` (carrying diagnostics) for a bad
program and ``InputError`` for bad input lines; nothing else escapes for
user mistakes. See docs/embedding.md.
"""
from __future__ import annotations

from .runtime.engine import ActionRequest, Engine, EngineError
from .runtime.program import (InputError, Program, engine_for, load_program, loads_program, parse_time,
                              read_inputs)
from .semantics.checker import check_paths
from .syntax.diagnostics import GoalError

__all__ = ["Program", "InputError", "GoalError", "EngineError", "Engine", "ActionRequest", "load_program",
           "loads_program", "read_inputs", "engine_for", "check_paths", "parse_time"]
