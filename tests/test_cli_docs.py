"""The command-line examples in the docs print what the docs say.

A ```text block right after the line ``<!-- output checked by
tests/test_cli_docs.py -->`` is a transcript: each ``$ COMMAND`` line
(continued by a trailing backslash) runs with bash from the repository's
top folder, with this Python's ``goal`` first on the PATH; the lines up to
the next ``$`` are what it prints (standard output and standard error as a
terminal would show them). A command whose exit code is not 0 shows it as
``[exit N]`` after its output.

    python tests/test_cli_docs.py --update    # rewrite the transcripts from real runs
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MARK = "<!-- output checked by tests/test_cli_docs.py -->"
BLOCK = re.compile(re.escape(MARK) + r"\n```text\n(.*?)^```", re.S | re.M)


def transcripts():
    for doc in sorted((ROOT / "docs").glob("*.md")):
        text = doc.read_text(encoding="utf-8")
        for m in BLOCK.finditer(text):
            line = text.count("\n", 0, m.start(1)) + 1
            yield doc, line, m.start(1), m.end(1), m.group(1)


def steps(block: str) -> list[tuple[str, str]]:
    """(command, expected output) pairs of a transcript."""
    out: list[tuple[str, list[str]]] = []
    lines = block.split("\n")[:-1] if block.endswith("\n") else block.split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        if not line.startswith("$ "):
            if not out:
                raise ValueError(f"a transcript must start with a $ line: {line!r}")
            out[-1][1].append(line)
            i += 1
            continue
        cmd = line[2:]
        while cmd.endswith("\\") and i + 1 < len(lines):
            i += 1
            cmd = cmd[:-1] + "\n" + lines[i]
        out.append((cmd, []))
        i += 1
    result = []
    for cmd, body in out:
        while body and body[-1] == "":  # a blank line separates one command from the next
            body.pop()
        result.append((cmd, "\n".join(body) + ("\n" if body else "")))
    return result


def run(cmd: str) -> str:
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
               COLUMNS="100", NO_COLOR="1")
    p = subprocess.run(["bash", "-c", cmd + " 2>&1"], cwd=ROOT, capture_output=True, text=True, env=env,
                       stdin=subprocess.DEVNULL, timeout=300)
    out = p.stdout
    if p.returncode != 0:
        out += f"[exit {p.returncode}]\n"
    return out


CASES = [pytest.param(block, id=f"{doc.name}:{line}") for doc, line, _, _, block in transcripts()]


def test_there_are_checked_transcripts():
    assert len(CASES) >= 3


@pytest.mark.parametrize("block", CASES)
def test_transcript(block):
    for cmd, expected in steps(block):
        assert run(cmd) == expected, f"$ {cmd}"


def update() -> None:
    for doc in sorted((ROOT / "docs").glob("*.md")):
        text = doc.read_text(encoding="utf-8")
        pieces, pos = [], 0
        for m in BLOCK.finditer(text):
            pieces.append(text[pos:m.start(1)])
            parts = []
            for cmd, _ in steps(m.group(1)):
                shown = cmd.replace("\n", "\\\n")
                parts.append(f"$ {shown}\n{run(cmd)}")
            pieces.append("\n".join(parts))
            pos = m.end(1)
        pieces.append(text[pos:])
        new = "".join(pieces)
        if new != text:
            doc.write_text(new, encoding="utf-8")
            print(f"updated {doc.relative_to(ROOT)}")


if __name__ == "__main__":
    if sys.argv[1:] == ["--update"]:
        update()
    else:
        sys.exit(pytest.main([__file__, "-q"]))
