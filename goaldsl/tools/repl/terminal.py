"""The REPL's terminal front end (prompt-toolkit): Pygments highlighting,
the completer, persistent history (``~/.goal_history`` or
``$GOAL_HISTORY``), multi-line input that continues while brackets are
open; and input that is not a terminal, run as a script."""
from __future__ import annotations

import os
from typing import Callable, Optional

from .session import ReplSession
from .workspace import ReplError


def history_path() -> str:
    return os.environ.get("GOAL_HISTORY") or os.path.join(os.path.expanduser("~"), ".goal_history")


def _colored(text: str):
    """The text with true/false and errors colored, for the terminal."""
    from prompt_toolkit.formatted_text import FormattedText
    parts = []
    for line in text.split("\n"):
        style = ""
        if line == "true":
            style = "class:true"
        elif line == "false":
            style = "class:false"
        elif line.startswith("error"):
            style = "class:error"
        elif line.startswith(("warning", "note:")):
            style = "class:warning"
        elif line.lstrip().startswith("= hint"):
            style = "class:hint"
        parts.append((style, line + "\n"))
    return FormattedText(parts)


def build_prompt_session(session: ReplSession, *, input=None, output=None, history=None,
                         complete_while_typing: bool = True):
    """The prompt-toolkit PromptSession for ``session``."""
    from prompt_toolkit import PromptSession
    from prompt_toolkit.auto_suggest import AutoSuggestFromHistory
    from prompt_toolkit.completion import Completer, Completion as PTCompletion
    from prompt_toolkit.history import FileHistory
    from prompt_toolkit.key_binding import KeyBindings
    from prompt_toolkit.lexers import PygmentsLexer
    from prompt_toolkit.styles import Style

    class _History(FileHistory):
        def store_string(self, string: str) -> None:
            try:
                super().store_string(string)
            except OSError:
                pass  # an unwritable history file must not stop the REPL

        def load_history_strings(self):
            try:
                return list(super().load_history_strings())
            except OSError:
                return []

    class _Completer(Completer):
        def get_completions(self, document, complete_event):
            try:
                n, items = session.complete(document.text, document.cursor_position)
            except Exception:  # completion must never break typing
                return
            for c in items:
                yield PTCompletion(c.text, start_position=-n, display=c.label, display_meta=c.detail or c.kind)

    kb = KeyBindings()

    @kb.add("enter")
    @kb.add("c-j")
    def _enter(event):
        buf = event.current_buffer
        state = buf.complete_state
        if state is not None and state.current_completion is not None:
            chosen = state.current_completion
            buf.apply_completion(chosen)
            if chosen.text.endswith((" ", "=", "(", ".", "/")):
                return  # the completion asks for more: let the user go on typing
        if session.needs_more(buf.document.text_before_cursor) and buf.document.is_cursor_at_the_end:
            buf.insert_text("\n")
        else:
            buf.validate_and_handle()

    @kb.add("escape", "enter")
    def _newline(event):
        event.current_buffer.insert_text("\n")

    style = Style.from_dict({"true": "ansigreen bold", "false": "ansired bold", "error": "ansired",
                             "warning": "ansiyellow", "hint": "ansicyan", "prompt": "ansiblue"})
    return PromptSession(
        history=history if history is not None else _History(history_path()),
        lexer=PygmentsLexer(repl_lexer()),
        completer=_Completer(),
        complete_while_typing=complete_while_typing,
        auto_suggest=AutoSuggestFromHistory(),
        multiline=True,
        key_bindings=kb,
        prompt_continuation=lambda width, line_number, wrap_count: "." * (width - 1) + " ",
        style=style,
        input=input,
        output=output,
        enable_history_search=False,
    ), style


def repl_lexer():
    from pygments.lexer import inherit
    from pygments.token import Keyword

    from ...syntax.highlight import GoalLexer

    class ReplLexer(GoalLexer):
        name = "Goal REPL"
        aliases = []
        filenames = []
        tokens = {"root": [(r"^\s*:[A-Za-z?]+", Keyword.Pseudo), inherit]}

    return ReplLexer


def run_repl(program: Optional[str] = None, contacts: Optional[str] = None, events: Optional[str] = None, *,
             input_format: Optional[str] = None, map: Optional[str] = None, skip_bad: bool = False,
             input=None, output=None, write: Optional[Callable[[str], None]] = None, history=None,
             complete_while_typing: bool = True) -> int:
    """Run the interactive REPL until :quit or end of input. ``write``
    receives each block of output (default: the terminal, colored). The
    data is read as ``goal run`` reads it (``input_format``, ``map``,
    ``skip_bad``); bad lines or a bad mapping file raise as they do there."""
    try:
        session = ReplSession(program, contacts, events, input_format=input_format, map=map, skip_bad=skip_bad)
    except ReplError as e:
        import sys
        sys.stderr.write(f"goal repl: {e}\n")
        return 2
    if input is None and not _stdin_is_terminal():
        return _run_script(session, write)
    ps, style = build_prompt_session(session, input=input, output=output, history=history,
                                     complete_while_typing=complete_while_typing)
    if write is None:
        from prompt_toolkit import print_formatted_text

        def write(text: str) -> None:
            print_formatted_text(_colored(text), style=style, output=output, end="")

    write(session.banner() + "\n")
    while not session.done:
        try:
            text = ps.prompt([("class:prompt", session.prompt_text())])
        except KeyboardInterrupt:
            continue
        except EOFError:
            break
        out = session.handle(text)
        if out:
            write(out + "\n")
    return 0


def _stdin_is_terminal() -> bool:
    import sys
    try:
        return sys.stdin is not None and sys.stdin.isatty()
    except (AttributeError, ValueError):
        return False


def _run_script(session: ReplSession, write: Optional[Callable[[str], None]] = None, stdin=None) -> int:
    """Input that is not a terminal (``goal repl DIR < session.txt``): the
    same inputs, one a line (continued while a bracket is open), with no
    prompt, colors or history. Each input is echoed after the prompt, so the
    output reads like the interactive session."""
    import sys
    stdin = stdin or sys.stdin
    if write is None:
        def write(text: str) -> None:
            sys.stdout.write(text)
            sys.stdout.flush()
    write(session.banner() + "\n")
    pending: list[str] = []
    for raw in stdin:
        pending.append(raw.rstrip("\n"))
        text = "\n".join(pending)
        if session.needs_more(text):
            continue
        pending = []
        if not text.strip():
            continue
        write(session.prompt_text() + text + "\n")
        out = session.handle(text)
        if out:
            write(out + "\n")
        if session.done:
            break
    if pending and "\n".join(pending).strip():  # end of input inside a bracket: run what there is
        text = "\n".join(pending)
        write(session.prompt_text() + text + "\n")
        out = session.handle(text)
        if out:
            write(out + "\n")
    return 0
