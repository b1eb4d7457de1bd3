"""A real session with `goal lsp` over stdio, spoken by hand.

No LSP library on the client side: the test frames JSON-RPC messages with
``Content-Length`` headers itself, as an editor would, so it checks the
bytes on the wire (headers, UTF-8 bodies, notifications interleaved with
answers) and the installed `goal` command, not just the Python objects
pytest-lsp sees. One session: initialize, didOpen of a file with an unknown
event type, an edit, completion after ``email.``, hover, formatting,
document symbols, messages no editor should send (bad JSON, unknown methods,
bad parameters), shutdown and exit.
"""
from __future__ import annotations

import json
import queue
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

pytest.importorskip("pygls")

TIMEOUT = 20.0

BROKEN = 'workflow "Welcome" {\n    enroll when email.opend\n    send_email("welcome") as hello\n}\n'
EDITED = 'workflow "Welcome" {\n    enroll when email.\n    send_email("welcome") as hello\n}\n'
MESSY = 'workflow   "Welcome"{enroll when email.opened\n  send_email( "welcome" )   as   hello  # hi\n wait 2   days}'


def _server_command() -> list[str]:
    exe = shutil.which("goal")
    return [exe, "lsp"] if exe else [sys.executable, "-m", "goaldsl", "lsp"]


class Session:
    """A JSON-RPC peer over a subprocess's stdin and stdout."""

    def __init__(self, cwd: Path):
        self.proc = subprocess.Popen(_server_command(), cwd=cwd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE)
        self.inbox: "queue.Queue[dict | None]" = queue.Queue()
        self.notifications: list[dict] = []
        self.server_requests: list[dict] = []
        self.next_id = 0
        self.stderr = b""
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=self._drain_stderr, daemon=True).start()

    def _drain_stderr(self) -> None:
        self.stderr = self.proc.stderr.read()

    def _read(self) -> None:
        out = self.proc.stdout
        try:
            while True:
                headers = {}
                while True:
                    line = out.readline()
                    if not line:
                        self.inbox.put(None)
                        return
                    line = line.decode("ascii").strip()
                    if not line:
                        break
                    name, _, value = line.partition(":")
                    headers[name.strip().lower()] = value.strip()
                body = out.read(int(headers["content-length"]))
                self.inbox.put(json.loads(body.decode("utf-8")))
        except Exception as e:  # noqa: BLE001 - shown by the test that waits
            self.inbox.put({"reader error": repr(e)})

    def send(self, message: dict) -> None:
        body = json.dumps({"jsonrpc": "2.0", **message}, ensure_ascii=False).encode("utf-8")
        self.proc.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self.proc.stdin.flush()

    def notify(self, method: str, params: dict) -> None:
        self.send({"method": method, "params": params})

    def _next(self, deadline: float) -> dict:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError("the server did not answer in time")
        try:
            msg = self.inbox.get(timeout=left)
        except queue.Empty:
            raise AssertionError("the server did not answer in time") from None
        if msg is None:
            raise AssertionError(f"the server closed its output; stderr: {self.stderr.decode(errors='replace')}")
        assert "reader error" not in msg, msg
        return msg

    def request(self, method: str, params: dict, *, error: bool = False):
        """The result of a request (its error with ``error=True``)."""
        self.next_id += 1
        rid = self.next_id
        self.send({"id": rid, "method": method, "params": params})
        deadline = time.monotonic() + TIMEOUT
        while True:
            msg = self._next(deadline)
            if msg.get("id") == rid and "method" not in msg:
                if error:
                    assert "error" in msg, msg
                    return msg["error"]
                assert "error" not in msg, msg
                return msg.get("result")
            if "method" in msg and "id" in msg:  # a request from the server: say yes
                self.server_requests.append(msg)
                self.send({"id": msg["id"], "result": None})
            elif "method" in msg:
                self.notifications.append(msg)

    def diagnostics(self, uri: str) -> list[dict]:
        """The next diagnostics published for ``uri`` (or already received)."""
        deadline = time.monotonic() + TIMEOUT
        while True:
            for i, n in enumerate(self.notifications):
                if n["method"] == "textDocument/publishDiagnostics" and n["params"]["uri"] == uri:
                    del self.notifications[i]
                    return n["params"]["diagnostics"]
            msg = self._next(deadline)
            if "method" in msg and "id" in msg:
                self.server_requests.append(msg)
                self.send({"id": msg["id"], "result": None})
            elif "method" in msg:
                self.notifications.append(msg)


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    root = tmp_path_factory.mktemp("stdio")
    s = Session(root)
    yield s, root
    if s.proc.poll() is None:
        s.proc.kill()
        s.proc.wait()


def _uri(path: Path) -> str:
    return path.as_uri()


def test_a_real_session_over_stdio(session):
    s, root = session
    path = root / "welcome.goal"
    path.write_text(BROKEN, encoding="utf-8")
    uri = _uri(path)

    init = s.request("initialize", {"processId": None, "rootUri": _uri(root), "capabilities": {
        "workspace": {"didChangeWatchedFiles": {"dynamicRegistration": True}},
        "textDocument": {"completion": {"completionItem": {"snippetSupport": True}}}}})
    caps = init["capabilities"]
    assert init["serverInfo"]["name"] == "goal-lsp"
    for cap in ("completionProvider", "hoverProvider", "definitionProvider", "documentSymbolProvider",
                "documentFormattingProvider"):
        assert caps.get(cap), cap
    assert "." in caps["completionProvider"]["triggerCharacters"]
    s.notify("initialized", {})

    # didOpen of a file with an unknown event type: one diagnostic, as `goal check` says it
    s.notify("textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": "goal", "version": 1,
                                                       "text": BROKEN}})
    diags = s.diagnostics(uri)
    # the server asked to hear of .goal files and contact data changed outside the editor
    [reg] = [r for r in s.server_requests if r["method"] == "client/registerCapability"]
    [watch] = reg["params"]["registrations"]
    assert watch["method"] == "workspace/didChangeWatchedFiles"
    assert [w["globPattern"] for w in watch["registerOptions"]["watchers"]] == ["**/*.goal", "**/contacts.jsonl"]
    d = diags[0]
    assert d["code"] == "E0303" and d["source"] == "goal" and d["severity"] == 1
    assert d["message"].startswith("unknown event type email.opend")
    assert 'did you mean "email.opened"?' in d["message"]
    assert d["range"] == {"start": {"line": 1, "character": 16}, "end": {"line": 1, "character": 27}}
    # every one of them as `goal check` reports it: place, code, summary
    check = subprocess.run([sys.executable, "-m", "goaldsl", "check", "welcome.goal"], cwd=root,
                           capture_output=True, text=True)
    reported = re.findall(r"^welcome\.goal:(\d+):(\d+): (error|warning)\[(\w+)\]: (.*)$",
                          check.stdout + check.stderr, re.MULTILINE)
    assert reported and [(int(ln), int(col), code, summary) for ln, col, _sev, code, summary in reported] == [
        (x["range"]["start"]["line"] + 1, x["range"]["start"]["character"] + 1, x["code"],
         x["message"].split("\n")[0]) for x in diags]

    # an edit (incremental, as VS Code sends it): `email.opend` -> `email.`
    s.notify("textDocument/didChange", {
        "textDocument": {"uri": uri, "version": 2},
        "contentChanges": [{"range": {"start": {"line": 1, "character": 22}, "end": {"line": 1, "character": 27}},
                            "text": ""}]})
    assert [x["code"] for x in s.diagnostics(uri)] == ["E0001"]  # `email.` alone does not parse

    # completion after `email.`: the email event types, replacing the whole dotted word
    res = s.request("textDocument/completion", {"textDocument": {"uri": uri},
                                                "position": {"line": 1, "character": 22},
                                                "context": {"triggerKind": 2, "triggerCharacter": "."}})
    items = res["items"] if isinstance(res, dict) else res
    assert sorted(i["label"] for i in items) == sorted(
        ["email.sent", "email.delivered", "email.opened", "email.clicked", "email.unsubscribed", "email.bounced"])
    opened = next(i for i in items if i["label"] == "email.opened")
    assert opened["textEdit"] == {"range": {"start": {"line": 1, "character": 16},
                                            "end": {"line": 1, "character": 22}}, "newText": "email.opened"}

    # back to a valid program, then hover over the action and the step name
    s.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": 3},
                                        "contentChanges": [{"text": MESSY}]})
    assert s.diagnostics(uri) == []
    # a client that takes snippets gets calls with a placeholder for each required parameter
    res = s.request("textDocument/completion", {"textDocument": {"uri": uri}, "position": {"line": 1, "character": 9}})
    items = {i["label"]: i for i in (res["items"] if isinstance(res, dict) else res)}
    assert items["send_email"]["insertTextFormat"] == 2
    assert items["send_email"]["textEdit"]["newText"] == 'send_email("${1:template}")$0'
    assert list(items) == ["send_email"]
    hover = s.request("textDocument/hover", {"textDocument": {"uri": uri}, "position": {"line": 1, "character": 4}})
    assert hover["contents"]["kind"] == "markdown"
    assert "action send_email(template: string)" in hover["contents"]["value"]
    assert hover["range"] == {"start": {"line": 1, "character": 2}, "end": {"line": 1, "character": 12}}
    hover = s.request("textDocument/hover", {"textDocument": {"uri": uri}, "position": {"line": 0, "character": 38}})
    assert "event email.opened" in hover["contents"]["value"]

    # formatting: one edit giving the `goal fmt` text
    path.write_text(MESSY, encoding="utf-8")
    fmt = subprocess.run([sys.executable, "-m", "goaldsl", "fmt", "--check", "welcome.goal"], cwd=root,
                         capture_output=True, text=True)
    assert fmt.returncode != 0  # `goal fmt` agrees it is not formatted
    edits = s.request("textDocument/formatting", {"textDocument": {"uri": uri},
                                                  "options": {"tabSize": 4, "insertSpaces": True}})
    assert len(edits) == 1
    formatted = edits[0]["newText"]
    assert edits[0]["range"] == {"start": {"line": 0, "character": 0}, "end": {"line": 2, "character": 15}}
    assert formatted.startswith('workflow "Welcome" {\n    enroll when email.opened\n')
    assert 'send_email("welcome") as hello  # hi' in formatted
    path.write_text(formatted, encoding="utf-8")
    assert subprocess.run([sys.executable, "-m", "goaldsl", "fmt", "--check", "welcome.goal"], cwd=root,
                          capture_output=True, text=True).returncode == 0

    # document symbols: the workflow and its steps
    s.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": 4},
                                        "contentChanges": [{"text": formatted}]})
    assert s.diagnostics(uri) == []
    symbols = s.request("textDocument/documentSymbol", {"textDocument": {"uri": uri}})
    assert [x["name"] for x in symbols] == ["Welcome"]
    assert [c["name"] for c in symbols[0]["children"]] == ["hello", "wait 2 days"]

    # a broken file is diagnosed, and the server answers the next request
    s.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": 5},
                                        "contentChanges": [{"text": "workflow {{{ ((( \"\n"}]})
    assert s.diagnostics(uri)
    assert s.request("textDocument/documentSymbol", {"textDocument": {"uri": uri}}) in ([], None)

    # messages no editor should send: each is answered or ignored, and the server carries on
    s.proc.stdin.write(b"Content-Length: 9\r\n\r\n{not json")
    s.proc.stdin.flush()
    assert s.request("goal/nonsense", {}, error=True)["code"] == -32601  # method not found
    assert s.request("textDocument/hover", {"bogus": 1}, error=True)["code"] == -32602  # invalid params
    assert s.request("textDocument/hover", {"textDocument": {"uri": uri}, "position": {"line": -1, "character": 0}},
                     error=True)["code"] == -32602
    s.notify("textDocument/didOpen", {"textDocument": {"uri": uri}})
    s.notify("textDocument/didChange", {"textDocument": {"uri": _uri(root / "never-opened.goal"), "version": 1},
                                        "contentChanges": [{"text": "x"}]})
    s.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": 6},
                                        "contentChanges": [{"text": formatted}]})
    assert s.diagnostics(uri) == []
    assert [x["name"] for x in s.request("textDocument/documentSymbol", {"textDocument": {"uri": uri}})] == ["Welcome"]

    # shutdown and exit: a clean end, exit code 0
    assert s.request("shutdown", None) is None
    s.notify("exit", None)
    assert s.proc.wait(timeout=TIMEOUT) == 0
