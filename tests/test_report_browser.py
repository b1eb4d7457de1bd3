"""The report in a real browser: headless Chromium (Debian's package, driven
by Playwright for Python), offline. Every chart renders, nothing is
fetched, nothing fails, the console stays clean, and the numbers on the page
are the JSON figures. A screenshot and a printed PDF are left in the test's
temporary folder.

Skipped, saying why, only where Chromium or Playwright is not installed
(.ci/run installs both)."""
from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import pytest

from goaldsl.cli import main

from test_report import expected_value, figure_at, shown_value

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# The flags that work on a machine with no network and no display (root, no sandbox).
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--no-first-run", "--disable-quic", "--disable-dev-shm-usage"]

pytestmark = [
    pytest.mark.skipif(importlib.util.find_spec("playwright") is None,
                       reason="Playwright for Python is not installed (pip install '.[test]')"),
    pytest.mark.skipif(not Path(CHROMIUM).exists(),
                       reason="Chromium is not installed (Debian: apt-get install chromium; .ci/run installs it)"),
    pytest.mark.skipif(importlib.util.find_spec("matplotlib") is None,
                       reason="matplotlib (the `report` extra) is not installed"),
]


def _report(tmp_path: Path, example: str) -> tuple[Path, dict]:
    page, figures = tmp_path / f"{example}.html", tmp_path / f"{example}.json"
    assert main(["report", str(ROOT / "examples" / example), "--out", str(page)]) == 0
    assert main(["report", str(ROOT / "examples" / example), "--format", "json", "--out", str(figures)]) == 0
    return page, json.loads(figures.read_text())


@pytest.mark.parametrize("example", ["review-request", "booked-a-demo"])
def test_the_report_renders_offline_in_chromium(tmp_path, example):
    from playwright.sync_api import sync_playwright
    html_path, figures = _report(tmp_path, example)
    url = html_path.as_uri()
    requests, failed, errors = [], [], []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        try:
            context = browser.new_context(offline=True, viewport={"width": 1280, "height": 800})
            page = context.new_page()
            page.on("request", lambda r: requests.append(r.url))
            page.on("requestfailed", lambda r: failed.append(f"{r.url}: {r.failure}"))
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(url, wait_until="load")

            charts = page.eval_on_selector_all("figure.chart", """figs => figs.map(f => {
                const svg = f.querySelector('.svg svg');
                const box = svg ? svg.getBoundingClientRect() : null;
                return {id: f.id, svg: !!svg, width: box ? box.width : 0, height: box ? box.height : 0,
                        marks: svg ? svg.querySelectorAll('path, rect, line, polyline, use').length : 0,
                        texts: svg ? svg.querySelectorAll('text').length : 0,
                        rows: f.querySelectorAll('table tbody tr').length};
            })""")
            assert len(charts) >= 5
            for c in charts:
                # drawn: an SVG with a real size, marks and words in it, and a table of its numbers
                assert c["svg"] and c["width"] > 300 and c["height"] > 80, c
                assert c["marks"] > 10 and c["texts"] > 3 and c["rows"] >= 1, c

            cells = page.eval_on_selector_all("[data-key]", "els => els.map(e => [e.dataset.key, e.textContent])")
            assert len(cells) > 20
            for key, text in cells:
                key = json.loads(key)
                assert shown_value(key, text) == expected_value(key, figure_at(figures, key)), (key, text)
            # what a reader sees first: the workflow's totals
            w = figures["workflows"][0]
            assert page.inner_text('[data-key=\'["workflows", 0, "enrolled"]\']') == f'{w["enrolled"]:,}'

            shot = tmp_path / f"{example}.png"
            page.screenshot(path=str(shot), full_page=True)
            assert shot.read_bytes().startswith(b"\x89PNG") and shot.stat().st_size > 20_000
            page.emulate_media(media="print")
            pdf = tmp_path / f"{example}.pdf"
            page.pdf(path=str(pdf), format="A4")
            assert pdf.read_bytes().startswith(b"%PDF")
            print(f"\nscreenshot: {shot}\nprinted: {pdf}")
        finally:
            browser.close()
    assert requests == [url]  # the page itself, and nothing else
    assert failed == [] and errors == []
