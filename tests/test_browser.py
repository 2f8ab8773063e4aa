"""Every notebook, opened in JupyterLab in a real (headless) browser: it runs, and the page shows
the truth.

For each ``notebooks/NN_*.ipynb`` this test starts from a fresh JupyterLab page, runs all cells
as a reader would, and checks that
- no cell ends in an error, the kernel reports no traceback (including from widget callbacks)
  and the page raises no JavaScript error;
- **every live figure in the page shows the kernel's figure**: each ``go.FigureWidget`` is
  serialised in the kernel (through JupyterLab's kernel API) and compared trace by trace with
  the plotly data in the page: same x, y, z to float32 precision, same name and visibility, no
  array missing in the page that the kernel has. Every static figure is compared with the
  figure JSON the kernel sent. No trace shown in a legend has plotly's automatic name
  ("trace 3");
- no text of a figure overlaps another or leaves the figure: the title does not overlap the
  legend or a plot area, an outside legend does not overlap a plot area, tick labels of one
  axis do not overlap, and titles, labels, legends and messages stay inside the figure;
- every control (slider, toggle buttons, checkbox, dropdown) moved from the keyboard or with
  the mouse redraws a figure; after each move the checks above run again on the live figures
  and no status line is left on "computing…".

It measures how long a reader waits: from the key press (or click) to the last plotly redraw it
caused, per control, split into first visits of a value and returns to a value seen before.
It prints a table and writes ``build/browser_latency.json``. Screenshots of the page and of
every figure (live and static) go to ``build/screenshots/NN_name/``.

Needs Chromium at /usr/bin/chromium and the ``playwright`` Python package (no browser download).
Without them the test is skipped, unless ``CI=true``, where it fails.
``NTK_NOTEBOOK_DIR`` selects another notebook folder (default: ``notebooks/``).
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = Path(os.environ.get("NTK_NOTEBOOK_DIR", REPO / "notebooks")).resolve()
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("[0-9][0-9]_*.ipynb"))
BUILD = REPO / "build"
SCREENSHOTS = BUILD / "screenshots"
LATENCY_JSON = BUILD / "browser_latency.json"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
SERVER_START_S = 90  # JupyterLab answering on its port
PAGE_READY_S = 90  # page loaded and kernel idle
NOTEBOOK_RUN_S = 180  # all cells executed
MOVE_S = 30  # one control move reaching a figure (a retrain or a first compile included)
QUIET_MS = 350  # a move is over when the kernel is idle and no figure redrew for this long
FLOAT32_EPS = float(np.finfo(np.float32).eps)
STEPS_PER_SLIDER = int(os.environ.get("NTK_BROWSER_STEPS", 2))  # keyboard steps away from the start and back: 2 first visits, 2 returns

# JupyterLab user settings for the test: never write the notebook back (autosave would store
# outputs in the repository), never fetch news, attach every cell to the page (windowing would
# leave off-screen widgets out of the DOM).
LAB_SETTINGS = {
    "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": {"autosave": False},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false", "checkForUpdates": False},
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
}

_LATENCY_ROWS: list[dict] = []  # every notebook's moves, written to LATENCY_JSON at the end



def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Lab:
    """A JupyterLab server on 127.0.0.1 with a token, stopped (with its kernels) by ``stop``."""

    def __init__(self, root: Path, workdir: Path):
        self.root = root
        self.workdir = workdir
        self.port = _free_port()
        self.token = secrets.token_hex(16)
        self.url = f"http://127.0.0.1:{self.port}"
        settings = workdir / "settings"
        for name, value in LAB_SETTINGS.items():
            path = settings / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(value))
        env = dict(os.environ)
        env["JUPYTER_RUNTIME_DIR"] = str(workdir / "runtime")
        env["JUPYTER_CONFIG_DIR"] = str(workdir / "config")  # ignore the user's own config
        env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
        env.pop("JUPYTER_TOKEN", None)
        cmd = [
            sys.executable, "-m", "jupyterlab",
            "--no-browser",
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={self.port}",
            "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={self.token}",
            f"--ServerApp.root_dir={root}",
            "--LabApp.news_url=None",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
            "--LabApp.expose_app_in_browser=True",
            f"--LabApp.user_settings_dir={settings}",
            f"--LabApp.workspaces_dir={workdir / 'workspaces'}",
        ]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            cmd.append("--allow-root")
        self.log_path = workdir / "jupyterlab.log"
        self._log = open(self.log_path, "wb")  # noqa: SIM115 (closed in stop)
        self.process = subprocess.Popen(
            cmd, cwd=root, env=env, stdout=self._log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )

    def api(self, path: str, method: str = "GET", timeout: float = 5.0):
        request = urllib.request.Request(
            f"{self.url}{path}", method=method,
            headers={"Authorization": f"token {self.token}"},
        )
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body = response.read()
        return json.loads(body) if body else None

    def wait_ready(self):
        deadline = time.monotonic() + SERVER_START_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"JupyterLab exited early:\n{self.log_tail()}")
            with contextlib.suppress(OSError, urllib.error.URLError, ValueError):
                self.api("/api/status", timeout=2.0)
                return
            time.sleep(0.3)
        raise TimeoutError(f"JupyterLab did not answer in {SERVER_START_S} s:\n{self.log_tail()}")

    def log_tail(self, n: int = 4000) -> str:
        with contextlib.suppress(OSError):
            return self.log_path.read_bytes()[-n:].decode(errors="replace")
        return ""

    def shutdown_kernels(self):
        with contextlib.suppress(OSError, urllib.error.URLError, ValueError):
            for kernel in self.api("/api/kernels"):
                with contextlib.suppress(OSError, urllib.error.URLError, ValueError):
                    self.api(f"/api/kernels/{kernel['id']}", method="DELETE", timeout=10.0)

    def stop(self):
        try:
            self.shutdown_kernels()
            with contextlib.suppress(OSError, urllib.error.URLError, ValueError):
                self.api("/api/shutdown", method="POST")
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGTERM)
                try:
                    self.process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(self.process.pid, signal.SIGKILL)
                    self.process.wait(timeout=10)
        finally:
            self._log.close()


@pytest.fixture(scope="module")
def lab(pytestconfig, chromium_available):
    root = REPO if NOTEBOOK_DIR.is_relative_to(REPO) else NOTEBOOK_DIR.parent
    workdir = Path(tempfile.mkdtemp(prefix="ntk-lab-"))
    server = Lab(root, workdir)
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)
        if _LATENCY_ROWS:
            reporter = pytestconfig.pluginmanager.get_plugin("terminalreporter")
            _write_latency_report(_LATENCY_ROWS, reporter.write_line if reporter else print)


@pytest.fixture(scope="module")
def browser(lab):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True, timeout=60_000)
        try:
            yield chromium
        finally:
            chromium.close()


# --- JavaScript run in the page -----------------------------------------------------------

PANEL = "window.jupyterapp && window.jupyterapp.shell.currentWidget"

JS_KERNEL_IDLE = f"""() => {{
    const panel = {PANEL};
    if (!panel || !panel.sessionContext || !panel.content) return false;
    const kernel = panel.sessionContext.session && panel.sessionContext.session.kernel;
    const bar = [...document.querySelectorAll('#jp-main-statusbar *')]
        .some(e => e.children.length === 0 && /\\|\\s*Idle/.test(e.textContent));
    return Boolean(kernel && kernel.status === 'idle' && bar);
}}"""

# Every iopub message that reports a failure, from any cell or widget callback.
JS_LISTEN = f"""() => {{
    const kernel = ({PANEL}).sessionContext.session.kernel;
    window.__ntkKernelErrors = [];
    kernel.iopubMessage.connect((_, msg) => {{
        const c = msg.content || {{}};
        if (msg.header.msg_type === 'error') {{
            const trace = (c.traceback || []).join('\\n').replace(/\\u001b\\[[0-9;]*m/g, '');
            window.__ntkKernelErrors.push(`${{c.ename}}: ${{c.evalue}}\\n${{trace.slice(-3000)}}`);
        }} else if (msg.header.msg_type === 'stream' && c.name === 'stderr'
                   && /Traceback \\(most recent call last\\)/.test(c.text)) {{
            window.__ntkKernelErrors.push(c.text.slice(-2000));
        }}
    }});
}}"""

JS_RUN_DONE = f"""() => {{
    const panel = {PANEL};
    const kernel = panel.sessionContext.session.kernel;
    if (!kernel || kernel.status !== 'idle') return false;
    const prompts = [...panel.content.node.querySelectorAll('.jp-InputArea-prompt')];
    return !prompts.some(p => p.textContent.includes('*'));
}}"""

JS_OUTPUT_ERRORS = f"""() => {{
    const panel = {PANEL};
    const found = [];
    panel.content.widgets.forEach((cell, index) => {{
        if (cell.model.type !== 'code') return;
        for (const out of cell.model.outputs.toJSON()) {{
            if (out.output_type === 'error') {{
                found.push(`cell ${{index}}: ${{out.ename}}: ${{out.evalue}}`);
            }} else if (out.output_type === 'stream' && out.name === 'stderr') {{
                const text = Array.isArray(out.text) ? out.text.join('') : out.text;
                if (/Traceback \\(most recent call last\\)/.test(text)) {{
                    found.push(`cell ${{index}} (stderr): ${{text.slice(-1500)}}`);
                }}
            }}
        }}
    }});
    for (const node of panel.content.node.querySelectorAll('.jp-OutputArea-output')) {{
        const text = node.textContent || '';
        if (/Error displaying widget|Error rendering output item|Model not found/.test(text)) {{
            found.push(`rendering: ${{text.slice(0, 300)}}`);
        }}
    }}
    return found;
}}"""

JS_NEVER_RAN = f"""() => ({PANEL}).content.widgets
    .filter(c => c.model.type === 'code' && c.model.sharedModel.getSource().trim() !== ''
            && c.model.executionCount === null).length"""

# Runs code in the notebook's kernel without touching the notebook (no output, no history).
JS_KERNEL_EXEC = f"""async (code) => {{
    const kernel = ({PANEL}).sessionContext.session.kernel;
    const future = kernel.requestExecute({{code, silent: true, store_history: false}});
    const reply = await future.done;
    const c = reply.content;
    return c.status === 'ok' ? '' : `${{c.ename}}: ${{c.evalue}}`;
}}"""

# The kernel's side of the truth: every open FigureWidget, serialised to a JSON file.
KERNEL_DUMP = r"""
def _ntk_dump_figures(path):
    import json
    import numpy as np
    import plotly.graph_objects as go
    from ipywidgets.widgets.widget import _instances

    def array(value):
        if value is None:
            return None
        a = np.asarray(value)
        if a.dtype.kind in "biuf":
            return a.astype(float).ravel().tolist()
        return [str(v) for v in a.ravel().tolist()]

    def prop(trace, name):
        return trace[name] if name in trace else None

    try:  # seconds the explorers spent in their updates so far (the kernel's side of a move)
        from ntk_helpers.widgets import Explorer
        busy = sum(sum(sum(v) for v in e.latencies.values()) for e in list(Explorer.instances))
    except Exception:
        busy = 0.0
    figures = []
    for model_id, widget in list(_instances.items()):
        if isinstance(widget, go.FigureWidget):
            figures.append({"model_id": model_id, "traces": [
                {"uid": t.uid, "type": t.type, "name": prop(t, "name"), "visible": t.visible,
                 "x": array(prop(t, "x")), "y": array(prop(t, "y")), "z": array(prop(t, "z"))}
                for t in widget.data]})
    with open(path, "w") as f:
        json.dump({"figures": figures, "explorer_seconds": busy}, f)

_ntk_dump_figures(PATH)
del _ntk_dump_figures
"""

# Plots drawn from a cell output (plotly's JSON mime type: a static figure) → that JSON; every
# other plot on the page is a live FigureWidget.
STATIC_PLOTS = """((panel) => {
    const sent = new Map();
    panel.content.widgets.forEach(cell => {
        if (cell.model.type !== 'code' || !cell.outputArea) return;
        const area = cell.outputArea;
        for (let k = 0; k < area.model.length && k < area.widgets.length; k++) {
            const data = area.model.get(k).data['application/vnd.plotly.v1+json'];
            if (!data) continue;
            for (const p of area.widgets[k].node.querySelectorAll('.js-plotly-plot')) sent.set(p, data);
        }
    });
    return sent;
})"""

# Every plotly figure in the notebook: its traces as the page holds them and, for a figure
# rendered from a cell output (not a widget), the figure JSON the kernel sent.
JS_PAGE_FIGURES = f"""(liveOnly) => {{
    const panel = {PANEL};
    const STATIC_PLOTS = {STATIC_PLOTS};
    const array = (v) => {{
        if (v === undefined || v === null) return null;
        if (ArrayBuffer.isView(v)) return Array.from(v);
        if (Array.isArray(v)) return v.flat(Infinity).map(e => ArrayBuffer.isView(e) ? Array.from(e) : e).flat();
        if (typeof v === 'object' && typeof v.bdata === 'string') return {{bdata: v.bdata, dtype: v.dtype}};
        return String(v);
    }};
    const traces = (data, full) => (data || []).map((t, i) => ({{
        uid: t.uid === undefined ? null : t.uid, name: t.name === undefined ? null : t.name,
        visible: t.visible === undefined ? true : t.visible,
        shown_name: full && full[i] ? full[i].name : null,
        in_legend: Boolean(full && full[i] && full[i].showlegend && full[i].visible !== false),
        x: array(t.x), y: array(t.y), z: array(t.z),
    }}));
    const sent = STATIC_PLOTS(panel);
    const cells = [...panel.content.node.querySelectorAll('.jp-Cell')];
    return [...panel.content.node.querySelectorAll('.js-plotly-plot')].map((p, index) => {{
        const live = !sent.has(p);
        if (liveOnly && !live) return null;
        const fl = p._fullLayout || {{}};
        return {{
            index, live, cell: cells.indexOf(p.closest('.jp-Cell')),
            title: (fl.title && fl.title.text) || '',
            legend: Boolean(fl.showlegend),
            traces: traces(p.data, p._fullData),
            sent: live ? null : traces(sent.get(p).data, null),
        }};
    }}).filter(f => f !== null);
}}"""

# Boxes of every text of a figure against each other and against the figure (page pixels).
JS_LAYOUT = f"""(liveOnly) => {{
    const panel = {PANEL};
    const STATIC_PLOTS = {STATIC_PLOTS};
    const box = (el) => {{
        if (!el) return null;
        const r = el.getBoundingClientRect();
        return r.width > 0 && r.height > 0 ? [r.left, r.top, r.right, r.bottom] : null;
    }};
    const boxes = (root, sel) => [...root.querySelectorAll(sel)].map(box).filter(b => b);
    const sent = STATIC_PLOTS(panel);
    return [...panel.content.node.querySelectorAll('.js-plotly-plot')].map((p, index) => {{
        const live = !sent.has(p);
        if (liveOnly && !live) return null;
        const fl = p._fullLayout || {{}};
        const lg = fl.legend || {{}};
        const ticks = {{}};
        for (const g of p.querySelectorAll('.xaxislayer-above, .yaxislayer-above')) {{
            for (const t of g.querySelectorAll('g[class$="tick"]')) {{
                const b = box(t.querySelector('text'));
                if (b) (ticks[t.getAttribute('class')] = ticks[t.getAttribute('class')] || []).push(b);
            }}
        }}
        return {{
            index, live, title: (fl.title && fl.title.text) || '',
            figure: box(p.querySelector('.main-svg')),
            gtitle: box(p.querySelector('.g-gtitle .gtitle')),
            legend: fl.showlegend ? box(p.querySelector('.legend .bg')) : null,
            legend_inside: lg.x !== undefined && lg.x >= 0 && lg.x <= 1 && lg.y >= 0 && lg.y <= 1,
            plots: boxes(p, '.draglayer .nsewdrag'),
            texts: boxes(p, '.infolayer .g-xtitle text, .infolayer .g-ytitle text, '
                           + '.infolayer [class^="g-x"][class$="title"] text, '
                           + '.infolayer [class^="g-y"][class$="title"] text, '
                           + '.annotation, .legend .bg, .colorbar text'),
            ticks: Object.values(ticks),
        }};
    }}).filter(f => f !== null);
}}"""

# Timestamps (performance.now) of the last input and of every plotly redraw, for latencies.
JS_HOOK_DRAWS = """() => {
    window.__ntkDraws = window.__ntkDraws || [];
    if (!window.__ntkInputHooked) {
        window.__ntkInputHooked = true;
        const mark = () => { window.__ntkInput = performance.now(); };
        document.addEventListener('keydown', mark, true);
        document.addEventListener('pointerdown', mark, true);
        document.addEventListener('change', e => { if (e.target.tagName === 'SELECT') mark(); }, true);
    }
    for (const p of document.querySelectorAll('.js-plotly-plot')) {
        if (p.__ntkHooked || typeof p.on !== 'function') continue;
        p.__ntkHooked = true;
        for (const ev of ['plotly_afterplot', 'plotly_update', 'plotly_restyle', 'plotly_relayout']) {
            p.on(ev, () => window.__ntkDraws.push(performance.now()));
        }
    }
}"""

JS_MOVE_STATE = f"""() => {{
    const kernel = ({PANEL}).sessionContext.session.kernel;
    const draws = window.__ntkDraws || [];
    const input = window.__ntkInput || 0;
    return {{now: performance.now(), input, first_draw: draws.find(t => t > input) || 0,
             last_draw: draws.length ? draws[draws.length - 1] : 0,
             idle: Boolean(kernel && kernel.status === 'idle')}};
}}"""

# Every control a reader can move: sliders (keyboard), toggle buttons, checkboxes, dropdowns.
JS_CONTROLS = """() => {
    const label = (el) => {
        const box = el.closest('.widget-toggle-buttons, .widget-inline-hbox') || el;
        const texts = [...box.querySelectorAll('.widget-label-basic, .widget-label')]
            .map(l => l.textContent.replace(/\u200b/g, '').trim()).filter(t => t);
        return (texts[0] || '').slice(0, 60);
    };
    const out = [];
    document.querySelectorAll('.noUi-handle').forEach((h, i) => out.push({
        kind: 'slider', index: i, label: label(h),
        value: (((h.closest('.widget-inline-hbox') || h).querySelector('.widget-readout') || {})
                .textContent || '').trim(),
        now: parseFloat(h.getAttribute('aria-valuenow')),
        min: parseFloat(h.getAttribute('aria-valuemin')),
        max: parseFloat(h.getAttribute('aria-valuemax')),
        disabled: h.closest('[disabled]') !== null || h.getAttribute('disabled') !== null}));
    document.querySelectorAll('.widget-toggle-buttons').forEach((g, i) => {
        const buttons = [...g.querySelectorAll('button')];
        out.push({kind: 'toggle', index: i, label: label(g), options: buttons.length,
                  now: buttons.findIndex(b => b.classList.contains('mod-active')),
                  disabled: buttons.every(b => b.disabled)});
    });
    document.querySelectorAll('.widget-checkbox input[type=checkbox]').forEach((c, i) => out.push(
        {kind: 'checkbox', index: i, label: label(c), now: c.checked ? 1 : 0, disabled: c.disabled}));
    document.querySelectorAll('.widget-dropdown select').forEach((s, i) => out.push(
        {kind: 'dropdown', index: i, label: label(s), options: s.options.length,
         now: s.selectedIndex, disabled: s.disabled}));
    return out;
}"""

JS_STATUS_LINES = """() => [...document.querySelectorAll('.widget-html')]
    .map(e => e.textContent.trim()).filter(t => t)"""


# --- the test -----------------------------------------------------------------------------

@pytest.mark.timeout(900)
@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[nb.name for nb in NOTEBOOKS])
def test_notebook_runs_shows_the_truth_and_answers(lab, browser, notebook):
    timings = {"notebook": notebook.name}
    start = time.monotonic()
    original = notebook.read_bytes()
    rel = notebook.relative_to(lab.root).as_posix()
    page_errors: list[str] = []
    console: list[str] = []  # browser console errors and warnings, reported on failure
    problems = Problems()
    shots = SCREENSHOTS / notebook.stem
    shutil.rmtree(shots, ignore_errors=True)
    shots.mkdir(parents=True)
    context = browser.new_context(viewport={"width": 1280, "height": 1400})
    page = None
    try:
        page = context.new_page()
        page.on("pageerror", lambda exc: page_errors.append(str(exc)))
        page.on("console", lambda msg: console.append(f"{msg.type}: {msg.text[:300]}")
                if msg.type in ("error", "warning") else None)
        url = f"{lab.url}/lab/tree/{urllib.parse.quote(rel)}?reset&token={lab.token}"
        page.goto(url, wait_until="domcontentloaded", timeout=PAGE_READY_S * 1000)
        page.wait_for_function(JS_KERNEL_IDLE, timeout=PAGE_READY_S * 1000, polling=250)
        timings["open_s"] = round(time.monotonic() - start, 2)

        page.evaluate(JS_LISTEN)
        run_start = time.monotonic()
        page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
        page.wait_for_timeout(500)  # let the first cells be queued before polling
        page.wait_for_function(JS_RUN_DONE, timeout=NOTEBOOK_RUN_S * 1000, polling=250)
        page.wait_for_timeout(1000)  # widgets render after the last reply
        page.wait_for_function(JS_RUN_DONE, timeout=NOTEBOOK_RUN_S * 1000, polling=250)
        timings["run_all_s"] = round(time.monotonic() - run_start, 2)

        errors = page.evaluate(JS_OUTPUT_ERRORS) + page.evaluate("window.__ntkKernelErrors")
        assert not errors, f"{notebook.name}: errors while running the notebook:\n" + "\n".join(
            errors)
        never_ran = page.evaluate(JS_NEVER_RAN)
        assert never_ran == 0, f"{notebook.name}: {never_ran} code cells did not run"
        assert not page_errors, f"{notebook.name}: JavaScript errors: {page_errors}"

        dump = lab.workdir / f"{notebook.stem}-figures.json"
        figures = _check_truth(page, dump, "after running all cells", problems)
        _check_layout(page, "after running all cells", problems, live_only=False)
        _screenshot_figures(page, shots, figures)

        page.evaluate(JS_HOOK_DRAWS)
        moves = _move_every_control(page, notebook.name, dump, problems)
        timings["moves"] = len(moves)
        _LATENCY_ROWS.extend(dict(m, notebook=notebook.name) for m in moves)
        errors = page.evaluate("window.__ntkKernelErrors")
        assert not errors, f"{notebook.name}: errors after moving controls:\n" + "\n".join(errors)
        assert not page_errors, f"{notebook.name}: JavaScript errors: {page_errors}"
    finally:
        if page is not None:
            with contextlib.suppress(Exception):  # also after a failure: it helps most then
                page.screenshot(path=str(shots / "page.png"))
        context.close()
        lab.shutdown_kernels()  # one notebook's kernel at a time, as a reader on Binder would
        timings["total_s"] = round(time.monotonic() - start, 2)
        (shots / "report.json").write_text(
            json.dumps(dict(timings, problems=problems.lines()), indent=1, ensure_ascii=False))
        print(f"\n{notebook.name}: {timings}")
    assert notebook.read_bytes() == original, f"{notebook.name} was modified on disk"
    found = problems.lines()
    assert not found, (f"{notebook.name}: {len(found)} problem(s) (screenshots in {shots}):\n"
                       + "\n".join(found) + "\nbrowser console:\n" + "\n".join(console[-10:]))


class Problems:
    """What the page got wrong, each listed once with where it was first seen and how often."""

    def __init__(self):
        self._items: dict[tuple[str, str], list] = {}
        self.explorer_seconds = 0.0  # the kernel's total update time, at the last truth check

    def add(self, category: str, key: str, message: str, when: str):
        entry = self._items.setdefault((category, key), [message, when, 0])
        entry[2] += 1

    def lines(self) -> list[str]:
        return [f"[{category}] {message} (first {when}" + (f"; {n} times)" if n > 1 else ")")
                for (category, _), (message, when, n) in self._items.items()]


# --- truth: the page against the kernel ---------------------------------------------------

def _decode(value):
    """A page or figure-JSON array → float array (NaN for gaps), list of str, or None."""
    if value is None:
        return None
    if isinstance(value, dict) and "bdata" in value:
        return np.frombuffer(base64.b64decode(value["bdata"]), dtype=value["dtype"]).astype(float)
    if isinstance(value, str):
        return [value]
    values = list(value)
    if all(v is None or isinstance(v, int | float) for v in values):
        return np.array([np.nan if v is None else v for v in values], dtype=float)
    return [str(v) for v in values]


def _same_array(page, kernel) -> str | None:
    """Why two arrays differ beyond float32 precision, or None when they agree."""
    if page is None or kernel is None:
        return None if page is None and kernel is None else (
            "missing in the page" if page is None else "in the page but not in the kernel")
    if isinstance(page, list) or isinstance(kernel, list):
        return None if list(map(str, page)) == list(map(str, kernel)) else "different labels"
    if page.shape != kernel.shape:
        return f"{page.size} values in the page, {kernel.size} in the kernel"
    finite = np.isfinite(kernel)
    if not np.array_equal(finite, np.isfinite(page)) or not np.array_equal(
            kernel[~finite], page[~finite], equal_nan=True):
        return "NaN/inf at different places"
    if not finite.any():
        return None
    scale = np.abs(kernel[finite]).max()
    worst = np.abs(page[finite] - kernel[finite]).max()
    if worst > 2 * FLOAT32_EPS * scale:
        return f"values differ by up to {worst:.3g} (scale {scale:.3g})"
    return None


def _compare_traces(page_traces, truth_traces) -> list[tuple[str, str]]:
    """(key, message) for every difference between the page's traces and the kernel's."""
    if len(page_traces) != len(truth_traces):
        return [("count", f"{len(page_traces)} traces in the page, {len(truth_traces)} in the "
                          "kernel")]
    found = []
    for i, (shown, truth) in enumerate(zip(page_traces, truth_traces, strict=True)):
        label = f"trace {i} {truth.get('name')!r}"
        if (shown.get("name") or None) != (truth.get("name") or None):
            found.append((f"{i} name", f"{label}: named {shown.get('name')!r} in the page"))
        visible_kernel = True if truth.get("visible") is None else truth["visible"]
        if shown.get("visible") != visible_kernel:
            found.append((f"{i} visible", f"{label}: visible={shown.get('visible')!r} in the "
                                          f"page, {visible_kernel!r} in the kernel"))
        for axis in ("x", "y", "z"):
            why = _same_array(_decode(shown.get(axis)), _decode(truth.get(axis)))
            if why:
                found.append((f"{i} {axis} {why.split()[0]}", f"{label}: {axis} {why}"))
    return found


def _auto_named(figure) -> list[tuple[str, str]]:
    return [(f"{i} auto-named", f"trace {i} is listed in the legend under plotly's automatic "
                                f"name {trace.get('shown_name')!r}")
            for i, trace in enumerate(figure["traces"])
            if figure["legend"] and trace["in_legend"] and not trace.get("name")]


def _check_truth(page, dump: Path, when: str, problems: Problems, *, live_only=False):
    """Compares every figure in the page with the kernel's; returns the page's figures."""
    from playwright.sync_api import Error as PlaywrightError

    if dump.exists():
        dump.unlink()
    failure = page.evaluate(JS_KERNEL_EXEC, KERNEL_DUMP.replace("PATH", repr(str(dump))))
    assert not failure, f"serialising the kernel's figures failed: {failure}"
    dumped = json.loads(dump.read_text())
    kernel = {tuple(t["uid"] for t in f["traces"]): f for f in dumped["figures"]}
    found: list[tuple[str, str]] = []
    figures = []
    for _attempt in range(4):  # the page may still be drawing the last update
        found = []
        try:
            figures = page.evaluate(JS_PAGE_FIGURES, live_only)
        except PlaywrightError as exc:  # a figure redrawn while it was read
            found, figures = [("page", str(exc)[:200])], []
        for fig in figures:
            kind = "live" if fig["live"] else "static"
            where = f"{kind} figure #{fig['index']} (cell {fig['cell']}) {fig['title'][:60]!r}"
            diffs = _auto_named(fig)
            if fig["live"]:
                truth = kernel.get(tuple(t["uid"] for t in fig["traces"]))
                if not fig["traces"]:
                    diffs.append(("empty", "the figure widget drew no trace (a FigureWidget "
                                           "updated while the browser was still drawing it?)"))
                elif truth is None:
                    diffs.append(("unmatched", f"no FigureWidget in the kernel has these "
                                               f"{len(fig['traces'])} traces"))
                else:
                    diffs += _compare_traces(fig["traces"], truth["traces"])
            else:
                diffs += _compare_traces(fig["traces"], fig["sent"])
            found += [(f"{kind} {fig['index']} {key}", f"{where}: {message}")
                      for key, message in diffs]
        if not found:
            break
        page.wait_for_timeout(500)
    for key, message in found:
        problems.add("truth", key, message, when)
    problems.explorer_seconds = dumped["explorer_seconds"]
    return figures


# --- layout: text against text and against the figure -------------------------------------

def _overlap(a, b, tol=1.0) -> bool:
    return (min(a[2], b[2]) - max(a[0], b[0]) > tol) and (min(a[3], b[3]) - max(a[1], b[1]) > tol)


def _outside(inner, outer, tol=1.5) -> bool:
    return (inner[0] < outer[0] - tol or inner[1] < outer[1] - tol
            or inner[2] > outer[2] + tol or inner[3] > outer[3] + tol)


def _check_layout(page, when: str, problems: Problems, *, live_only: bool):
    for fig in page.evaluate(JS_LAYOUT, live_only):
        kind = "live" if fig["live"] else "static"
        where = f"{kind} figure #{fig['index']} {fig['title'][:60]!r}"
        found = []
        frame, title, legend = fig["figure"], fig["gtitle"], fig["legend"]
        if frame is None:
            continue  # not drawn (hidden)
        if title and legend and _overlap(title, legend):
            found.append("the title overlaps the legend")
        if title and any(_overlap(title, plot) for plot in fig["plots"]):
            found.append("the title overlaps the plot area")
        if legend and not fig["legend_inside"] and any(_overlap(legend, p) for p in fig["plots"]):
            found.append("the legend (placed outside) overlaps the plot area")
        for text in [t for t in (title, legend) if t] + fig["texts"]:
            if _outside(text, frame):
                found.append("a text (title, axis title, legend or message) leaves the figure")
                break
        for ticks in fig["ticks"]:
            if any(_overlap(a, b, tol=0.0) for i, a in enumerate(ticks) for b in ticks[i + 1:]):
                found.append("tick labels of one axis overlap")
                break
        if any(_outside(tick, frame) for ticks in fig["ticks"] for tick in ticks):
            found.append("a tick label leaves the figure")
        for problem in found:
            problems.add("layout", f"{kind} {fig['index']} {problem}", f"{where}: {problem}", when)


def _screenshot_figures(page, folder: Path, figures):
    plots = page.locator(".js-plotly-plot")
    for fig in figures:
        name = f"figure{fig['index']:02d}-{'live' if fig['live'] else 'static'}.png"
        with contextlib.suppress(Exception):  # a figure that cannot be captured is not an error
            # the figure's own area (its first svg layer), with the layers drawn over it
            plot = plots.nth(fig["index"]).locator(".main-svg").first
            plot.scroll_into_view_if_needed(timeout=10_000)
            plot.screenshot(path=str(folder / name), timeout=10_000)


# --- moving every control, timing it --------------------------------------------------------

def _move_plan(control):
    """(action, argument) pairs: away from the start and back again."""
    kind, now = control["kind"], control["now"]
    if kind == "slider":
        up = "ArrowRight" if now < control["max"] else "ArrowLeft"
        down = "ArrowLeft" if up == "ArrowRight" else "ArrowRight"
        return [("key", up)] * STEPS_PER_SLIDER + [("key", down)] * STEPS_PER_SLIDER
    if kind == "checkbox":
        return [("click", None)] * 4
    others = [k for k in range(control["options"]) if k != now][:2]
    return [("pick", k) for k in others] + [("pick", now)] + [("pick", others[0])] + [
        ("pick", now)]


def _act(page, control, action, argument):
    kind, index = control["kind"], control["index"]
    if kind == "slider":
        handle = page.locator(".noUi-handle").nth(index)
        handle.scroll_into_view_if_needed(timeout=10_000)
        handle.focus()
        page.keyboard.press(argument)
    elif kind == "checkbox":
        box = page.locator(".widget-checkbox input[type=checkbox]").nth(index)
        box.scroll_into_view_if_needed(timeout=10_000)
        box.click()
    elif kind == "toggle":
        button = page.locator(".widget-toggle-buttons").nth(index).locator("button").nth(argument)
        button.scroll_into_view_if_needed(timeout=10_000)
        button.click()
    else:
        select = page.locator(".widget-dropdown select").nth(index)
        select.scroll_into_view_if_needed(timeout=10_000)
        select.select_option(index=argument)


def _value_of(page, control):
    """The control's value as the reader sees it (a slider's readout), else its position."""
    now = next(c for c in page.evaluate(JS_CONTROLS)
               if c["kind"] == control["kind"] and c["index"] == control["index"])
    return now.get("value") or now["now"]


def _wait_for_redraw(page, timeout_s: float):
    """Waits until a figure redrew after the last input and everything is quiet again.

    Returns seconds from the input event to the first and to the last redraw it caused, or
    None (no redraw).
    """
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        state = page.evaluate(JS_MOVE_STATE)
        drawn = state["last_draw"] > state["input"] > 0
        if drawn and state["idle"] and state["now"] - state["last_draw"] > QUIET_MS:
            return ((state["first_draw"] - state["input"]) / 1e3,
                    (state["last_draw"] - state["input"]) / 1e3)
        page.wait_for_timeout(40)
    return None


def _move_every_control(page, name, dump, problems):
    """Moves each control away and back; checks truth and layout after every move."""
    rows = []
    for control in page.evaluate(JS_CONTROLS):
        if control["disabled"] or (control["kind"] == "slider"
                                   and not control["min"] < control["max"]):
            continue  # nothing a reader could move
        seen = {control.get("value") or control["now"]}
        label = f"{control['kind']} {control['label']!r}"
        for action, argument in _move_plan(control):
            seconds = None
            before = _value_of(page, control)
            # A value set off the slider's step grid (e.g. 0.05 on a log grid) can take one
            # press to snap onto the grid without a visible change: press up to three times.
            for press in range(3 if control["kind"] == "slider" else 1):
                _act(page, control, action, argument)
                seconds = _wait_for_redraw(page, MOVE_S if press == 2 else 10)
                if seconds is not None:
                    break
            value = _value_of(page, control)
            if seconds is None and control["kind"] == "slider" and value == before:
                continue  # the slider is at the end of its range: the key moved nothing
            if seconds is None:
                problems.add("moves", label, f"{label} ({action} {argument}, now {value}) redrew "
                             f"no figure within {MOVE_S} s; status lines: "
                             f"{page.evaluate(JS_STATUS_LINES)}", "moving it")
                break
            kernel_before = problems.explorer_seconds
            when = f"after {label} → {value}"
            busy = [s for s in page.evaluate(JS_STATUS_LINES) if "computing" in s]
            if busy:
                problems.add("moves", f"{label} busy", f"a status line still says {busy[0]!r}",
                             when)
            page.evaluate(JS_HOOK_DRAWS)  # figures drawn for the first time by this move
            _check_truth(page, dump, when, problems, live_only=True)
            _check_layout(page, when, problems, live_only=True)
            rows.append({"control": label, "value": value, "first": value not in seen,
                         "seconds": round(seconds[1], 4), "first_draw_s": round(seconds[0], 4),
                         "kernel_s": round(problems.explorer_seconds - kernel_before, 4)})
            seen.add(value)
    return rows


def _percentile(values, q):
    return float(np.percentile(np.asarray(values) * 1e3, q)) if values else float("nan")


def _write_latency_report(rows, write):
    """Per control: median and p95 (ms) over first visits and over returns; a table + JSON."""
    table = []
    for key in dict.fromkeys((r["notebook"], r["control"]) for r in rows):
        mine = [r for r in rows if (r["notebook"], r["control"]) == key]
        first = [r["seconds"] for r in mine if r["first"]]
        cached = [r["seconds"] for r in mine if not r["first"]]
        table.append({"notebook": key[0], "control": key[1],
                      "first_median_ms": _percentile(first, 50), "first_p95_ms": _percentile(first, 95),
                      "cached_median_ms": _percentile(cached, 50),
                      "cached_p95_ms": _percentile(cached, 95), "moves": len(mine)})
    every = [r["seconds"] for r in rows]
    summary = {"median_ms": _percentile(every, 50), "p95_ms": _percentile(every, 95),
               "moves": len(every), "target": {"median_ms": 150, "p95_ms": 300}}
    BUILD.mkdir(exist_ok=True)
    LATENCY_JSON.write_text(json.dumps({"summary": summary, "controls": table, "moves": rows},
                                       indent=1))
    write(f"\nkey press (or click) → last figure redraw, in ms; written to {LATENCY_JSON}")
    write(f"{'notebook':<28} {'control':<44} {'first med':>9} {'p95':>7} {'cached med':>10} "
          f"{'p95':>7}")
    for row in table:
        write(f"{row['notebook']:<28} {row['control'][:44]:<44} {row['first_median_ms']:>9.0f} "
              f"{row['first_p95_ms']:>7.0f} {row['cached_median_ms']:>10.0f} "
              f"{row['cached_p95_ms']:>7.0f}")
    write(f"all {summary['moves']} moves: median {summary['median_ms']:.0f} ms, "
          f"p95 {summary['p95_ms']:.0f} ms")
