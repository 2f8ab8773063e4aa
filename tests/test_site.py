"""The rendered course site (`make site`), opened page by page in a real (headless) browser.

The site is built once for this module by docs/site/build.py into build/site (notebooks are
executed only when they, the package or the stack changed since the last build), then served
from 127.0.0.1 and every page is opened in Debian's Chromium. For every page:

- it loads (HTTP 200), raises no JavaScript error and logs no console error;
- it requests nothing outside the site (a reader may be offline; no CDN is reachable here);
- **every static figure is drawn**: each plotly figure div holds an SVG plot with as many traces
  as the figure has, and the page has as many figures as the build rendered for that notebook;
- its mathematics is typeset by the MathJax the site serves;
- notebook pages have a launch-on-Binder button that opens that notebook in JupyterLab, and
  previous/next links; the landing page lists the notebooks in the course map's order.

Prints every page's size (HTML, and bytes actually transferred) and writes build/site_pages.json.
Needs Chromium at /usr/bin/chromium and playwright; without them the test is skipped, unless
``CI=true``, where it fails. ``NTK_SITE_DIR`` points at an already built site folder instead.
"""

from __future__ import annotations

import functools
import http.server
import importlib.util
import json
import os
import re
import threading
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]
BINDER = "https://mybinder.org/v2/gh/ntk-course/ntk-course/main?urlpath=lab/tree/notebooks/"
PAGES_JSON = ROOT / "build" / "site_pages.json"
LOAD_S = 60



def _site_builder():
    spec = importlib.util.spec_from_file_location("site_build", ROOT / "docs" / "site" / "build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def site(chromium_available):
    """(html folder, build report): the site as `make site` builds it."""
    given = os.environ.get("NTK_SITE_DIR")
    if given:
        out = Path(given).resolve()
        return out / "html", json.loads((out / "report.json").read_text())
    out = ROOT / "build" / "site"
    report = _site_builder().build(out, timeout=300.0, force=False)
    return out / "html", report


@pytest.fixture(scope="module")
def server(site):
    html, _ = site
    handler = functools.partial(_QuietHandler, directory=str(html))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # no access log on stderr
        pass


@pytest.fixture(scope="module")
def browser(server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS,
                                      headless=True, timeout=60_000)
        try:
            yield chromium
        finally:
            chromium.close()


def _course_pages() -> list[str]:
    names = _site_builder().course_map((ROOT / "README.md").read_text(encoding="utf-8"))[1]
    return ["index.html", *(f"notebooks/{Path(n).stem}.html" for n in names)]


JS_FIGURES = """() => [...document.querySelectorAll('.plotly-graph-div')].map(div => ({
    id: div.id,
    traces: (div.data || []).length,
    drawn: (div._fullData || []).length,
    svg: div.querySelectorAll('svg.main-svg').length,
    plotted: div.querySelectorAll('.cartesianlayer .trace, .heatmaplayer .hm, .pielayer .trace,'
                                   + ' .barlayer .trace, g.trace').length,
    width: div.getBoundingClientRect().width,
    height: div.getBoundingClientRect().height,
}))"""


def _open(browser, server, page_path):
    """Open one page; returns (page, facts about the visit)."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    facts = {"console_errors": [], "page_errors": [], "failed": [], "outside": [], "bytes": 0}
    page.on("console", lambda m: m.type == "error" and facts["console_errors"].append(m.text))
    page.on("pageerror", lambda e: facts["page_errors"].append(str(e)))
    page.on("requestfailed", lambda r: facts["failed"].append(f"{r.url} ({r.failure})"))

    def route(route_):
        if route_.request.url.startswith(server):
            route_.continue_()
        else:  # nothing outside the site: a reader may be offline
            facts["outside"].append(route_.request.url)
            route_.abort()

    page.route("**/*", route)

    def count(response):
        try:
            facts["bytes"] += len(response.body())
        except Exception:  # noqa: BLE001 - a redirect or aborted response has no body
            pass

    page.on("response", count)
    response = page.goto(f"{server}/{page_path}", wait_until="load", timeout=LOAD_S * 1000)
    facts["status"] = response.status
    page.wait_for_load_state("networkidle", timeout=LOAD_S * 1000)
    return context, page, facts


@pytest.mark.timeout(900)
def test_every_page_loads_draws_its_figures_and_typesets_its_maths(site, server, browser):
    html, report = site
    pages = _course_pages()
    results, problems = {}, []
    for page_path in pages:
        context, page, facts = _open(browser, server, page_path)
        try:
            where = f"{page_path}:"
            if facts["status"] != 200:
                problems.append(f"{where} HTTP {facts['status']}")
            for kind in ("console_errors", "page_errors", "failed", "outside"):
                problems.extend(f"{where} {kind}: {item}" for item in facts[kind])

            figures = page.evaluate(JS_FIGURES)
            name = Path(page_path).stem + ".ipynb"
            expected = report["notebooks"].get(name, {}).get("figures", 0)
            if len(figures) != expected:
                problems.append(f"{where} {len(figures)} figures in the page, {expected} rendered")
            for figure in figures:
                drawn = (figure["traces"] > 0 and figure["drawn"] == figure["traces"]
                         and figure["svg"] > 0 and figure["plotted"] > 0
                         and figure["width"] > 100 and figure["height"] > 100)
                if not drawn:
                    problems.append(f"{where} figure {figure['id']} not drawn: {figure}")

            maths = page.locator(".math").count()
            if maths:
                page.wait_for_function("() => document.querySelectorAll('mjx-container').length"
                                       " > 0", timeout=LOAD_S * 1000)
                typeset = page.locator("mjx-container").count()
                if typeset < maths:
                    problems.append(f"{where} {maths} formulas, {typeset} typeset by MathJax")

            links = page.eval_on_selector_all("a[href]", "els => els.map(e => e.href)")
            if page_path.startswith("notebooks/"):
                launch = BINDER + name
                if launch not in links:
                    problems.append(f"{where} no launch-on-Binder link to {launch}")
                if not page.locator(".prev-next-area a").count():
                    problems.append(f"{where} no previous/next navigation")
            else:
                order = [Path(p).stem for p in pages[1:]]
                listed = [Path(re.sub(r"[#?].*$", "", link)).stem for link in links
                          if "/notebooks/" in link and link.startswith(server)]
                firsts = list(dict.fromkeys(listed))
                if [s for s in firsts if s in order] != order:
                    problems.append(f"{where} course map order {firsts}, expected {order}")
            results[page_path] = {
                "figures": len(figures),
                "formulas": maths,
                "html_mb": round((html / page_path).stat().st_size / 1e6, 3),
                "transferred_mb": round(facts["bytes"] / 1e6, 3),
            }
        finally:
            context.close()

    PAGES_JSON.parent.mkdir(exist_ok=True)
    PAGES_JSON.write_text(json.dumps(results, indent=2) + "\n")
    print("\npage                                   figures formulas  HTML MB  loaded MB")
    for page_path, row in results.items():
        print(f"{page_path:<38} {row['figures']:>7} {row['formulas']:>8} "
              f"{row['html_mb']:>8.2f} {row['transferred_mb']:>10.2f}")
    assert not problems, "\n".join(problems)
    assert sum(row["figures"] for row in results.values()) > 0, "no figure on any page"


def test_render_outputs_turns_figures_into_html_and_explorers_into_a_note():
    builder = _site_builder()
    notebook = {
        "metadata": {"widgets": {"state": {}}},
        "cells": [
            {"cell_type": "code", "outputs": [
                {"output_type": "display_data", "metadata": {}, "data": {
                    builder.PLOTLY_MIME: {"data": [{"type": "scatter", "y": [1, 3, 2]}],
                                          "layout": {}},
                    "text/plain": ["Figure()"]}},
                {"output_type": "display_data", "metadata": {}, "data": {
                    builder.WIDGET_MIME: {"model_id": "abc", "version_major": 2},
                    "text/plain": ["VBox()"]}},
                {"output_type": "stream", "name": "stdout", "text": "hello\n"},
            ]},
            {"cell_type": "markdown", "source": "text"},
        ],
    }
    counts = builder.render_outputs(notebook)
    assert counts == {"figures": 1, "explorers": 1}
    figure, explorer, stream = notebook["cells"][0]["outputs"]
    assert builder.PLOTLY_MIME not in figure["data"]
    assert "Plotly.newPlot" in figure["data"]["text/html"]
    assert "<script src" not in figure["data"]["text/html"], "plotly.js must not be inlined"
    assert explorer["data"] == {"text/html": builder.LIVE_NOTE}
    assert stream["text"] == "hello\n"
    assert "widgets" not in notebook["metadata"]


def test_landing_page_follows_the_course_map():
    builder = _site_builder()
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    _, names, _ = builder.course_map(readme)
    page = builder.landing_page(readme)
    toc = page.split("```{toctree}", 1)[1].split("```", 1)[0]
    assert [line for line in toc.splitlines() if line.startswith("notebooks/")] == [
        f"notebooks/{Path(name).stem}" for name in names
    ]
    assert "mybinder.org/badge" not in page, "no image from outside the site"
    with pytest.raises(ValueError, match="course map"):
        builder.course_map("# A README without a course map\n")
