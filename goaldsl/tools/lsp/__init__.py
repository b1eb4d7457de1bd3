"""``goal lsp``: the language server, over stdio, on pygls.

It reuses the command-line pieces: ``loader.load`` (with the text of every
open editor buffer, saved or not), ``checker.check``, ``formatter.format_source``
and ``completion.complete``. What it adds is the mapping between their world
(file names as ``goal check`` shows them, 1-based lines and columns counted
in characters) and the protocol's (URIs, 0-based positions counted in the
client's position encoding).

Features: diagnostics on open, change and save (an open document shows its
own; the problems of imported files that are not open show on the import
that brings them in, with related locations); completion (action calls as
snippets where the client takes them); signature help; hover;
go-to-definition; document symbols; document formatting. Every handler is
guarded: an internal error is logged (stderr and ``window/logMessage``) and
the request gets an empty answer, so the server never dies on any input; a
request pygls cannot read gets an Invalid Params error.

While a document does not parse, hover, definition and completion fall back
on the last version of it that did (for its segments and step names) and on
the words around the cursor.

The server (server.py) is put together from one part per concern:
documents.py (documents and their analyses), diagnostics.py, contacts.py
(contact attributes), cursor.py (what is at the cursor), hover.py (hover and
definition), symbols.py, editing.py (completion items, signature help);
positions.py maps the loader's positions to the protocol's.
"""
from .server import GoalLanguageServer, create_server, serve

__all__ = ["GoalLanguageServer", "create_server", "serve"]
