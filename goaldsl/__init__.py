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

Public names: ``load_program``, ``loads_program``, ``check_paths``, ``read_inputs``, ``engine_for``,
``parse_time``, ``Program``, ``Engine``, ``ActionRequest``, ``GoalError``,
``InputError``, ``EngineError``, ``Diagnostic``.

The package is layered (docs/architecture.md): ``syntax`` → ``semantics`` →
``runtime`` → ``durable`` → ``tools``, with ``api`` and ``cli`` on top. The
public names are imported on first use, so ``goal --version`` loads nothing.
"""
__version__ = "0.1.0"

_PUBLIC = {
    "load_program": "api", "loads_program": "api", "check_paths": "api", "read_inputs": "api",
    "engine_for": "api", "parse_time": "api", "Program": "api", "Engine": "api", "ActionRequest": "api",
    "GoalError": "api", "InputError": "api", "EngineError": "api", "Diagnostic": "syntax.diagnostics",
}

__all__ = sorted(_PUBLIC) + ["__version__"]


def __getattr__(name: str):
    mod = _PUBLIC.get(name)
    if mod is None:
        raise AttributeError(f"module 'goaldsl' has no attribute {name!r}")
    import importlib
    value = getattr(importlib.import_module(f".{mod}", __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return __all__
