"""Prev/next navigation at the top and bottom of every notebook, generated from the README's course map.

    python scripts/navigation.py          # rewrite the navigation lines in notebooks/
    python scripts/navigation.py --check  # exit 1 if any notebook's navigation is out of date

The order is the README's course map table. A navigation line starts with the marker
``<!-- nav -->`` (invisible when rendered); it follows the title line of each notebook's first
Markdown cell and is the whole of its last cell. Link texts are the notebooks' own titles (their
``# NN · Title`` heading, up to a colon).
"""

from __future__ import annotations

import argparse
import json
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
MARKER = "<!-- nav -->"


def course_order() -> list[str]:
    """Notebook file names in the order of the README's course map."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Course map", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^\| \[(\d\d_[a-z0-9_]+\.ipynb)\]", section, re.M)


def title(path: pathlib.Path) -> str:
    first = "".join(json.loads(path.read_text())["cells"][0]["source"])
    heading = re.search(r"^# (.+)$", first, re.M)
    return heading.group(1).split(":")[0].strip() if heading else path.stem


def nav_line(order: list[str], name: str) -> str:
    i = order.index(name)
    parts = []
    if i > 0:
        parts.append(f"[← {title(ROOT / 'notebooks' / order[i - 1])}]({order[i - 1]})")
    if i > 0:
        parts.append(f"[course map]({order[0]})")
    if i + 1 < len(order):
        parts.append(f"[{title(ROOT / 'notebooks' / order[i + 1])} →]({order[i + 1]})")
    return f"{MARKER} " + " · ".join(parts)


def _lines(cell):
    return "".join(cell["source"]).split("\n")


def _set(cell, lines):
    text = "\n".join(lines)
    cell["source"] = [line + "\n" for line in text.split("\n")[:-1]] + [text.split("\n")[-1]]


def apply(nb: dict, line: str) -> dict:
    """Put ``line`` under the title of the first cell and as the last cell (replacing older ones)."""
    cells = nb["cells"]
    old = re.compile(r"^\[(← previous|index)\]\(")  # the hand-written links this script replaced
    first = [x for x in _lines(cells[0]) if not x.startswith(MARKER) and not old.match(x)]
    rest = first[1:]
    while rest and not rest[0].strip():
        rest.pop(0)
    _set(cells[0], [first[0], "", line, ""] + rest)
    if cells[-1]["cell_type"] == "markdown" and "".join(cells[-1]["source"]).startswith(MARKER):
        _set(cells[-1], [line])
    else:
        cells.append({"cell_type": "markdown", "id": "navigation", "metadata": {}, "source": [line]})
    return nb


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    order = course_order()
    stale = []
    for name in order:
        path = ROOT / "notebooks" / name
        text = path.read_text()
        nb = apply(json.loads(text), nav_line(order, name))
        new = json.dumps(nb, indent=1, ensure_ascii=False) + "\n"
        if new != text:
            stale.append(name)
            if not args.check:
                path.write_text(new)
    if args.check and stale:
        print("navigation out of date (run python scripts/navigation.py):", ", ".join(stale))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
