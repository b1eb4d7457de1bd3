"""Where the grammar and the standard library live.

In a built wheel they are copied into the package (``goaldsl/grammar`` and
``goaldsl/stdlib``); in a source checkout or an editable install they are
read from the repository's top-level ``grammar/`` and ``stdlib/``.
"""
from __future__ import annotations

from pathlib import Path

_PKG = Path(__file__).resolve().parent.parent  # the goaldsl package folder


def _find(name: str) -> Path:
    for base in (_PKG / name, _PKG.parent / name):
        if base.is_dir():
            return base
    raise FileNotFoundError(f"the goal installation is missing its {name}/ folder (looked in {_PKG})")


def grammar_path() -> Path:
    return _find("grammar") / "goal.lark"


def stdlib_dir() -> Path:
    return _find("stdlib")


def stdlib_files() -> list[Path]:
    return sorted(stdlib_dir().glob("*.goal"))
