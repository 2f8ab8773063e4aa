"""Strip notebooks for committing, with nbstripout, and give them the standard kernel.

Usage:
    python scripts/strip_notebooks.py [--check] [NOTEBOOK ...]

Without paths it strips every notebooks/*.ipynb. With --check it changes nothing, lists
the notebooks that would change and exits with status 1 if there are any.

The stripping is nbstripout's (`nbstripout --keep-id`, as the pre-commit hook in
.pre-commit-config.yaml runs it): outputs, execution counts, stored widget state
(megabytes of plotly.js per FigureWidget), run timings and view state (`collapsed`,
`scrolled`) go; cell ids stay, so diffs stay small. One thing nbstripout does not do is
done here as well: the kernelspec is set to the standard ``python3`` kernel, so the
notebook opens with the course's environment in JupyterLab, on Binder and under nbval
whatever kernel it was last saved with.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
NBSTRIPOUT = [sys.executable, "-m", "nbstripout", "--keep-id"]


def kernel_fixed(text: str) -> str | None:
    """The notebook text with the standard kernelspec, or None when it already has it."""
    notebook = json.loads(text)
    if notebook.get("metadata", {}).get("kernelspec") == KERNELSPEC:
        return None
    notebook.setdefault("metadata", {})["kernelspec"] = dict(KERNELSPEC)
    # The way Jupyter (and nbstripout) write a notebook.
    return json.dumps(notebook, sort_keys=True, indent=1, ensure_ascii=False) + "\n"


def main(argv: list[str]) -> int:
    check = "--check" in argv
    paths = [Path(arg) for arg in argv if arg != "--check"]
    if not paths:
        paths = sorted((ROOT / "notebooks").glob("*.ipynb"))
    for path in paths:
        if path.suffix != ".ipynb":
            print(f"error: {path} is not an .ipynb file", file=sys.stderr)
            return 2
    # nbstripout --verify lists what it would strip ("Dry run: would have stripped PATH").
    verify = subprocess.run(
        [*NBSTRIPOUT, "--verify", *map(str, paths)], capture_output=True, text=True
    )
    if verify.returncode not in (0, 1):
        print(verify.stdout + verify.stderr, file=sys.stderr, end="")
        return 2
    changed = {path for path in paths if str(path) in verify.stdout}
    changed |= {path for path in paths if kernel_fixed(path.read_text(encoding="utf-8"))}
    if not check and changed:
        subprocess.run([*NBSTRIPOUT, *map(str, sorted(changed))], check=True)
        for path in changed:
            fixed = kernel_fixed(path.read_text(encoding="utf-8"))
            if fixed is not None:
                path.write_text(fixed, encoding="utf-8")
    verb = "would strip" if check else "stripped"
    for path in sorted(changed):
        print(f"{verb} {path}")
    if not changed:
        print(f"{len(paths)} notebook(s) already clean")
    return 1 if (check and changed) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
