"""fuzz/targets.py runs only in CI's coverage-guided step (it needs atheris):
every goaldsl name it imports must exist, or that step fails after the
whole test suite has passed (it did once, when durable/store.py was split)."""
from __future__ import annotations

import ast
import importlib
from pathlib import Path

TARGETS = Path(__file__).resolve().parent.parent / "fuzz" / "targets.py"


def goaldsl_imports(path: Path) -> list[tuple[str, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [(node.module, alias.name) for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("goaldsl")
            for alias in node.names]


def test_every_name_the_fuzz_targets_import_exists():
    names = goaldsl_imports(TARGETS)
    assert len(names) >= 5
    missing = []
    for module, name in names:
        try:
            mod = importlib.import_module(module)
        except ImportError as e:
            missing.append(f"{module}: {e}")
            continue
        if not hasattr(mod, name) and importlib.util.find_spec(f"{module}.{name}") is None:
            missing.append(f"{module}.{name}")
    assert missing == []


def test_the_check_finds_a_missing_module(tmp_path):
    probe = tmp_path / "t.py"
    probe.write_text("from goaldsl.durable.store import DurableRun\n", encoding="utf-8")
    assert goaldsl_imports(probe) == [("goaldsl.durable.store", "DurableRun")]
    try:
        importlib.import_module("goaldsl.durable.store")
    except ImportError:
        pass
    else:
        raise AssertionError("goaldsl.durable.store is expected to be gone")
