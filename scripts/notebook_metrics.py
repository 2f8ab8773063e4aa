"""Size and balance of every notebook: code lines, the longest code cell, prose per code word, asserts.

    python scripts/notebook_metrics.py            # a table for notebooks/*.ipynb
    python scripts/notebook_metrics.py --check    # also fail (exit 1) on the course's targets

Targets (the course's template): at most 220 code lines per lesson notebook, no code cell over
30 lines, at least 1.5 words of prose per word of code. Numerical claims are counted as
``assert`` statements in code cells, which may only grow. Also reports the longest module of
``ntk_helpers`` (target: about 400 lines at most).
"""

from __future__ import annotations

import argparse
import json
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
MAX_CODE_LINES, MAX_CELL_LINES, MIN_PROSE_PER_CODE, MAX_MODULE_LINES = 220, 30, 1.5, 400
MARKER = re.compile(r"^\s*### (BEGIN|END) (SOLUTION|HIDDEN TESTS)\s*$")  # nbgrader's markers are not code


def metrics(path: pathlib.Path) -> dict:
    cells = json.loads(path.read_text())["cells"]
    code = ["".join(c["source"]) for c in cells if c["cell_type"] == "code"]
    prose = ["".join(c["source"]) for c in cells if c["cell_type"] == "markdown"]
    lines = [[line for line in src.splitlines() if line.strip() and not MARKER.match(line)] for src in code]
    words = lambda texts: sum(len(re.findall(r"\S+", t)) for t in texts)  # noqa: E731
    return {
        "notebook": path.name,
        "code_lines": sum(len(c) for c in lines),
        "longest_cell": max((len(c) for c in lines), default=0),
        "prose_per_code": words(prose) / max(words(code), 1),
        "asserts": sum(len(re.findall(r"^\s*assert\b", src, re.M)) for src in code),
    }


def module_lines() -> dict:
    return {str(p.relative_to(ROOT)): len(p.read_text().splitlines()) for p in (ROOT / "ntk_helpers").rglob("*.py")}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if a target is missed")
    args = parser.parse_args()
    rows = [metrics(p) for p in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))]
    print(f"{'notebook':34s} {'code lines':>10s} {'longest cell':>12s} {'prose/code':>10s} {'asserts':>8s}")
    failed = []
    for r in rows:
        print(f"{r['notebook']:34s} {r['code_lines']:10d} {r['longest_cell']:12d} {r['prose_per_code']:10.2f} {r['asserts']:8d}")
        if r["notebook"].startswith("00_"):
            continue  # the index notebook has no lesson code to balance
        if r["code_lines"] > MAX_CODE_LINES or r["longest_cell"] > MAX_CELL_LINES or r["prose_per_code"] < MIN_PROSE_PER_CODE:
            failed.append(r["notebook"])
    print(f"{'total':34s} {sum(r['code_lines'] for r in rows):10d} {'':12s} {'':10s} {sum(r['asserts'] for r in rows):8d}")
    modules = module_lines()
    longest = max(modules, key=modules.get)
    print(f"longest module: {longest} ({modules[longest]} lines)")
    if modules[longest] > MAX_MODULE_LINES * 1.1:
        failed.append(longest)
    if args.check and failed:
        print("targets missed:", ", ".join(failed))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
