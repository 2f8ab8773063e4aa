"""Strip notebooks for committing: no outputs, no execution counts, no widget state.

Usage:
    python scripts/strip_notebooks.py [--check] [NOTEBOOK ...]

Without paths it strips every notebooks/*.ipynb. With --check it changes nothing,
lists the notebooks that would change and exits with status 1 if there are any.

What it does to each notebook:
- code cells: outputs = [], execution_count = null;
- cell metadata: drops "execution" (run timings) and "collapsed"/"scrolled" (view state);
- notebook metadata: drops "widgets" (saved widget state: megabytes of plotly.js per
  FigureWidget) and sets the kernelspec to the standard "python3" kernel, so the notebook
  opens with the course's environment in JupyterLab, on Binder and under nbval.
The file is written the way Jupyter writes it (sorted keys, one-space indent, UTF-8).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
VIEW_KEYS = ("execution", "collapsed", "scrolled")


def strip(notebook: dict) -> dict:
    """Return a stripped copy of a notebook (the JSON dict of an .ipynb file)."""
    notebook = json.loads(json.dumps(notebook))
    metadata = notebook.setdefault("metadata", {})
    metadata.pop("widgets", None)
    metadata["kernelspec"] = dict(KERNELSPEC)
    for cell in notebook.get("cells", []):
        if cell.get("cell_type") == "code":
            cell["outputs"] = []
            cell["execution_count"] = None
        cell_metadata = cell.get("metadata", {})
        for key in VIEW_KEYS:
            cell_metadata.pop(key, None)
    return notebook


def dumps(notebook: dict) -> str:
    """Serialise a notebook as Jupyter does."""
    return json.dumps(notebook, sort_keys=True, indent=1, ensure_ascii=False) + "\n"


def main(argv: list[str]) -> int:
    check = "--check" in argv
    paths = [Path(arg) for arg in argv if arg != "--check"]
    if not paths:
        paths = sorted((ROOT / "notebooks").glob("*.ipynb"))
    changed = []
    for path in paths:
        if path.suffix != ".ipynb":
            print(f"error: {path} is not an .ipynb file", file=sys.stderr)
            return 2
        text = path.read_text(encoding="utf-8")
        new_text = dumps(strip(json.loads(text)))
        if new_text != text:
            changed.append(path)
            if not check:
                path.write_text(new_text, encoding="utf-8")
    verb = "would strip" if check else "stripped"
    for path in changed:
        print(f"{verb} {path}")
    if not changed:
        print(f"{len(paths)} notebook(s) already clean")
    return 1 if (check and changed) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
