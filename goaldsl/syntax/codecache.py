"""Code this package generates and compiles (the parser's reduction shapes,
the AST's and the IR's constructors, a program's conditions and the
engine's recorders), compiled once per machine, not once per process.

``compiled(source, name)`` is ``compile(source, name, "exec")``, looked up
first in a file of the cache folder (``resources.cache_folder``) that maps
each text compiled before to its code in ``marshal``'s format (the one of
Python's own .pyc files). Compiling is about 0.1 ms a function, and `goal
check` on a small file compiles about 80 of them: a tenth of its time. The
file holds each code as bytes, decoded only when a process asks for that
text (a process needs a few of the texts every process on the machine
made). It is named for goal's version and this Python's (its code is that
version's); one that cannot be read is as if missing, an entry that cannot
be decoded is compiled again.

There are two files, two ``Shelf``s: the package's own code (shapes and
constructors: every command needs some) and programs' code
(``compiled(..., program=True)``: conditions and recorders, of every
program the machine ran), so that `goal check` does not read the code of
every program run before, and a machine that runs many programs does not
push the package's code out.

A process that compiled texts a file lacked writes it again, whole, once,
when it ends (``save``: at exit, and from ``launch`` before its fast exit;
a worker of ``goal run --workers`` when it is done), with the texts the
file holds then (read again: a worker writes the texts its parent never
compiles before the parent ends); by a rename, so processes racing leave
one of their versions, and the others' texts are added again by the next
process that needs them. The
texts this process used are written last, and a file holds at most
``MAX_TEXTS``: past it, the texts least recently written go (the order of
a file is the order its texts were last used by a process that wrote it),
so that a file does not grow with every program, or every version of the
classes a checkout went through, and what is in use stays. Writing a file
prunes the files of other versions (the ``KEEP_FILES`` most recently
written are kept: another Python or goal of the machine).
"""
from __future__ import annotations

import atexit
import marshal
import os
import sys
import zlib

from .. import __version__
from .resources import cache_folder, prune_cache

KEEP_FILES = 8  # code files kept in the cache folder (two per goal and Python version)
MAX_TEXTS = 2000  # texts a file holds; past it, the least recently written go


class Shelf:
    """One file of codes: what it holds, what this process asked of it."""

    __slots__ = ("suffix", "codes", "used", "unsaved")

    def __init__(self, suffix: str):
        self.suffix = suffix  # the end of the file's name
        self.codes: dict | None = None  # (source, name) -> marshal's bytes of its code, as read from the file
        self.used: dict = {}  # (source, name) -> code: the texts this process asked for
        self.unsaved = False  # texts compiled that the file lacks

    def compiled(self, source: str, name: str):
        key = (source, name)
        code = self.used.get(key)
        if code is not None:
            return code
        data = self.loaded().get(key)
        if data is not None:
            try:
                code = marshal.loads(data)
            except (ValueError, EOFError, TypeError):
                code = None
            if type(code) is not _CODE:
                code = None
        if code is None:
            code = compile(source, name, "exec")
            if not self.unsaved:
                self.unsaved = True
                _register()
        self.used[key] = code
        return code

    def path(self):
        folder = cache_folder()
        if folder is None:
            return None
        version = f"{__version__}-{sys.implementation.cache_tag}-{zlib.crc32(sys.version.encode()):08x}"
        return os.path.join(folder, f"code-{version}{self.suffix}.marshal")

    def loaded(self) -> dict:
        if self.codes is None:
            self.codes = {}
            path = self.path()
            if path is not None:
                try:
                    with open(path, "rb") as f:
                        data = marshal.loads(f.read())  # (load(f) would read the file a few bytes at a time)
                    if type(data) is dict:
                        self.codes = data  # (each entry is checked when used)
                except (OSError, ValueError, EOFError, TypeError):
                    pass
        return self.codes

    def save(self) -> None:
        """Write the file again if this process compiled texts it lacked:
        the others' texts first, this process's last, the first ones past
        MAX_TEXTS dropped."""
        if not self.unsaved:
            return
        self.unsaved = False
        used = self.used
        self.codes = None  # the file as it is now: another process may have written texts since it was read
        others = [(key, data) for key, data in self.loaded().items() if key not in used]
        mine = [(key, marshal.dumps(code)) for key, code in used.items()]
        keep = max(MAX_TEXTS - len(mine), 0)
        codes = dict(others[len(others) - keep:] if keep else ())
        codes.update(mine)
        path = self.path()
        if path is not None:
            _write(path, codes)


def _write(path: str, codes: dict) -> None:
    folder, name = os.path.split(path)
    tmp = os.path.join(folder, f".{name}.{os.getpid()}.tmp")  # a dot: prune_cache clears one left behind
    try:
        with open(tmp, "wb") as f:
            marshal.dump(codes, f)
        os.replace(tmp, path)  # whole or not at all
    except (OSError, ValueError):
        try:
            os.unlink(tmp)
        except OSError:
            pass
        return
    prune_cache(folder, ".marshal", path, keep_files=KEEP_FILES)


PACKAGE = Shelf("-package")
PROGRAMS = Shelf("-programs")
_CODE = type(_write.__code__)
_registered = False


def compiled(source: str, name: str, program: bool = False):
    """``compile(source, name, "exec")``, from the cache when it is there;
    ``program``: a program's code (conditions, recorders), not the
    package's."""
    return (PROGRAMS if program else PACKAGE).compiled(source, name)


def save() -> None:
    """Write the files this process compiled new texts for."""
    PACKAGE.save()
    PROGRAMS.save()


def _register() -> None:
    global _registered
    if not _registered:
        _registered = True
        atexit.register(save)
