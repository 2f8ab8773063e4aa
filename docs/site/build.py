"""Build the course site: every notebook executed once, rendered by Sphinx with MyST-NB.

    python docs/site/build.py [--out build/site] [--timeout 300] [--force]

1. Each ``notebooks/NN_*.ipynb`` is executed top to bottom in a fresh ``python3`` kernel in
   its folder (nbclient, a finite timeout per cell, widget state not stored). The executed copy
   is kept in ``OUT/executed/`` with a fingerprint of what it depends on (the notebook, the
   package's sources, the versions of the stack); an unchanged notebook is not executed again.
2. The outputs are made readable without a kernel (:func:`render_outputs`): every plotly figure
   becomes HTML drawn by the one ``plotly.min.js`` the site serves (each page loads it once,
   the browser caches it), and every live explorer (an ipywidgets view, which needs a kernel)
   becomes a note pointing to the launch-on-Binder button.
3. ``OUT/src/`` gets the landing page (``index.md``: the README's introduction and course map,
   which is also the table of contents), the rendered notebooks and the Sphinx configuration;
   ``sphinx-build`` writes ``OUT/html/``. Sphinx warnings fail the build.

Prints the build time and every page's size (the HTML and what it loads from ``_static``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import shutil
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
NOTEBOOKS = ROOT / "notebooks"
PLOTLY_MIME = "application/vnd.plotly.v1+json"
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
STACK = ("jax", "jaxlib", "numpy", "plotly", "ipywidgets", "ipykernel", "nbclient")
LIVE_NOTE = (
    '<div class="ntk-live-note"><strong>Live explorer.</strong> Its controls need a running '
    "kernel: launch this notebook on Binder (the rocket button at the top of the page) or open "
    "it in JupyterLab to move them. The static figures next to it show its default view.</div>"
)


def course_map(readme: str) -> tuple[str, list[str], list[list[str]]]:
    """The README's course map: (table as Markdown, notebook file names, rows of cells).

    Raises:
      ValueError: the README has no table headed ``| Notebook | What it teaches | Run time |``.
    """
    lines = readme.splitlines()
    header = [i for i, line in enumerate(lines) if re.match(r"\|\s*Notebook\s*\|", line)]
    if len(header) != 1:
        raise ValueError("README.md needs one course map table headed '| Notebook | ...'")
    table = []
    for line in lines[header[0]:]:
        if not line.lstrip().startswith("|"):
            break
        table.append(line)
    rows = [[c.strip() for c in line.strip().strip("|").split("|")] for line in table[2:]]
    names = [re.search(r"\d{2}_[a-z0-9_]+\.ipynb", row[0]).group(0) for row in rows]
    return "\n".join(table), names, rows


def landing_page(readme: str) -> str:
    """``index.md``: the README's introduction, the course map (links to the pages) and the
    table of contents in the same order."""
    intro = readme.split("\n## ", 1)[0].splitlines()
    title = intro[0].lstrip("# ").strip()
    body = "\n".join(line for line in intro[1:] if not line.startswith("[![")).strip()
    table, names, _ = course_map(readme)
    toc = "\n".join(f"notebooks/{Path(name).stem}" for name in names)
    return (
        f"# {title}\n\n{body}\n\n"
        "Every page is a notebook of the course, executed when this site was built. Its live "
        "explorers need a running kernel: the rocket button at the top of a page opens that "
        "notebook on Binder, nothing to install.\n\n"
        f"## Course map\n\n{table}\n\n"
        "Run time: executing the whole notebook on a 2-core CPU, the first time (in brackets: "
        "with JAX's compilation cache warm).\n\n"
        f"```{{toctree}}\n:hidden:\n:maxdepth: 1\n:caption: Course map\n\n{toc}\n```\n"
    )


def fingerprint(path: Path) -> str:
    """What an executed copy of ``path`` depends on: the notebook, the package, the stack."""
    digest = hashlib.sha256(path.read_bytes())
    for source in sorted((ROOT / "ntk_helpers").rglob("*.py")):
        digest.update(source.relative_to(ROOT).as_posix().encode() + source.read_bytes())
    for name in STACK:
        digest.update(f"{name}=={metadata.version(name)}".encode())
    return digest.hexdigest()


def execute(path: Path, out: Path, timeout: float, force: bool) -> tuple[dict, float | None]:
    """The executed notebook (from ``out`` when still valid) and the seconds spent executing."""
    import nbformat
    from nbclient import NotebookClient

    executed, stamp = out / path.name, out / f"{path.stem}.fingerprint"
    wanted = fingerprint(path)
    if not force and executed.exists() and stamp.exists() and stamp.read_text() == wanted:
        return json.loads(executed.read_text(encoding="utf-8")), None
    notebook = nbformat.read(path, as_version=4)
    began = time.perf_counter()
    NotebookClient(
        notebook,
        timeout=timeout,
        kernel_name="python3",
        store_widget_state=False,
        resources={"metadata": {"path": str(path.parent)}},
    ).execute()
    seconds = time.perf_counter() - began
    out.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, executed)
    stamp.write_text(wanted)
    return json.loads(executed.read_text(encoding="utf-8")), seconds


def figure_html(figure: dict) -> str:
    """A plotly figure (its JSON) as an HTML fragment for the page's one plotly.js."""
    import plotly.io as pio

    return pio.to_html(
        figure,
        include_plotlyjs=False,
        full_html=False,
        config={"responsive": True, "displaylogo": False},
    )


def render_outputs(notebook: dict) -> dict[str, int]:
    """Make an executed notebook's outputs readable without a kernel (in place).

    Returns:
      Counts of what was changed: ``{"figures": ..., "explorers": ...}``.
    """
    counts = {"figures": 0, "explorers": 0}
    notebook.get("metadata", {}).pop("widgets", None)
    for cell in notebook.get("cells", []):
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if PLOTLY_MIME in data:
                data["text/html"] = figure_html(data.pop(PLOTLY_MIME))
                counts["figures"] += 1
            elif WIDGET_MIME in data:
                output["data"] = {"text/html": LIVE_NOTE}
                counts["explorers"] += 1
    return counts


def page_sizes(html: Path) -> dict[str, dict[str, float]]:
    """Per page: its HTML and everything it loads from the site itself, in MB."""
    sizes = {}
    for page in sorted(html.glob("**/*.html")):
        if page.name in ("genindex.html", "search.html") or page.parent.name == "_static":
            continue
        text = page.read_text(encoding="utf-8")
        loaded = 0
        for link in set(re.findall(r'(?:src|href)="([^"#?]+\.(?:js|css))(?:\?[^"]*)?"', text)):
            target = (page.parent / link).resolve()
            if target.is_file():
                loaded += target.stat().st_size
        sizes[page.relative_to(html).as_posix()] = {
            "html_mb": round(page.stat().st_size / 1e6, 3),
            "with_scripts_and_styles_mb": round((page.stat().st_size + loaded) / 1e6, 3),
        }
    return sizes


def build(out: Path, timeout: float, force: bool) -> dict:
    """Execute, render and build the site into ``out``; returns a report (times, sizes)."""
    import plotly

    began = time.perf_counter()
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    _, names, _ = course_map(readme)
    src, html = out / "src", out / "html"
    shutil.rmtree(src, ignore_errors=True)
    (src / "notebooks").mkdir(parents=True)
    (src / "_static").mkdir()
    for item in HERE.iterdir():
        if item.name in ("conf.py", "_templates"):
            (shutil.copytree if item.is_dir() else shutil.copy2)(item, src / item.name)
    for item in (HERE / "_static").iterdir():
        shutil.copy2(item, src / "_static" / item.name)
    shutil.copy2(Path(plotly.__file__).parent / "package_data" / "plotly.min.js", src / "_static")
    (src / "index.md").write_text(landing_page(readme), encoding="utf-8")

    report = {"notebooks": {}}
    for name in names:
        notebook, seconds = execute(NOTEBOOKS / name, out / "executed", timeout, force)
        counts = render_outputs(notebook)
        (src / "notebooks" / name).write_text(json.dumps(notebook), encoding="utf-8")
        report["notebooks"][name] = {"executed_s": None if seconds is None else round(seconds, 1),
                                     **counts}
        state = "cached" if seconds is None else f"executed in {seconds:.1f} s"
        print(f"site: {name}: {state}, {counts['figures']} figures, "
              f"{counts['explorers']} live explorers", flush=True)

    shutil.rmtree(html, ignore_errors=True)
    sphinx_began = time.perf_counter()
    warnings = out / "sphinx-warnings.txt"
    result = subprocess.run(
        [sys.executable, "-m", "sphinx", "-b", "html", "-q", "-W", "--keep-going",
         "-w", warnings, "-d", out / "doctrees", src, html],
    )
    if result.returncode != 0:
        raise RuntimeError(f"sphinx-build failed:\n{warnings.read_text()}")
    report["sphinx_s"] = round(time.perf_counter() - sphinx_began, 1)
    report["total_s"] = round(time.perf_counter() - began, 1)
    report["pages"] = page_sizes(html)
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "site")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds per cell")
    parser.add_argument("--force", action="store_true", help="execute even if cached")
    args = parser.parse_args(argv)
    if not args.timeout > 0:
        parser.error(f"--timeout must be positive, got {args.timeout}")
    report = build(args.out.resolve(), args.timeout, args.force)
    for page, size in report["pages"].items():
        print(f"site: {page}: {size['html_mb']:.2f} MB of HTML, "
              f"{size['with_scripts_and_styles_mb']:.2f} MB with its scripts and styles")
    print(f"site: built in {report['total_s']:.0f} s (Sphinx {report['sphinx_s']:.0f} s): "
          f"{args.out / 'html' / 'index.html'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
