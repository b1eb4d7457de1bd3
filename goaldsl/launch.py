"""The ``goal`` command's entry point: signals first, then everything else.

Ctrl-C (SIGINT) and SIGTERM can come at any moment, also while Python is
still importing the package (the first fifth of a second of a run). So the
handlers are installed here, before anything heavy is imported, and they do
not raise into whatever code happens to run: they write one line to the
standard error and end the process at once, exit code 130 or 143 (128 + the
signal's number, as a shell reports a process killed by it).

Ending at once is safe because nothing a command does depends on clean-up
code running: a state file commits in SQLite transactions (an interrupted one
is rolled back when the file is next opened, as after ``kill -9``), ``goal
fmt`` replaces a file with one rename, and a run's output is held until the
run is complete. The REPL keeps Python's own Ctrl-C (it stops the command
being evaluated, not the session) and gets only the SIGTERM handler.

This module may import nothing from the package at its top: it runs first.
It uses ``_signal``, the C module under ``signal``: importing ``signal``
imports ``enum``, which takes long enough for a Ctrl-C to land in it.
Before this module runs there is only Python's own start-up (a few
hundredths of a second), where a Ctrl-C still shows Python's traceback.
"""
import gc
import os
import sys

import _signal as signal

MESSAGES = {signal.SIGINT: "interrupted", signal.SIGTERM: "terminated"}


def _stop(signum: int, frame) -> None:  # noqa: ARG001 - a signal handler's signature
    # os.write, not sys.stderr: the signal may arrive in the middle of a
    # write to sys.stderr, and a buffered stream must not be re-entered.
    command = _command()
    prefix = f"goal {command}: " if command else "goal: "
    try:
        os.write(2, f"{prefix}{MESSAGES.get(signum, 'stopped')}\n".encode())
    except OSError:
        pass
    os._exit(128 + signum)


def _command() -> str:
    args = sys.argv[1:]
    return args[0] if args and not args[0].startswith("-") else ""


def install(*, interactive: bool = False) -> None:
    """Handle SIGTERM (and SIGINT unless ``interactive``) as described above.
    A signal the parent process set to be ignored (``nohup``, a background
    job of a shell without job control) stays ignored."""
    sigs = [signal.SIGTERM] if interactive else [signal.SIGINT, signal.SIGTERM]
    for s in sigs:
        if signal.getsignal(s) is not signal.SIG_IGN:
            signal.signal(s, _stop)


def quiet_blas(environ=os.environ) -> None:
    """One OpenBLAS thread, unless the user chose otherwise. goal loads numpy
    on long runs (the ids' table, line counts) and calls no BLAS routine;
    OpenBLAS starts a thread per core as numpy loads, and they spin a while:
    a tenth of a second of CPU per process, taken from the workers of
    ``goal run --workers`` (docs/performance.md). Read once, when numpy
    loads, so set before anything is imported; a command's own process
    only (the embedding API leaves its host's environment alone)."""
    environ.setdefault("OPENBLAS_NUM_THREADS", "1")


def main(held=None) -> None:
    """Run the command line. ``held``: the signal mask to restore once the
    handlers are installed (the ``goal`` script blocks SIGINT and SIGTERM
    from its first line, so a signal that comes meanwhile waits for them)."""
    install(interactive=_command() == "repl")
    quiet_blas()
    if held is not None:
        signal.pthread_sigmask(signal.SIG_SETMASK, held)
    try:
        # The heavy imports, once the handlers are in place; without the
        # cyclic collector, whose passes over the new modules' objects (all
        # kept to the end) would free nothing, and which does not look at
        # them again (``gc.freeze``). Each command decides for itself from
        # here on.
        gc.disable()
        from .cli import main as cli_main
        gc.freeze()
        gc.enable()
        code = cli_main()
    except KeyboardInterrupt:  # only where Python's own Ctrl-C is kept (the REPL)
        _stop(signal.SIGINT, None)
    # The command is complete: a signal now would only turn a success into
    # an interrupted run while the interpreter shuts down.
    for s in MESSAGES:
        if signal.getsignal(s) is _stop:
            signal.signal(s, signal.SIG_IGN)
    if isinstance(code, int) and _command() not in ("repl", "lsp"):
        # Everything is done and written: end without tearing down the heap
        # (freeing every object of a large run costs about a twentieth of
        # it), which is safe for the reasons above. The streams are flushed
        # first; one that cannot be (a closed pipe) takes Python's own exit.
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        except BaseException:
            sys.exit(code)
        codes = sys.modules.get("goaldsl.syntax.codecache")  # os._exit skips its atexit save
        if codes is not None:
            codes.save()
        os._exit(code)
    sys.exit(code)
