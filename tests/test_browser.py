"""Every notebook, opened in JupyterLab in a real (headless) browser, runs and its sliders work.

For each ``notebooks/NN_*.ipynb`` this test starts from a fresh JupyterLab page, runs all cells
as a reader would, and checks that
- no cell ends in an error, the kernel reports no traceback (including from widget callbacks)
  and the page raises no JavaScript error;
- every slider, moved one step with the keyboard, changes the data (or the message) of a
  plotly figure on the page.
A screenshot of each notebook and the measured timings go to ``build/screenshots/``.

Needs Chromium at /usr/bin/chromium and the ``playwright`` Python package (no browser download).
Without them the test is skipped, unless ``CI=true``, where it fails.
``NTK_NOTEBOOK_DIR`` selects another notebook folder (default: ``notebooks/``).
"""

from __future__ import annotations

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

import pytest

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = Path(os.environ.get("NTK_NOTEBOOK_DIR", REPO / "notebooks")).resolve()
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("[0-9][0-9]_*.ipynb"))
SCREENSHOTS = REPO / "build" / "screenshots"
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
NOTEBOOK_RUN_S = 120  # all cells executed
SLIDER_S = 30  # one slider step reaching a figure (a retrain or a first compile included)

# JupyterLab user settings for the test: never write the notebook back (autosave would store
# outputs in the repository), never fetch news, attach every cell to the page (windowing would
# leave off-screen widgets out of the DOM).
LAB_SETTINGS = {
    "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": {"autosave": False},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false", "checkForUpdates": False},
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
}


def _require_browser():
    missing = []
    if not CHROMIUM.exists():
        missing.append(f"Chromium at {CHROMIUM} (Debian/Ubuntu: apt-get install chromium)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing.append("the Python package playwright (pip install playwright)")
    if missing:
        message = "the browser test needs " + " and ".join(missing)
        if os.environ.get("CI") == "true":
            pytest.fail(message + " (CI=true: required)", pytrace=False)
        pytest.skip(message)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Lab:
    """A JupyterLab server on 127.0.0.1 with a token, stopped (with its kernels) by ``stop``."""

    def __init__(self, root: Path, workdir: Path):
        self.root = root
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
def lab():
    _require_browser()
    root = REPO if NOTEBOOK_DIR.is_relative_to(REPO) else NOTEBOOK_DIR.parent
    workdir = Path(tempfile.mkdtemp(prefix="ntk-lab-"))
    server = Lab(root, workdir)
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)


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

JS_CODE_CELLS = f"""() => ({PANEL}).content.widgets.filter(c => c.model.type === 'code').length"""
JS_NEVER_RAN = f"""() => ({PANEL}).content.widgets
    .filter(c => c.model.type === 'code' && c.model.sharedModel.getSource().trim() !== ''
            && c.model.executionCount === null).length"""

# The state of every plotly figure on the page: trace data, annotations and shapes (a message).
JS_FIGURES = """() => {
    const plain = (key, value) => ArrayBuffer.isView(value) ? Array.from(value) : value;
    return [...document.querySelectorAll('.js-plotly-plot')].map(p => JSON.stringify({
        data: (p.data || []).map(t => ({x: t.x, y: t.y, z: t.z, visible: t.visible})),
        annotations: ((p.layout || {}).annotations || []).map(a => a.text),
        shapes: ((p.layout || {}).shapes || []).length,
    }, plain));
}"""

JS_EMPTY_FIGURES = """() => [...document.querySelectorAll('.js-plotly-plot')]
    .map((p, i) => (p.data || []).length === 0 ? i : -1).filter(i => i >= 0)"""

JS_SLIDERS = """() => [...document.querySelectorAll('.noUi-handle')].map(h => {
    const box = h.closest('.widget-slider, .jupyter-widgets') || h.parentElement;
    const label = box && box.querySelector('.widget-label');
    return {
        label: label ? label.textContent.trim() : '',
        now: parseFloat(h.getAttribute('aria-valuenow')),
        min: parseFloat(h.getAttribute('aria-valuemin')),
        max: parseFloat(h.getAttribute('aria-valuemax')),
        disabled: h.closest('[disabled]') !== null || h.getAttribute('disabled') !== null,
    };
})"""


JS_STATUS_LINES = """() => [...document.querySelectorAll('.widget-html')]
    .map(e => e.textContent.trim()).filter(t => t)"""


def _changed_js(before):
    return (
        f"() => {{ const before = {json.dumps(before)}; const now = ({JS_FIGURES})();"
        " return now.length !== before.length || now.some((s, i) => s !== before[i]); }"
    )


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[nb.name for nb in NOTEBOOKS])
def test_notebook_runs_and_sliders_update_figures(lab, browser, notebook):
    timings = {"notebook": notebook.name}
    start = time.monotonic()
    original = notebook.read_bytes()
    rel = notebook.relative_to(lab.root).as_posix()
    page_errors: list[str] = []
    console: list[str] = []  # browser console errors and warnings, reported on failure
    context = browser.new_context(viewport={"width": 1280, "height": 1400})
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
        empty = page.evaluate(JS_EMPTY_FIGURES)
        assert not empty, (
            f"{notebook.name}: plotly figure(s) #{empty} drew no trace. A FigureWidget that is "
            "updated (explorer.set, fig.data[...] = ...) by a later cell while the browser is "
            "still drawing it can end up empty: update figures before displaying them.")

        errors = page.evaluate(JS_OUTPUT_ERRORS) + page.evaluate("window.__ntkKernelErrors")
        assert not errors, f"{notebook.name}: errors while running the notebook:\n" + "\n".join(
            errors)
        never_ran = page.evaluate(JS_NEVER_RAN)
        assert never_ran == 0, f"{notebook.name}: {never_ran} code cells did not run"
        assert not page_errors, f"{notebook.name}: JavaScript errors: {page_errors}"

        try:
            timings["sliders"] = _move_every_slider(page, notebook.name)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\nbrowser console:\n" + "\n".join(console[-20:])) from None
        errors = page.evaluate("window.__ntkKernelErrors")
        assert not errors, f"{notebook.name}: errors after moving sliders:\n" + "\n".join(errors)
        assert not page_errors, f"{notebook.name}: JavaScript errors: {page_errors}"
    finally:
        with contextlib.suppress(Exception):  # also after a failure: the picture helps most then
            _screenshots(page, notebook.stem)
        context.close()
        timings["total_s"] = round(time.monotonic() - start, 2)
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        (SCREENSHOTS / f"{notebook.stem}.json").write_text(json.dumps(timings, indent=1))
        print(f"\n{notebook.name}: {timings}")
    assert notebook.read_bytes() == original, f"{notebook.name} was modified on disk"


def _move_every_slider(page, name):
    """Moves each slider one step by keyboard; asserts a figure changed. Returns timings."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    sliders = page.evaluate(JS_SLIDERS)
    handles = page.locator(".noUi-handle")
    results = []
    for i, slider in enumerate(sliders):
        if slider["disabled"] or not slider["min"] < slider["max"]:
            continue  # nothing a reader could move
        key = "ArrowLeft" if slider["now"] >= slider["max"] else "ArrowRight"
        before = page.evaluate(JS_FIGURES)
        assert before, f"{name}: slider {slider['label']!r} but no plotly figure on the page"
        handle = handles.nth(i)
        handle.scroll_into_view_if_needed(timeout=10_000)
        handle.focus()
        t0 = time.monotonic()
        # A value set off the slider's step grid (e.g. 0.05 on a log grid) can take one press
        # to snap onto the grid without a visible change: press up to three times.
        for press in range(3):
            page.keyboard.press(key)
            wait_s = SLIDER_S if press == 2 else 5
            with contextlib.suppress(PlaywrightTimeout):
                page.wait_for_function(_changed_js(before), timeout=wait_s * 1000, polling=20)
                break
        else:
            now = page.evaluate(JS_SLIDERS)[i]["now"]
            status = page.evaluate(JS_STATUS_LINES)
            raise AssertionError(
                f"{name}: slider #{i} {slider['label']!r} ({key} ×3, value {slider['now']} → "
                f"{now}) changed no plotly figure within {SLIDER_S} s; status lines: {status}")
        results.append({"label": slider["label"], "key": key, "presses": press + 1,
                        "seconds": round(time.monotonic() - t0, 3)})
    return results


def _screenshots(page, stem):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    plots = page.locator(".js-plotly-plot")
    if plots.count():
        plots.first.scroll_into_view_if_needed(timeout=10_000)
    page.screenshot(path=str(SCREENSHOTS / f"{stem}.png"))
    for i in range(min(plots.count(), 12)):
        with contextlib.suppress(Exception):  # a figure that cannot be captured is not an error
            plots.nth(i).screenshot(path=str(SCREENSHOTS / f"{stem}-figure{i}.png"), timeout=10_000)
