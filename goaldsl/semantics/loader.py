"""Reading files: the standard library first, then the program and its imports.

Imports are relative to the importing file and may not leave the root
directory (the directory of the file named on the command line); the check
is made on the resolved path, symlinks included, before anything is read.
A cycle of imports is reported with the whole chain.
"""
from __future__ import annotations

import functools
import os
import stat
from pathlib import Path, PurePath

TYPE_CHECKING = False  # (typing's, without importing typing: docs/performance.md, "Start-up")
if TYPE_CHECKING:
    from typing import Callable, Iterable

from ..syntax import ast as A
from ..syntax.diagnostics import Diagnostic, Related, error
from ..syntax.nodes import Node, evolve, field, node
from ..syntax.parser import ParseResult, parse
from ..syntax.resources import stdlib_files
from ..syntax.source import BOM, Span


MAX_IMPORT_PATH = 4096  # PATH_MAX on Linux


@node(frozen=False)
class Loaded(Node):
    """Every module of a program, in load order (stdlib first)."""
    modules: list[A.Module] = field(factory=list)
    sources: dict[str, str] = field(factory=dict)
    diagnostics: list[Diagnostic] = field(factory=list)
    stdlib_names: set[str] = field(factory=set)
    roots: list[str] = field(factory=list)  # the files asked for (not imported), as shown
    # Files parsed block by block (the language server's): a block's file
    # name -> (the file, its first line - 1, its first offset); see syntax/blocks.py.
    places: dict = field(factory=dict)

    @property
    def ok(self) -> bool:
        return not any(d.is_error for d in self.diagnostics)


def read_source(path: Path, shown: str) -> tuple[str | None, Diagnostic | None]:
    """A file's text, or a diagnostic saying why it cannot be read.

    Every .goal file is read here, named or imported. Something that is
    neither a file nor a folder (a named pipe, a device such as /dev/zero)
    is refused without being opened: reading it could block forever or never
    end."""
    what = _special(path)
    if what:
        return None, error("E0101", f"cannot read {shown}: it is {what}, not a regular file", None,
                           hint="give the path of a .goal file")
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None, error("E0101", f"no such file: {shown}", None)
    except IsADirectoryError:
        return None, error("E0101", f"{shown} is a directory, not a .goal file", None)
    except OSError as e:
        return None, error("E0101", f"cannot read {shown}: {e.strerror or e}", None)
    if data.startswith(BOM):
        data = data[len(BOM):]
    try:
        return data.decode("utf-8"), None
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        line_start = data.rfind(b"\n", 0, e.start) + 1
        col = len(data[line_start:e.start].decode("utf-8", "replace")) + 1  # in characters, not bytes
        return None, error("E0102", "the file is not valid UTF-8", Span(shown, line, col, line, col + 1),
                           detail=f"byte 0x{data[e.start]:02x} at offset {e.start}",
                           hint="save the file as UTF-8")


def _display_name(path: Path) -> str:
    try:
        rel = os.path.relpath(path)
    except ValueError:
        return str(path)
    return rel if not rel.startswith("..") else str(path)


def load_stdlib(loaded: Loaded) -> None:
    for path in stdlib_files():
        name = f"<stdlib>/{path.name}"
        text = path.read_text(encoding="utf-8")
        loaded.sources[name] = text
        loaded.stdlib_names.add(name)
        res = _parse_stdlib(text, name)
        loaded.diagnostics.extend(res.diagnostics)
        if res.module:
            loaded.modules.append(res.module)


@functools.lru_cache(maxsize=16)
def _parse_stdlib(text: str, name: str) -> ParseResult:
    # The standard library is the same for every program a process loads
    # (the language server's, a test run's): parsed once. Its nodes are
    # immutable, so every load shares them.
    return parse(text, name)


def load(paths: Iterable[str | Path], *, stdlib: bool = True, texts: dict[str, str] | None = None,
         parse_file: Callable[[str, str], ParseResult] | None = None) -> Loaded:
    """Load the standard library and the given files with their imports.

    ``texts`` may supply file contents by path (the language server uses it
    for unsaved buffers); ``parse_file`` parses a file's text (default
    ``parser.parse``; the language server's parses block by block).
    """
    loaded = Loaded()
    if stdlib:
        load_stdlib(loaded)
    seen: set[Path] = set()
    for p in paths:
        path = Path(p).absolute()
        try:
            root = path.parent.resolve()
        except (OSError, RuntimeError, ValueError):
            root = path.parent  # reading the file will say what is wrong
        loaded.roots.append(_display_name(path))
        _load_file(loaded, path, root, [], seen, None, texts or {}, parse_file or parse)
    return loaded


def _load_file(loaded: Loaded, path: Path, root: Path, chain: list[Path], seen: set[Path],
               at: Span | None, texts: dict[str, str], parse_file: Callable[[str, str], ParseResult]) -> None:
    # Depth first, in import order, with an explicit stack: a chain of
    # thousands of files each importing the next must not hit Python's
    # recursion limit. ``chain`` is the path of imports being followed.
    chain = list(chain)
    on_chain = set(chain)
    stack: list = [(path, at)]
    while stack:
        top = stack.pop()
        if top is None:  # every import of chain[-1] is done
            on_chain.discard(chain.pop())
            continue
        path, at = top
        real, pending = _load_one(loaded, path, root, chain, on_chain, seen, at, texts, parse_file)
        if real is not None:
            chain.append(real)
            on_chain.add(real)
            stack.append(None)
            stack.extend(reversed(pending))


def _load_one(loaded: Loaded, path: Path, root: Path, chain: list[Path], on_chain: set[Path], seen: set[Path],
              at: Span | None, texts: dict[str, str],
              parse_file: Callable[[str, str], ParseResult]) -> tuple[Path | None, list[tuple[Path, Span]]]:
    """Read and parse one file; return its resolved path and the imports
    still to load (None and [] when there is nothing more to do)."""
    try:
        real = path.resolve()
    except (OSError, RuntimeError, ValueError) as e:  # a symlink loop, an unreadable folder
        why = "a symbolic link loops" if isinstance(e, RuntimeError) else (getattr(e, "strerror", None) or str(e))
        loaded.diagnostics.append(error("E0101", f"cannot read {_display_name(path)}: {why}", at))
        return None, []
    if real in on_chain:
        ring = chain[chain.index(real):] + [real]
        if len(ring) > 12:  # a long ring: its ends say where to look
            names = " -> ".join([_display_name(p) for p in ring[:5]] + [f"... {len(ring) - 10} more ..."]
                                + [_display_name(p) for p in ring[-5:]])
        else:
            names = " -> ".join(_display_name(p) for p in ring)
        loaded.diagnostics.append(error("E0103", f"import cycle: {names}", at,
                                        hint="remove one of these imports"))
        return None, []
    if real in seen:
        return None, []
    seen.add(real)
    shown = _display_name(path)
    text = texts.get(str(path)) if str(path) in texts else None
    if text is None:
        text, problem = read_source(path, shown)
        if problem:
            loaded.diagnostics.append(evolve(problem, span=problem.span or at))
            return None, []
    loaded.sources[shown] = text
    res = parse_file(text, shown)
    loaded.diagnostics.extend(res.diagnostics)
    loaded.places.update(res.places)
    if res.module is None:
        return None, []
    loaded.modules.append(res.module)
    pending = []
    for item in res.module.items:
        if not isinstance(item, A.Import):
            continue
        target = item.path.value
        if not target:
            loaded.diagnostics.append(error("E0104", "an import needs a file name", item.span))
            continue
        if len(target) > MAX_IMPORT_PATH:  # resolving it could take minutes; no system opens it
            loaded.diagnostics.append(error("E0104", f"an import path may be at most {MAX_IMPORT_PATH:,} "
                                            f"characters; this one has {len(target):,}", item.span))
            continue
        if os.path.isabs(target):
            loaded.diagnostics.append(error("E0104", f'import "{target}" uses an absolute path', item.span,
                                            hint="import files by a path relative to this file"))
            continue
        nxt = (path.parent / target)
        try:
            resolved = nxt.resolve()
        except (OSError, RuntimeError, ValueError):
            loaded.diagnostics.append(error("E0101", f'cannot resolve import "{target}"', item.span))
            continue
        if root != resolved and root not in resolved.parents:
            loaded.diagnostics.append(error(
                "E0104", f'import "{target}" leaves the program\'s folder', item.span,
                detail=f"imports must stay inside {_display_name(root)}", hint="move the file into the folder"))
            continue
        pending.append((nxt, item.span))
    return real, pending


def _special(path: Path) -> str | None:
    """What a path is when it exists but is neither a file nor a folder (its
    target's kind, for a symbolic link); None otherwise."""
    try:
        mode = path.stat().st_mode
    except (OSError, ValueError):
        return None  # reading it will say what is wrong
    if stat.S_ISREG(mode) or stat.S_ISDIR(mode):
        return None
    if stat.S_ISFIFO(mode):
        return "a named pipe"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "a device"


TEST_SUFFIX = "_test.goal"  # a test file's name ends so (docs/spec.md section 11)


def is_test_file(name: str) -> bool:
    return PurePath(name).name.endswith(TEST_SUFFIX)


TESTS_FOLDER = "tests"


def program_files(path: Path) -> list[Path]:
    """The .goal files of a PROGRAM argument: the file, or a folder's files.
    Test files (``*_test.goal``) are not part of the program."""
    if path.is_dir():
        return sorted(p for p in path.glob("*.goal") if not p.name.endswith(TEST_SUFFIX))
    return [path]


def test_files(path: Path) -> list[Path]:
    """The test files of a PROGRAM argument: a folder's ``*_test.goal`` files
    and those of its ``tests`` folder; for a file ``X.goal``, ``X_test.goal``
    beside it and in the ``tests`` folder beside it. A test file given
    itself is its own list."""
    if path.is_dir():
        return sorted(path.glob("*" + TEST_SUFFIX)) + sorted((path / TESTS_FOLDER).glob("*" + TEST_SUFFIX))
    if path.name.endswith(TEST_SUFFIX):
        return [path]
    name = path.stem + TEST_SUFFIX
    return [p for p in (path.parent / name, path.parent / TESTS_FOLDER / name) if p.is_file()]


def program_of_test_file(path: Path) -> Path:
    """The program a test file tests: the folder it is in (the folder above,
    when it is in a ``tests`` folder)."""
    folder = path.parent
    return folder.parent if folder.name == TESTS_FOLDER else folder


# A program's data, by convention beside it (docs/spec.md section 9).
CONTACTS_FILE = "contacts.jsonl"
EVENTS_FILE = "events.jsonl"


def program_folder(path: str | Path) -> Path:
    """The folder of a PROGRAM argument: the folder itself, or the file's."""
    p = Path(path)
    return p if p.is_dir() else p.parent


MAP_FILE = "map.toml"  # the mapping file (runtime/mapping.py) a program's folder may hold


def mapping_beside(program_path: str | Path | None) -> Path | None:
    """``map.toml`` in the program's folder (or beside the program file)."""
    if program_path is None:
        return None
    cand = program_folder(program_path) / MAP_FILE
    return cand if cand.is_file() else None


def data_beside(program: str | Path) -> tuple[Path | None, Path | None]:
    """The ``contacts.jsonl`` and ``events.jsonl`` files in a program's
    folder, each None when there is no such file."""
    folder = program_folder(program)
    contacts, events = folder / CONTACTS_FILE, folder / EVENTS_FILE
    return (contacts if contacts.is_file() else None), (events if events.is_file() else None)


def duplicate(kind: str, name: str, span: Span, first: Span) -> Diagnostic:
    return error("E0201", f"{kind} {name} is declared twice", span,
                 related=(Related(first, "first declared here"),), hint="rename or remove one of them")


def data_files(program: str | Path | None, contacts: str | Path | None = None,
               events: str | Path | None = None) -> tuple[Path | None, Path | None]:
    """The contacts and events files of a PROGRAM argument: those given,
    else those beside the program. A given file that cannot be read raises
    OSError, whose text says why (``data_problem``). ``-`` (standard input)
    and a named pipe are files here: they are read as streams."""
    found = data_beside(program) if program is not None else (None, None)
    cpath = Path(contacts) if contacts else found[0]
    epath = Path(events) if events else found[1]
    for p, what in ((cpath, "contacts"), (epath, "events")):
        if p is None or str(p) == "-":
            continue
        problem = data_problem(p, what)
        if problem:
            raise OSError(problem)
    return cpath, epath


def data_problem(path: Path, what: str) -> str | None:
    """Why ``path`` cannot be read as a contacts or events file (``what``),
    or None. A regular file is read; so is a named pipe (``--events
    <(zcat log.gz)``), once, as a stream. A folder or a device (/dev/zero
    never ends) is refused."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return f"no such {what} file: {path}"
    except (OSError, ValueError) as e:
        return f"cannot read the {what} file {path}: {getattr(e, 'strerror', None) or e}"
    if stat.S_ISREG(mode) or stat.S_ISFIFO(mode):
        return None
    a = "an" if what[:1] in "aeiou" else "a"
    if stat.S_ISDIR(mode):
        return f"{path} is a folder, not {a} {what} file"
    return f"{path} is a device, not {a} {what} file (give a file or a pipe)"

