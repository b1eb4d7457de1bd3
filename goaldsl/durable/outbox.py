"""The outbox: every action a run made, delivered to a host's handlers after
its instant commits, at least once (docs/durability.md, "The outbox, for
embedders")."""
from __future__ import annotations

import json
import sqlite3
import time as _time
from typing import Any, Callable

from ..runtime.engine import ActionRequest, EngineError
from .statefile import corrupted

Handlers = dict[str, Callable[[ActionRequest], Any]]


def undelivered(db: sqlite3.Connection, handlers: Handlers) -> list[str]:
    """The ids of the rows left undelivered for these handlers (a crash
    between commit and delivery, or a handler that failed), in order."""
    if not handlers:
        return []
    return [r[0] for r in db.execute("SELECT id FROM outbox WHERE delivered_at IS NULL AND action IN (%s) "
                                     "ORDER BY activity" % ",".join("?" * len(handlers)), list(handlers))]


def deliver(db: sqlite3.Connection, handlers: Handlers, ids: list[str], path) -> None:
    """Call each row's handler, then mark the row delivered; a handler that
    raises stops the run and leaves its row for the next one."""
    for oid in ids:
        r = db.execute("SELECT id, action, args, contact, workflow, time, step, goal FROM outbox WHERE id = ?",
                       (oid,)).fetchone()
        handler = handlers.get(r[1])
        if handler is None:
            continue
        try:
            args = json.loads(r[2]) if r[2] else {}
        except (TypeError, ValueError):
            raise corrupted(path, f"the arguments of action {oid} in its outbox are not JSON") from None
        req = ActionRequest(r[0], r[1], args, r[3], r[4], r[5], r[6], r[7])
        db.execute("UPDATE outbox SET attempts = attempts + 1 WHERE id = ?", (oid,))
        try:
            handler(req)
        except Exception as exc:
            raise EngineError(f"the handler for {req.action} failed for contact {req.contact} in "
                              f'"{req.workflow}" (action {req.id}): {exc}; it stays in the outbox and is '
                              f"delivered again on the next run") from exc
        db.execute("UPDATE outbox SET delivered_at = ? WHERE id = ?", (_time.time(), oid))
