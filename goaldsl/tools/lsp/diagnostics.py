"""Diagnostics for the editor: a document's own, and the problems of the
imported files that are not open, shown on the import that brings them in."""
from __future__ import annotations

from pathlib import Path

from lsprotocol import types as T

from ...syntax import ast as A
from ...syntax.diagnostics import Diagnostic, Severity
from .documents import Analysis
from .positions import Lines, path_key

SOURCE = "goal"


class Diagnostics:
    """The server's part that publishes diagnostics (a part of
    ``GoalLanguageServer``)."""

    def publish(self, a: Analysis) -> None:
        self.text_document_publish_diagnostics(T.PublishDiagnosticsParams(uri=a.uri, diagnostics=self.published(a)))

    def published(self, a: Analysis) -> list[T.Diagnostic]:
        """The diagnostics of a document as the client gets them."""
        lines = self.lines(a.text)
        out = [self.lsp_diagnostic(d, a, lines) for d in a.diagnostics]
        return out + self.import_diagnostics(a, lines)

    def import_diagnostics(self, a: Analysis, lines: Lines) -> list[T.Diagnostic]:
        """The problems of imported files that are not open (an open one shows
        its own), one diagnostic on each import of the document that leads to
        them, directly or through other imports; each problem is a related
        location, so the editor can jump there."""
        if a.module is None:
            return []
        skip = {path_key(self.doc_path(u)) for u in self.open_uris} | {path_key(a.path)}
        by_file: dict[str, list[Diagnostic]] = {}
        for d in a.result.diagnostics:
            if d.span is not None and d.span.file != a.name and d.span.file not in a.loaded.stdlib_names \
                    and path_key(d.span.file) not in skip:
                by_file.setdefault(path_key(d.span.file), []).append(d)
        if not by_file:
            return []
        modules = {path_key(m.file): m for m in a.user_modules()}
        out = []
        for imp in (it for it in a.module.items if isinstance(it, A.Import)):
            reached, todo = set(), [path_key(a.path.parent / imp.path.value)]
            while todo:  # every file this import brings in
                k = todo.pop()
                if k in reached:
                    continue
                reached.add(k)
                m = modules.get(k)
                for sub in (it for it in (m.items if m else ()) if isinstance(it, A.Import)):
                    todo.append(path_key(Path(m.file).absolute().parent / sub.path.value))
            found = [d for k in sorted(reached) if k in by_file for d in by_file.pop(k)]
            if not found:
                continue
            errors = sum(d.is_error for d in found)
            warnings = len(found) - errors
            counts = " and ".join(f"{n} {w}{'s' if n != 1 else ''}"
                                  for n, w in ((errors, "error"), (warnings, "warning")) if n)
            first = found[0]
            message = f"{imp.path.value} brings in {counts}; the first:\n" \
                      f"{first.span}: {first.severity.value}[{first.code}]: {first.summary}"
            related = [T.DiagnosticRelatedInformation(location=self.location(d.span, a),
                                                      message=f"{d.severity.value}[{d.code}]: {d.summary}")
                       for d in found[:50]]
            out.append(T.Diagnostic(
                range=lines.range(a.place(imp.span)), message=message, code=first.code, source=SOURCE,
                severity=T.DiagnosticSeverity.Error if errors else T.DiagnosticSeverity.Warning,
                related_information=related))
        return out

    def lsp_diagnostic(self, d: Diagnostic, a: Analysis, lines: Lines) -> T.Diagnostic:
        message = d.summary
        if d.detail:
            message += f"\n{d.detail}"
        if d.hint:
            message += f"\nhint: {d.hint}"
        related = [T.DiagnosticRelatedInformation(location=self.location(r.span, a), message=r.message)
                   for r in d.related if r.span is not None]
        return T.Diagnostic(
            range=lines.range(d.span), message=message, code=d.code, source=SOURCE,
            severity=T.DiagnosticSeverity.Error if d.severity is Severity.ERROR else T.DiagnosticSeverity.Warning,
            related_information=related or None)
