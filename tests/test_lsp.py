"""The language server, end to end: `python -m goaldsl lsp` over stdio, driven
by pytest-lsp's client.

One server serves the whole module (starting one takes about a second);
every test writes its own files in a fresh folder of the workspace, so the
tests do not see each other's documents.
"""
from __future__ import annotations

import asyncio
import itertools
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("pygls")
pytest_lsp = pytest.importorskip("pytest_lsp")

from lsprotocol import types as T  # noqa: E402
from pygls import uris  # noqa: E402
from pytest_lsp import ClientServerConfig, LanguageClient  # noqa: E402

from goaldsl.syntax.formatter import format_source  # noqa: E402
from goaldsl.syntax.resources import stdlib_dir  # noqa: E402

pytestmark = pytest.mark.asyncio(loop_scope="module")

_counter = itertools.count()


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("lsp-workspace")


@pytest_lsp.fixture(scope="module", config=ClientServerConfig(server_command=[sys.executable, "-m", "goaldsl", "lsp"]))
async def client(lsp_client: LanguageClient, workspace: Path):
    await lsp_client.initialize_session(T.InitializeParams(
        capabilities=T.ClientCapabilities(), root_uri=uris.from_fs_path(str(workspace))))
    yield
    await lsp_client.shutdown_session()


@pytest.fixture
def folder(workspace: Path) -> Path:
    """A fresh folder inside the workspace for one test's files."""
    d = workspace / f"t{next(_counter)}"
    d.mkdir()
    return d


# ---------------------------------------------------------------- helpers

def uri_of(path: Path) -> str:
    return uris.from_fs_path(str(path))


async def settle(client: LanguageClient, uri: str, timeout: float = 15.0) -> list[T.Diagnostic]:
    """Wait for the diagnostics of ``uri`` (call ``expect(client, uri)`` first)."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while uri not in client.diagnostics:
        if loop.time() > end:
            raise AssertionError(f"no diagnostics published for {uri}")
        await asyncio.sleep(0.02)
    return list(client.diagnostics[uri])


def expect(client: LanguageClient, *uris_: str) -> None:
    for u in uris_:
        client.diagnostics.pop(u, None)


async def open_doc(client: LanguageClient, path: Path, text: str, *, write: bool = True) -> list[T.Diagnostic]:
    if write:
        path.write_text(text, encoding="utf-8")
    uri = uri_of(path)
    expect(client, uri)
    client.text_document_did_open(T.DidOpenTextDocumentParams(
        text_document=T.TextDocumentItem(uri=uri, language_id="goal", version=1, text=text)))
    return await settle(client, uri)


_versions = itertools.count(2)


async def change_doc(client: LanguageClient, path: Path, text: str) -> list[T.Diagnostic]:
    uri = uri_of(path)
    expect(client, uri)
    client.text_document_did_change(T.DidChangeTextDocumentParams(
        text_document=T.VersionedTextDocumentIdentifier(uri=uri, version=next(_versions)),
        content_changes=[T.TextDocumentContentChangeWholeDocument(text=text)]))
    return await settle(client, uri)


def pos(text: str, needle: str, delta: int = 0, nth: int = 0) -> T.Position:
    """The position of ``needle`` in ``text`` (plus ``delta`` characters)."""
    at = -1
    for _ in range(nth + 1):
        at = text.index(needle, at + 1)
    at += delta
    line = text.count("\n", 0, at)
    return T.Position(line=line, character=at - (text.rfind("\n", 0, at) + 1))


def end_of(text: str, needle: str) -> T.Position:
    return pos(text, needle, len(needle))


async def complete_at(client: LanguageClient, path: Path, position: T.Position) -> list[T.CompletionItem]:
    res = await client.text_document_completion_async(T.CompletionParams(
        text_document=T.TextDocumentIdentifier(uri=uri_of(path)), position=position))
    if res is None:
        return []
    return res.items if isinstance(res, T.CompletionList) else list(res)


def labels(items) -> list[str]:
    return [i.label for i in items]


async def hover_at(client, path: Path, position: T.Position) -> str | None:
    res = await client.text_document_hover_async(T.HoverParams(
        text_document=T.TextDocumentIdentifier(uri=uri_of(path)), position=position))
    return res.contents.value if res is not None else None


async def definition_at(client, path: Path, position: T.Position) -> list[T.Location]:
    res = await client.text_document_definition_async(T.DefinitionParams(
        text_document=T.TextDocumentIdentifier(uri=uri_of(path)), position=position))
    if res is None:
        return []
    return [res] if isinstance(res, T.Location) else list(res)


PROGRAM = '''\
segment hot_lead = contact.lead_score >= 80 and page.visited(url starts with "/pricing") within 14 days

workflow "Invoice Follow-up" {
    enroll when invoice.sent
    send_invoice("standard", amount: 120) as first_invoice
    wait 3 days
    send_email("invoice-reminder")
    goal "Invoice Paid" {
        when invoice.status_changed(status in [paid, partially_paid], action == first_invoice)
        then { send_email("receipt") }
        on achieved skip to onboarding
        on unmet wait up to 7 days then end
    }
    send_email("survey")
    send_email("onboarding") as onboarding
    goals {
        goal "Hot" { when hot_lead }
    }
}
'''


# ---------------------------------------------------------------- diagnostics

async def test_diagnostics_on_open_match_goal_check(client: LanguageClient, folder: Path):
    text = 'workflow "W" {\n    enroll when email.opend\n    send_email("x")\n}\n'
    diags = await open_doc(client, folder / "program.goal", text)
    assert len(diags) >= 1
    d = diags[0]
    assert d.code == "E0303"
    assert d.source == "goal"
    assert d.severity == T.DiagnosticSeverity.Error
    assert d.message.startswith("unknown event type email.opend")
    assert 'did you mean "email.opened"?' in d.message
    assert d.range == T.Range(start=pos(text, "email.opend"), end=end_of(text, "email.opend"))
    # the same code and summary as `goal check`
    out = subprocess.run([sys.executable, "-m", "goaldsl", "check", "program.goal"], cwd=folder,
                         capture_output=True, text=True)
    assert "error[E0303]: unknown event type email.opend" in out.stdout


async def test_clean_file_has_no_diagnostics(client: LanguageClient, folder: Path):
    assert await open_doc(client, folder / "program.goal", PROGRAM) == []


async def test_contact_data_warnings_as_goal_check_gives_them(client: LanguageClient, folder: Path):
    (folder / "contacts.jsonl").write_text('{"id": "c1", "lead_score": 40}\n')
    text = 'segment s = contact.lead_score == "high"\n'
    diags = await open_doc(client, folder / "program.goal", text)
    assert [(d.code, d.severity, d.range.start) for d in diags] == [
        ("W0501", T.DiagnosticSeverity.Warning, pos(text, '"high"'))]
    out = subprocess.run([sys.executable, "-m", "goaldsl", "check", "program.goal"], cwd=folder,
                         capture_output=True, text=True)
    assert f"program.goal:1:35: warning[W0501]: {diags[0].message}" in out.stdout
    # the contact data changes (saved by another program): the warning goes
    (folder / "contacts.jsonl").write_text('{"id": "c1", "lead_score": "high"}\n')
    expect(client, uri_of(folder / "program.goal"))
    client.workspace_did_change_watched_files(T.DidChangeWatchedFilesParams(changes=[T.FileEvent(
        uri=uri_of(folder / "contacts.jsonl"), type=T.FileChangeType.Changed)]))
    assert await settle(client, uri_of(folder / "program.goal")) == []


async def test_related_information_points_at_the_first_declaration(client: LanguageClient, folder: Path):
    text = "segment a = contact.x > 1\nsegment a = contact.y > 2\n"
    path = folder / "program.goal"
    diags = await open_doc(client, path, text)
    dup = next(d for d in diags if d.code == "E0201")
    assert dup.range.start.line == 1
    assert dup.related_information
    rel = dup.related_information[0]
    assert rel.location.uri == uri_of(path)
    assert rel.location.range.start == T.Position(line=0, character=8)
    assert rel.message == "first declared here"


async def test_diagnostics_after_change_and_recovery(client: LanguageClient, folder: Path):
    path = folder / "program.goal"
    assert await open_doc(client, path, PROGRAM) == []
    broken = PROGRAM.replace("wait 3 days", "wait 3 dayz")
    diags = await change_doc(client, path, broken)
    assert [d.code for d in diags] == ["E0001"]
    assert diags[0].range.start == pos(broken, "dayz")
    # something worse: not a program at all
    diags = await change_doc(client, path, '"unterminated {{{ ((( \x00 \ud7ff workflow')
    assert diags and all(d.source == "goal" for d in diags)
    # still answering while broken
    await hover_at(client, path, T.Position(line=0, character=3))
    assert await complete_at(client, path, T.Position(line=0, character=0)) is not None
    # and back to clean
    assert await change_doc(client, path, PROGRAM) == []
    assert "invoice.status_changed" in await hover_at(client, path, pos(PROGRAM, "invoice.status_changed", 3))


async def test_utf16_positions(client: LanguageClient, folder: Path):
    text = 'segment s = contact.name == "😀😀" and email.opend\n'
    diags = await open_doc(client, folder / "program.goal", text)
    d = next(d for d in diags if d.code == "E0303")
    # each emoji is two UTF-16 code units
    assert d.range.start.character == text.index("email.opend") + 2


async def test_imports_with_unsaved_buffers(client: LanguageClient, folder: Path):
    common = folder / "common.goal"
    main = folder / "main.goal"
    common.write_text("segment engaged = email.opened\n")
    main_text = 'import "./common.goal"\nsegment hot = engaged and contact.lead_score > 50\n'
    assert await open_doc(client, main, main_text) == []
    # an unsaved edit of common.goal that breaks it and drops the segment
    common_text = "segment engagd = email.opened\nsegment broken = email.opend\n"
    expect(client, uri_of(main))
    common_diags = await open_doc(client, common, common_text, write=False)
    assert [d.code for d in common_diags] == ["E0303"]
    main_diags = await settle(client, uri_of(main))
    # main.goal gets only its own problem (the unknown segment), not common.goal's
    assert len(main_diags) == 1
    assert main_diags[0].range.start.line == 1
    assert "engaged" in main_diags[0].message
    # fixing the unsaved buffer fixes main.goal
    expect(client, uri_of(main))
    await change_doc(client, common, "segment engaged = email.opened\n")
    assert await settle(client, uri_of(main)) == []



async def test_problems_of_closed_imported_files_show_on_the_import(client: LanguageClient, folder: Path):
    (folder / "lib").mkdir()
    (folder / "lib" / "mid.goal").write_text('import "./deep.goal"\nsegment mid = deep\n')
    deep = folder / "lib" / "deep.goal"
    deep.write_text('segment deep = email.opened\nsegment bad = email.opend\nsegment worse = page.visitd\n')
    path = folder / "main.goal"
    text = 'import "./lib/mid.goal"\n\nsegment hot = mid\n'
    diags = await open_doc(client, path, text)
    assert len(diags) == 1
    d = diags[0]
    assert d.range == T.Range(start=T.Position(0, 0), end=T.Position(0, len('import "./lib/mid.goal"')))
    assert d.code == "E0303" and d.severity == T.DiagnosticSeverity.Error
    assert d.message == (f"./lib/mid.goal brings in 2 errors; the first:\n"
                         f"{folder.name}/lib/deep.goal:2:15: error[E0303]: unknown event type email.opend")
    assert [(r.location.uri, r.location.range.start, r.message) for r in d.related_information] == [
        (uri_of(deep), T.Position(1, 14), "error[E0303]: unknown event type email.opend"),
        (uri_of(deep), T.Position(2, 16), "error[E0303]: unknown event type page.visitd")]
    # once deep.goal is open, its problems are its own, shown there only
    expect(client, uri_of(path))
    assert len(await open_doc(client, deep, deep.read_text(), write=False)) == 2
    assert await settle(client, uri_of(path)) == []
    # fixed in the editor: nothing anywhere
    expect(client, uri_of(path))
    assert await change_doc(client, deep, "segment deep = email.opened\n") == []
    assert await settle(client, uri_of(path)) == []

async def test_import_problems_point_at_the_import(client: LanguageClient, folder: Path):
    text = 'import "./missing.goal"\n'
    diags = await open_doc(client, folder / "program.goal", text)
    assert [d.code for d in diags] == ["E0101"]
    assert diags[0].range.start.line == 0


async def test_untitled_document(client: LanguageClient):
    uri = "untitled:Untitled-1"
    expect(client, uri)
    client.text_document_did_open(T.DidOpenTextDocumentParams(text_document=T.TextDocumentItem(
        uri=uri, language_id="goal", version=1, text="segment a = email.opend\n")))
    diags = await settle(client, uri)
    assert [d.code for d in diags] == ["E0303"]


async def test_uris_with_spaces_and_percent_signs(client: LanguageClient, folder: Path):
    d = folder / "my programs 100%"
    d.mkdir()
    common = d / "common.goal"
    common.write_text("segment engaged = email.opened\n")
    main = d / "main.goal"
    assert "%20" in uri_of(main)
    text = 'import "./common.goal"\nsegment hot = engaged and email.opend\n'
    diags = await open_doc(client, main, text)
    assert [x.code for x in diags] == ["E0303"]
    expect(client, uri_of(main))
    await open_doc(client, common, "segment engagedd = email.opened\n", write=False)
    diags = await settle(client, uri_of(main))  # re-published under the client's URI
    assert len(diags) == 2
    loc = await definition_at(client, main, pos(text, "./common", 3))
    assert loc[0].uri == uri_of(common)


# ---------------------------------------------------------------- completion

async def test_completion_keywords_in_context(client: LanguageClient, folder: Path):
    path = folder / "program.goal"
    text = 'workflow "W" {\n    \n    goal "G" {\n        \n    }\n}\n\n'
    await open_doc(client, path, text)
    top = labels(await complete_at(client, path, T.Position(line=6, character=0)))
    assert {"workflow", "drip", "segment", "import", "event", "action"} <= set(top)
    assert "wait" not in top and "send_email" not in top
    body = labels(await complete_at(client, path, T.Position(line=1, character=4)))
    assert {"wait", "goal", "enroll", "audience", "if", "skip", "end", "send_email"} <= set(body)
    assert "segment" not in body
    goal = labels(await complete_at(client, path, T.Position(line=3, character=8)))
    assert set(goal) == {"when", "then", "on"}


async def test_completion_after_email_dot(client: LanguageClient, folder: Path):
    path = folder / "program.goal"
    text = 'workflow "W" {\n    enroll when email.\n}\n'
    await open_doc(client, path, text)
    items = await complete_at(client, path, end_of(text, "email."))
    assert set(labels(items)) == {"email.sent", "email.delivered", "email.opened", "email.clicked",
                                  "email.unsubscribed", "email.bounced"}
    opened = next(i for i in items if i.label == "email.opened")
    assert opened.kind == T.CompletionItemKind.Event
    # the edit replaces the whole dotted prefix, not just what follows the dot
    assert opened.text_edit.range.start == pos(text, "email.")
    assert opened.text_edit.new_text == "email.opened"
    assert "event email.opened" in opened.documentation.value


async def test_completion_filter_fields_and_enum_values(client: LanguageClient, folder: Path):
    path = folder / "program.goal"
    text = ('workflow "W" {\n    send_invoice("a") as inv\n    goal "Paid" {\n'
            '        when invoice.status_changed(\n    }\n}\n')
    await open_doc(client, path, text)
    fields = await complete_at(client, path, end_of(text, "status_changed("))
    assert {"invoice", "action", "status", "amount", "contact."} <= set(labels(fields))
    status = next(i for i in fields if i.label == "status")
    assert status.kind == T.CompletionItemKind.Field
    assert "enum(draft" in status.detail

    text2 = text.replace("status_changed(", "status_changed(status == ")
    await change_doc(client, path, text2)
    values = labels(await complete_at(client, path, end_of(text2, "status == ")))
    assert values == ["draft", "sent", "paid", "partially_paid", "overdue", "void"]

    text3 = text.replace("status_changed(", "status_changed(status in [paid, pa")
    await change_doc(client, path, text3)
    assert labels(await complete_at(client, path, end_of(text3, "[paid, pa"))) == ["paid", "partially_paid"]

    text4 = text.replace("status_changed(", "status_changed(action == ")
    await change_doc(client, path, text4)
    assert labels(await complete_at(client, path, end_of(text4, "action == "))) == ["inv"]


async def test_completion_actions_and_parameters(client: LanguageClient, folder: Path):
    path = folder / "program.goal"
    text = 'workflow "W" {\n    send_inv\n}\n'
    await open_doc(client, path, text)
    items = await complete_at(client, path, end_of(text, "send_inv"))
    assert labels(items) == ["send_invoice"]
    assert items[0].kind == T.CompletionItemKind.Function
    assert items[0].text_edit.new_text == "send_invoice("
    assert "template: string" in items[0].detail and "amount: number" in items[0].detail

    text2 = 'workflow "W" {\n    send_invoice("standard", \n}\n'
    await change_doc(client, path, text2)
    params = await complete_at(client, path, end_of(text2, '"standard", '))
    assert {"template", "amount"} <= set(labels(params))
    assert next(i for i in params if i.label == "amount").text_edit.new_text == "amount: "

    text3 = 'workflow "W" {\n    send_review_request(channel: \n}\n'
    await change_doc(client, path, text3)
    assert labels(await complete_at(client, path, end_of(text3, "channel: "))) == ["sms", "email", "whatsapp"]



async def test_action_call_snippets():
    """What a client that takes snippets inserts for an action (the stdio
    test checks one goes over the wire): a placeholder for each required
    parameter, quoted for text, a choice for an enum, none for defaults."""
    from goaldsl.semantics.checker import check
    from goaldsl.semantics.loader import load
    from goaldsl.tools.lsp.editing import call_snippet
    actions = check(load([])).program.actions
    assert call_snippet(actions["send_invoice"]) == 'send_invoice("${1:template}")$0'
    assert call_snippet(actions["send_review_request"]) == "send_review_request(${1|sms,email,whatsapp|})$0"
    assert call_snippet(actions["adjust_score"]) == "adjust_score(${1:by})$0"
    assert call_snippet(actions["notify"]) == 'notify("${1:to}", "${2:message}")$0'
    assert call_snippet(actions["update_contact"]) == "update_contact(${1:name}: ${2:value})$0"

async def test_completion_segments_and_steps(client: LanguageClient, folder: Path):
    path = folder / "program.goal"
    await open_doc(client, path, PROGRAM)
    text = PROGRAM.replace("enroll when invoice.sent", "audience hot")
    await change_doc(client, path, text)
    got = await complete_at(client, path, end_of(text, "audience hot"))
    assert "hot_lead" in labels(got)
    assert next(i for i in got if i.label == "hot_lead").kind == T.CompletionItemKind.Variable

    text2 = PROGRAM.replace("skip to onboarding", "skip to ")
    await change_doc(client, path, text2)
    steps = labels(await complete_at(client, path, end_of(text2, "skip to ")))
    assert {"first_invoice", "onboarding"} <= set(steps)


async def test_completion_contact_attributes(client: LanguageClient, folder: Path):
    (folder / "contacts.jsonl").write_text(
        '{"id": "c1", "email": "a@x.com", "lead_score": 40, "company": {"size": 800, "hq": {"city": "Oslo"}}}\n'
        'not json\n'
        '{"id": "c2", "plan": "pro"}\n')
    path = folder / "program.goal"
    text = 'segment s = contact.stage == "SQL" and contact.\n'
    await open_doc(client, path, text)
    items = labels(await complete_at(client, path, end_of(text, "and contact.")))
    for attr in ("email", "lead_score", "company", "company.size", "company.hq.city", "plan", "stage"):
        assert f"contact.{attr}" in items
    text2 = 'segment s = contact.company.\n'
    await change_doc(client, path, text2)
    assert labels(await complete_at(client, path, end_of(text2, "contact.company."))) == [
        "contact.company.hq", "contact.company.hq.city", "contact.company.size"]



async def test_no_completion_inside_strings_and_comments(client: LanguageClient, folder: Path):
    (folder / "contacts.jsonl").write_text('{"id": "c1", "first_name": "Ana"}\n')
    path = folder / "program.goal"
    text = ('workflow "W" {  # enroll when \n    send_email("welcome ")\n'
            '    notify(to: "ops", message: "Hi {contact.fi}")\n}\n')
    await open_doc(client, path, text)
    assert labels(await complete_at(client, path, end_of(text, "enroll when "))) == []
    assert labels(await complete_at(client, path, end_of(text, '"welcome '))) == []
    assert labels(await complete_at(client, path, end_of(text, 'workflow "'))) == []
    # but an interpolation inside a string gets the contact attributes
    assert labels(await complete_at(client, path, end_of(text, "{contact.fi"))) == ["contact.first_name"]
    # and after the string closes, completion is back
    assert "message" in labels(await complete_at(client, path, end_of(text, '"ops", ')))


async def test_contact_attributes_from_the_workspace_folders_above(client: LanguageClient, folder: Path):
    (folder / "contacts.jsonl").write_text('{"id": "c1", "tier": "gold"}\n')
    (folder / "sub").mkdir()
    (folder / "sub" / "contacts.jsonl").write_text('{"id": "c2", "seats": 3}\n')
    (folder / "sub" / "deeper").mkdir()
    path = folder / "sub" / "deeper" / "program.goal"
    text = 'segment s = contact.\n'
    await open_doc(client, path, text)
    assert labels(await complete_at(client, path, end_of(text, "contact."))) == ["contact.id", "contact.seats", "contact.tier"]
    text2 = 'segment s = contact.seats > 2\n'
    await change_doc(client, path, text2)
    md = await hover_at(client, path, pos(text2, "seats"))
    assert md == f"contact attribute `seats` (seen in `{folder.name}/sub/contacts.jsonl`)"


async def signature_at(client, path: Path, position: T.Position):
    return await client.text_document_signature_help_async(T.SignatureHelpParams(
        text_document=T.TextDocumentIdentifier(uri=uri_of(path)), position=position))


async def test_signature_help_for_action_calls_and_event_filters(client: LanguageClient, folder: Path):
    path = folder / "program.goal"
    text = ('workflow "W" {\n    enroll when email.opened\n    send_invoice("a, b", amount: 1)\n    move_to_list("x", from: "y")\n'
            '    goal "G" { when invoice.status_changed(amount > 1, status in [paid, void]) }\n}\n')
    assert await open_doc(client, path, text) == []

    def active(help_):
        sig = help_.signatures[0]
        if help_.active_parameter is None:
            return None
        start, end = sig.parameters[help_.active_parameter].label
        return sig.label[start:end]

    first = await signature_at(client, path, end_of(text, 'send_invoice("a'))
    assert first.signatures[0].label == "send_invoice(template: string, amount: number = 0)"
    assert active(first) == "template: string"  # the comma is inside the string
    assert "action send_invoice" in first.signatures[0].documentation.value
    assert active(await signature_at(client, path, end_of(text, "amount: "))) == "amount: number = 0"
    assert active(await signature_at(client, path, end_of(text, 'from: "'))) == 'from: string = ""'
    filt = await signature_at(client, path, end_of(text, "[paid, "))
    assert filt.signatures[0].label.startswith("invoice.status_changed(invoice: string, action: step?, status: enum(")
    assert active(filt) == "status: enum(draft, sent, paid, partially_paid, overdue, void)"
    assert active(await signature_at(client, path, end_of(text, "(amount"))) == "amount: number?"
    # outside any call: nothing
    assert await signature_at(client, path, end_of(text, 'goal "G" {')) is None

# ---------------------------------------------------------------- hover

async def test_hover(client: LanguageClient, folder: Path):
    path = folder / "program.goal"
    await open_doc(client, path, PROGRAM)
    event = await hover_at(client, path, pos(PROGRAM, "invoice.status_changed", 9))
    assert "event invoice.status_changed {" in event
    assert "status: enum(draft, sent, paid, partially_paid, overdue, void)" in event
    assert "standard library" in event

    action = await hover_at(client, path, pos(PROGRAM, "send_invoice", 2))
    assert "action send_invoice(template: string, amount: number = 0)" in action

    segment = await hover_at(client, path, pos(PROGRAM, "hot_lead", 2, nth=1))
    assert "segment hot_lead = contact.lead_score >= 80" in segment

    step = await hover_at(client, path, pos(PROGRAM, "first_invoice", 2, nth=1))
    assert "step `first_invoice`" in step and "step 1 of 6" in step and "line 5" in step
    target = await hover_at(client, path, pos(PROGRAM, "skip to onboarding", 10))
    assert "step `onboarding`" in target and "step 6 of 6" in target

    field = await hover_at(client, path, pos(PROGRAM, "status in", 1))
    assert "status: enum(draft" in field
    value = await hover_at(client, path, pos(PROGRAM, "partially_paid", 2))
    assert "invoice.status_changed" in value and "status" in value

    assert await hover_at(client, path, T.Position(line=1, character=0)) is None  # an empty line


async def test_hover_docs_from_comments_and_user_declarations(client: LanguageClient, folder: Path):
    path = folder / "program.goal"
    text = ('# A trial started from the website.\n# Sent by the signup service.\n'
            'event trial.started { plan: enum(basic, pro) }\n'
            'segment pro_trial = trial.started(plan == pro)\n')
    assert await open_doc(client, path, text) == []
    md = await hover_at(client, path, pos(text, "trial.started", 2, nth=1))
    assert "event trial.started { plan: enum(basic, pro) }" in md
    assert "A trial started from the website.\nSent by the signup service." in md
    assert "line 3" in md


async def test_hover_while_the_file_does_not_parse(client: LanguageClient, folder: Path):
    path = folder / "program.goal"
    text = 'workflow "W" {\n    enroll when email.opened\n    send_email(\n'
    await open_doc(client, path, text)
    md = await hover_at(client, path, pos(text, "email.opened", 3))
    assert md and "event email.opened" in md
    md = await hover_at(client, path, pos(text, "send_email", 3))
    assert md and "action send_email" in md


# ---------------------------------------------------------------- definition

async def test_definition(client: LanguageClient, folder: Path):
    common = folder / "common.goal"
    common.write_text('segment engaged = email.opened within 7 days\n')
    path = folder / "program.goal"
    text = 'import "./common.goal"\n' + PROGRAM.replace("when hot_lead", "when hot_lead or engaged")
    assert await open_doc(client, path, text) == []

    seg = await definition_at(client, path, pos(text, "hot_lead", 2, nth=1))
    assert seg[0].uri == uri_of(path) and seg[0].range.start == T.Position(line=1, character=0)

    imported = await definition_at(client, path, pos(text, "engaged", 2))
    assert imported[0].uri == uri_of(common) and imported[0].range.start.line == 0

    step = await definition_at(client, path, pos(text, "skip to onboarding", 10))
    assert step[0].uri == uri_of(path)
    assert step[0].range.start == pos(text, 'send_email("onboarding")')
    by_action = await definition_at(client, path, pos(text, "== first_invoice", 5))
    assert by_action[0].range.start == pos(text, 'send_invoice("standard"')

    imp = await definition_at(client, path, pos(text, "common.goal", 2))
    assert imp[0].uri == uri_of(common)

    ev = await definition_at(client, path, pos(text, "invoice.status_changed", 3))
    assert ev[0].uri.startswith("file:")
    ev_file = Path(uris.to_fs_path(ev[0].uri))
    assert ev_file.is_file() and ev_file.parent == stdlib_dir() and ev_file.name == "events.goal"
    line = ev_file.read_text().split("\n")[ev[0].range.start.line]
    assert line.startswith("event invoice.status_changed")

    act = await definition_at(client, path, pos(text, "send_email", 2))
    act_file = Path(uris.to_fs_path(act[0].uri))
    assert act_file.name == "actions.goal"
    assert act_file.read_text().split("\n")[act[0].range.start.line].startswith("action send_email(")

    assert await definition_at(client, path, T.Position(line=2, character=0)) == []


# ---------------------------------------------------------------- symbols

async def test_document_symbols(client: LanguageClient, folder: Path):
    path = folder / "program.goal"
    text = 'event trial.started { plan: string }\naction ping(url: string)\n' + PROGRAM
    await open_doc(client, path, text)
    res = await client.text_document_document_symbol_async(T.DocumentSymbolParams(
        text_document=T.TextDocumentIdentifier(uri=uri_of(path))))
    by_name = {s.name: s for s in res}
    assert by_name["trial.started"].kind == T.SymbolKind.Event
    assert [c.name for c in by_name["trial.started"].children] == ["plan"]
    assert by_name["ping"].kind == T.SymbolKind.Function
    assert by_name["hot_lead"].kind == T.SymbolKind.Variable
    wf = by_name["Invoice Follow-up"]
    assert wf.kind == T.SymbolKind.Class and wf.detail == "workflow"
    assert [c.name for c in wf.children] == ["first_invoice", "wait 3 days", "send_email", "Invoice Paid",
                                             "send_email", "onboarding", "Hot"]
    assert wf.children[3].detail == "goal step" and wf.children[-1].detail == "exit goal"
    assert wf.children[0].selection_range.start == pos(text, "first_invoice")
    # a document that does not parse has no symbols, and the server carries on
    await change_doc(client, path, "workflow {")
    res = await client.text_document_document_symbol_async(T.DocumentSymbolParams(
        text_document=T.TextDocumentIdentifier(uri=uri_of(path))))
    assert res == [] or res is None


# ---------------------------------------------------------------- formatting

async def format_doc(client, path: Path):
    return await client.text_document_formatting_async(T.DocumentFormattingParams(
        text_document=T.TextDocumentIdentifier(uri=uri_of(path)),
        options=T.FormattingOptions(tab_size=4, insert_spaces=True)))


async def test_formatting(client: LanguageClient, folder: Path):
    path = folder / "program.goal"
    messy = 'workflow   "W"{enroll when email.opened\n  send_email( "hi" )   as   hello # say hi\n wait 2   days}'
    await open_doc(client, path, messy)
    edits = await format_doc(client, path)
    assert len(edits) == 1
    expected, _ = format_source(messy, "program.goal")
    assert edits[0].new_text == expected
    assert edits[0].range.start == T.Position(line=0, character=0)
    assert edits[0].range.end == T.Position(line=2, character=len(" wait 2   days}"))
    assert "# say hi" in expected
    # already formatted: nothing to do
    await change_doc(client, path, expected)
    assert not await format_doc(client, path)
    # does not parse: nothing
    await change_doc(client, path, 'workflow "W" { wait }')
    assert not await format_doc(client, path)


# ---------------------------------------------------------------- robustness

async def test_the_server_survives_anything(client: LanguageClient, folder: Path):
    path = folder / "program.goal"
    await open_doc(client, path, "")
    client.log_messages.clear()
    nasty = [
        "(" * 5000,
        "not " * 3000 + "email.opened",
        'segment a = "' + "x" * 10000,
        "workflow \"W\" {\n" + "    if email.opened {\n" * 300,
        "\ufeff\u202e\u0000segment é = contact.名前 == 1\r\n",
        "segment a = a\nsegment b = b and a\n",
        'workflow "W" { wait until 25:99 wait until 2026-13-45T99:99 timezone "Mars/Olympus" }',
        "event e { x: enum() }\naction a(...r, ...r) emits nothing.here(x: y)\n",
    ]
    for text in nasty:
        diags = await change_doc(client, path, text)
        assert isinstance(diags, list)
        for position in (T.Position(line=0, character=0), T.Position(line=0, character=10),
                         T.Position(line=400, character=400)):
            await complete_at(client, path, position)
            await hover_at(client, path, position)
            await definition_at(client, path, position)
        await client.text_document_document_symbol_async(T.DocumentSymbolParams(
            text_document=T.TextDocumentIdentifier(uri=uri_of(path))))
        await format_doc(client, path)
    # every one of them was handled, none by the last-resort guard
    assert [m.message for m in client.log_messages if "internal error" in m.message] == []
    # requests about a document the client never opened (and that does not exist)
    ghost = folder / "ghost.goal"
    assert await hover_at(client, ghost, T.Position(line=0, character=0)) is None
    assert await complete_at(client, ghost, T.Position(line=0, character=0)) is not None
    # (answered as for an empty file, without reaching the last-resort guard)
    assert [m.message for m in client.log_messages if "internal error" in m.message] == []
    # and it still works normally
    assert await change_doc(client, path, PROGRAM) == []
    assert "event invoice.sent" in await hover_at(client, path, pos(PROGRAM, "invoice.sent", 2))



async def test_typing_a_program_from_scratch(client: LanguageClient, folder: Path):
    """Every few characters of a program typed in order (incremental edits,
    as an editor sends them): diagnostics each time, and completion, hover
    and definition at the cursor, none failing inside the server."""
    path = folder / "program.goal"
    await open_doc(client, path, "", write=False)
    client.log_messages.clear()
    text = PROGRAM

    def at(offset: int) -> T.Position:
        line = text.count("\n", 0, offset)
        return T.Position(line=line, character=offset - (text.rfind("\n", 0, offset) + 1))

    done = 0
    for cut in list(range(3, len(text), 11)) + [len(text)]:
        expect(client, uri_of(path))
        client.text_document_did_change(T.DidChangeTextDocumentParams(
            text_document=T.VersionedTextDocumentIdentifier(uri=uri_of(path), version=next(_versions)),
            content_changes=[T.TextDocumentContentChangePartial(range=T.Range(start=at(done), end=at(done)),
                                                                text=text[done:cut])]))
        await settle(client, uri_of(path))
        done = cut
        await complete_at(client, path, at(cut))
        await hover_at(client, path, at(cut))
        await definition_at(client, path, at(cut))
    assert [m.message for m in client.log_messages if "internal error" in m.message] == []
    # the server holds the program: clean, and it formats as `goal fmt` formats the program
    assert await settle(client, uri_of(path)) == []
    [edit] = await format_doc(client, path)
    assert edit.new_text == format_source(PROGRAM, "program.goal")[0]

# ---------------------------------------------------------------- the command line

async def test_goal_lsp_without_pygls(tmp_path):
    """`goal lsp` says how to install pygls when a broken install lacks it."""
    code = ("import sys; sys.modules['pygls'] = None; sys.modules['pygls.lsp'] = None; "
            "sys.modules['pygls.lsp.server'] = None; from goaldsl.cli import main; sys.exit(main(['lsp']))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 1
    assert "pip install pygls" in out.stderr and "goaldsl[lsp]" not in out.stderr
    assert "Traceback" not in out.stderr


async def test_a_segment_from_a_sibling_file_of_a_folder_program(client: LanguageClient, folder: Path):
    # `goal run FOLDER` reads every .goal file of the folder as one program:
    # the editor knows the segments of the sibling files too.
    prog = folder / "prog"
    prog.mkdir()
    seg_file = prog / "segments.goal"
    seg_file.write_text("segment engaged = email.opened within 7 days\n")
    path = prog / "program.goal"
    text = 'workflow "W" {\n    audience engaged\n    send_email("hi")\n}\n'
    assert await open_doc(client, path, text) == []
    target = await definition_at(client, path, pos(text, "engaged", 2))
    assert target[0].uri == uri_of(seg_file) and target[0].range.start.line == 0
    # a name no file of the folder defines is still an error
    diags = await change_doc(client, path, text.replace("audience engaged", "audience engagd"))
    assert [d.code for d in diags] == ["E0301"]
    assert diags[0].message.startswith("unknown segment engagd")


async def test_a_request_about_an_unopened_named_pipe_does_not_block(client: LanguageClient, folder: Path):
    # Issue 18: a hover for a file:// URI the client never opened read the file
    # from disk; a named pipe with no writer blocked the server for good.
    import os
    if not hasattr(os, "mkfifo"):
        pytest.skip("needs named pipes")
    pipe = folder / "pipe.goal"
    os.mkfifo(pipe)
    for ask in (hover_at, definition_at, complete_at):
        await asyncio.wait_for(ask(client, pipe, T.Position(line=0, character=0)), timeout=30)
    symbols = await asyncio.wait_for(client.text_document_document_symbol_async(T.DocumentSymbolParams(
        text_document=T.TextDocumentIdentifier(uri=uri_of(pipe)))), timeout=30)
    assert not symbols
    # a real file beside it is still read from disk when it is not open
    other = folder / "other.goal"
    other.write_text(PROGRAM)
    assert "event invoice.sent" in await asyncio.wait_for(
        hover_at(client, other, pos(PROGRAM, "invoice.sent", 2)), timeout=30)
    assert [m.message for m in client.log_messages if "internal error" in m.message] == []


# ---------------------------------------------------------------- test files (*_test.goal)

TESTED = ('workflow "W" {\n    enroll when form.submitted\n    send_email("a") as hello\n    wait 1 day as pause\n'
          '    goals {\n        goal "Clicked" { when email.clicked }\n    }\n}\n')


async def test_a_test_file_is_checked_with_its_program(client: LanguageClient, folder: Path):
    (folder / "program.goal").write_text(TESTED)
    path = folder / "program_test.goal"
    text = ('test "t" {\n    from 2026-11-16T09:00Z\n\n    event c1 form.submitted(form: "x")\n\n'
            '    expect c1 achieved "Clickd"\n    expect c1 achieved "Clicked"\n}\n')
    diags = await open_doc(client, path, text)
    assert [(d.code, d.range.start.line) for d in diags] == [("E0609", 5)]
    assert "Clicked" in diags[0].message or "Clicked" in (diags[0].message + str(diags[0].data))


async def test_completion_in_a_test_file(client: LanguageClient, folder: Path):
    (folder / "program.goal").write_text(TESTED)
    path = folder / "program_test.goal"
    text = ('test "t" {\n    from 2026-11-16T09:00Z\n\n    contact c1\n\n    event c1 \n\n'
            '    expect c1 achieved "\n    expect c1 in step \n    expect \n}\n')
    await open_doc(client, path, text)
    events = labels(await complete_at(client, path, end_of(text, "event c1 ")))
    assert "form.submitted" in events and "send_email" not in events
    goals = labels(await complete_at(client, path, end_of(text, 'achieved "')))
    assert goals == ["Clicked"]
    steps = labels(await complete_at(client, path, end_of(text, "in step ")))
    assert set(steps) == {"hello", "pause"}
    contacts = labels(await complete_at(client, path, end_of(text, "    expect ", )))
    assert contacts == ["c1"]


async def test_hover_on_an_expected_goal(client: LanguageClient, folder: Path):
    (folder / "program.goal").write_text(TESTED)
    path = folder / "program_test.goal"
    text = 'test "t" {\n    from 2026-11-16T09:00Z\n\n    contact c1\n\n    expect c1 achieved "Clicked"\n}\n'
    await open_doc(client, path, text)
    res = await client.text_document_hover_async(T.HoverParams(
        text_document=T.TextDocumentIdentifier(uri=uri_of(path)), position=pos(text, '"Clicked"', 2)))
    assert res is not None
    value = res.contents.value if hasattr(res.contents, "value") else str(res.contents)
    assert 'exit goal "Clicked" of workflow "W"' in value and "when email.clicked" in value


# ---------------------------------------------------------------- issue 16: the newer settings

SETTINGS_PROGRAM = '''\
workflow "Trial" {
    evaluate every 1 week on monday at 09:00
    timezone "America/New_York"
    audience "trial" in contact.tags
    skip enrollment if goal met
    exit when audience no longer matches
    send_email("a")
    goals {
        goal "Upgraded" { when contact.plan == "pro" }
    }
}

workflow "Again" {
    enroll when form.submitted
    allow reentry after 30 days
    send_email("b")
}
'''


async def test_settings_of_issue_16_complete_and_hover(client: LanguageClient, folder: Path):
    path = folder / "program.goal"
    assert await open_doc(client, path, SETTINGS_PROGRAM) == []
    tick = await hover_at(client, path, pos(SETTINGS_PROGRAM, "evaluate every 1 week", 3))
    assert "evaluate every 1 week on monday at 09:00" in tick and "wall clock" in tick
    skip = await hover_at(client, path, pos(SETTINGS_PROGRAM, "skip enrollment", 6))
    assert "skip enrollment if goal met" in skip and "`not_enrolled`" in skip
    leave = await hover_at(client, path, pos(SETTINGS_PROGRAM, "no longer", 3))
    assert "exit when audience no longer matches" in leave and "reason `audience`" in leave
    again = await hover_at(client, path, pos(SETTINGS_PROGRAM, "reentry after", 2))
    assert "allow reentry after 30 days" in again and "previous enrollment began" in again
    # Completion walks each setting word by word.
    text = 'workflow "W" {\n    skip \n}\n'
    await change_doc(client, path, text)
    assert {"enrollment", "to"} <= set(labels(await complete_at(client, path, end_of(text, "skip "))))
    text = 'workflow "W" {\n    exit when audience no \n}\n'
    await change_doc(client, path, text)
    assert labels(await complete_at(client, path, end_of(text, "no "))) == ["longer"]
    text = 'workflow "W" {\n    enroll when form.submitted\n    allow reentry \n}\n'
    await change_doc(client, path, text)
    assert "after" in labels(await complete_at(client, path, end_of(text, "reentry ")))
    text = 'workflow "W" {\n    evaluate every 1 day \n}\n'
    await change_doc(client, path, text)
    assert {"at", "on"} <= set(labels(await complete_at(client, path, end_of(text, "1 day "))))


async def test_which_step_sent_it_completes_and_hovers(client: LanguageClient, folder: Path):
    path = folder / "program.goal"
    text = ('workflow "Invite" {\n    enroll when form.submitted\n    send_email("w") as Invite\n'
            '    goals {\n        goal "Opened" { when email.opened(step == Invite) }\n    }\n}\n')
    assert await open_doc(client, path, text) == []
    fields = labels(await complete_at(client, path, end_of(text, "email.opened(")))
    assert {"email", "workflow", "step"} <= set(fields)
    assert labels(await complete_at(client, path, end_of(text, "step == "))) == ["Invite"]
    event = await hover_at(client, path, pos(text, "email.opened", 3))
    assert "workflow: string?" in event and "step: step?" in event
    text2 = text.replace("email.opened(step == Invite)", "email.opened(workflow == )")
    await change_doc(client, path, text2)
    assert labels(await complete_at(client, path, end_of(text2, "workflow == "))) == ['"Invite"']


async def test_trigger_fields_complete_and_hover(client: LanguageClient, folder: Path):
    path = folder / "program.goal"
    text = ('workflow "Cart" {\n    enroll when purchase.completed\n    send_email("w")\n'
            '    goals {\n        goal "Again" { when purchase.completed(product == trigger.product) }\n    }\n}\n')
    assert await open_doc(client, path, text) == []
    items = labels(await complete_at(client, path, end_of(text, "trigger.")))
    assert set(items) == {"trigger.time", "trigger.amount", "trigger.product"}
    md = await hover_at(client, path, pos(text, "trigger.product", 9))
    assert "trigger.product: string?" in md and "`purchase.completed`" in md


async def test_within_after_completes_event_types_and_hovers(client: LanguageClient, folder: Path):
    path = folder / "program.goal"
    text = ('workflow "Invite" {\n    enroll when form.submitted\n    send_email("w")\n    goals {\n'
            '        goal "Clicked" { when email.clicked within 1 day after email.sent(email == "w") }\n    }\n}\n')
    assert await open_doc(client, path, text) == []
    md = await hover_at(client, path, pos(text, "email.sent(", 3))
    assert "event email.sent {" in md
    partial = text.replace('within 1 day after email.sent(email == "w")', "within 1 day ")
    await change_doc(client, path, partial)
    assert "after" in labels(await complete_at(client, path, end_of(partial, "within 1 day ")))
    partial = text.replace('email.sent(email == "w")', "")
    await change_doc(client, path, partial)
    after = labels(await complete_at(client, path, end_of(partial, "after ")))
    assert "email.sent" in after and "send_email" not in after and "contact." not in after
