"""``goal repl``: test conditions against contact data, interactively.

Two layers:

* ``ReplSession`` (session.py) holds the state (current contact, current
  time, time zone) and answers one input at a time: ``handle(text) -> str``.
  It never raises and never prints; every mistake comes back as a
  diagnostic. Its parts: the meta-commands (commands.py), the program with
  the session's segments and the data (workspace.py), completion
  (completing.py: conditions through ``tools/completion.py``, the
  completion shared with the language server, plus the meta-commands'
  arguments). Tests drive it directly.
* ``run_repl`` (terminal.py) is the prompt-toolkit front end: Pygments
  highlighting, the completer, persistent history (``~/.goal_history`` or
  ``$GOAL_HISTORY``), and multi-line input that continues while brackets are
  open.

See docs/repl.md.
"""
from .session import ReplSession
from .terminal import build_prompt_session, history_path, repl_lexer, run_repl
from .workspace import ReplError

__all__ = ["ReplError", "ReplSession", "build_prompt_session", "history_path", "repl_lexer", "run_repl"]
