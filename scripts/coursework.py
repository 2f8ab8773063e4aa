"""Turn the notebooks' exercises into nbgrader assignments (INSTRUCTORS.md).

The notebooks in notebooks/ are the instructor's source: every exercise is a Markdown cell
``**Exercise N.** *(P points)*`` (or ``*(P points: A for the code, W for the written answer)*``),
then a code cell tagged ``solution``, a code cell tagged ``check`` and, for an open experiment,
a Markdown cell tagged ``written``. This script derives nbgrader's cell metadata from those tags
and points, so every notebook, including one added later, is handled the same way:

    python scripts/coursework.py apply [NOTEBOOK ...]    write the metadata into notebooks/
    python scripts/coursework.py apply --check            exit 1 if a notebook lacks it
    python scripts/coursework.py release [--root DIR]     DIR/source/NN_x/ + nbgrader's student
                                                          versions in DIR/release/NN_x/

``release`` (``make assignments``) copies each notebook with exercises into the course folder
(default ``coursework/``, the root that nbgrader_config.py names) and runs nbgrader's
generate_assignment on all of them in one process.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
COURSE_ID = "ntk-course"
EXERCISE = re.compile(r"^\*\*Exercise (\d+)\.\*\*(.*)$", re.M)
POINTS = re.compile(r"\*\((\d+) points?(?:: (\d+) for the code, (\d+) for the written answer)?\)\*")
BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
HIDDEN = "### BEGIN HIDDEN TESTS"


class CourseworkError(ValueError):
    """A notebook's exercises do not follow the layout nbgrader needs (the message says where)."""


def _source(cell: dict) -> str:
    text = cell.get("source", "")
    return "".join(text) if isinstance(text, list) else text


def _tags(cell: dict) -> set[str]:
    return set(cell.get("metadata", {}).get("tags", []))


def exercises(notebook: dict, name: str = "notebook") -> list[dict]:
    """The exercises of a notebook, in order.

    Args:
        notebook: the notebook's JSON (nbformat 4).
        name: how to call the notebook in error messages.

    Returns:
        One dict per exercise: ``number``, ``points`` (total), ``code_points``,
        ``written_points`` (0 without a written answer) and the cell indices ``prompt``,
        ``solution``, ``check`` and ``written`` (None without one).

    Raises:
        CourseworkError: an exercise without its points, its solution or its check cell.
    """
    cells = notebook["cells"]
    found = []
    for i, cell in enumerate(cells):
        if cell["cell_type"] != "markdown":
            continue
        for match in EXERCISE.finditer(_source(cell)):
            number = int(match.group(1))
            where = f"{name}, exercise {number}"
            points = POINTS.search(match.group(2))
            if not points:
                raise CourseworkError(f"{where}: state its points, '**Exercise {number}.** *(2 points)*'")
            total = int(points.group(1))
            code, written = (int(points.group(2)), int(points.group(3))) if points.group(2) else (total, 0)
            if code + written != total:
                raise CourseworkError(f"{where}: {code} + {written} points do not add up to {total}")
            solution, check = i + 1, i + 2
            if check >= len(cells) or "solution" not in _tags(cells[solution]) or "check" not in _tags(cells[check]):
                raise CourseworkError(f"{where}: needs a code cell tagged 'solution', then one tagged 'check'")
            after = check + 1
            has_written = after < len(cells) and "written" in _tags(cells[after])
            if bool(written) != has_written:
                raise CourseworkError(f"{where}: a written answer needs both its points and a Markdown "
                                      "cell tagged 'written' after the check")
            found.append({"number": number, "points": total, "code_points": code, "written_points": written,
                          "prompt": i, "solution": solution, "check": check,
                          "written": after if has_written else None})
    return found


def _with_solution_markers(text: str) -> str:
    """Wrap a whole cell in nbgrader's solution markers unless it already has them."""
    if BEGIN in text:
        return text
    return f"{BEGIN}\n{text.rstrip()}\n{END}"


def _metadata(grade_id: str, *, solution: bool, grade: bool, locked: bool, points: int | None) -> dict:
    meta = {"grade": grade, "grade_id": grade_id, "locked": locked, "schema_version": 3, "solution": solution}
    if points is not None:
        meta["points"] = points
    return meta


def apply(notebook: dict, name: str = "notebook") -> dict:
    """A copy of the notebook with nbgrader metadata on every solution, check and written cell.

    Solution cells without ``### BEGIN SOLUTION`` are wrapped whole; a written answer (Markdown)
    is replaced whole in the student version, so it carries no markers.
    Check cells must already hold ``### BEGIN HIDDEN TESTS``: the visible part above it gives
    a hint, the hidden part grades (nbgrader removes it from the student version).

    Raises:
        CourseworkError: as :func:`exercises`, or a check cell without hidden tests.
    """
    out = copy.deepcopy(notebook)
    cells = out["cells"]
    for ex in exercises(out, name):
        n = ex["number"]
        sol, chk = cells[ex["solution"]], cells[ex["check"]]
        if HIDDEN not in _source(chk):
            raise CourseworkError(f"{name}, exercise {n}: the check cell needs '{HIDDEN}' (the graded tests)")
        sol["source"] = _with_solution_markers(_source(sol))
        sol["metadata"]["nbgrader"] = _metadata(f"ex{n}-solution", solution=True, grade=False, locked=False,
                                                points=None)
        chk["metadata"]["nbgrader"] = _metadata(f"ex{n}-check", solution=False, grade=True, locked=True,
                                                points=ex["code_points"])
        if ex["written"] is not None:
            written = cells[ex["written"]]  # Markdown: nbgrader replaces the whole model answer
            written["metadata"]["nbgrader"] = _metadata(f"ex{n}-written", solution=True, grade=True,
                                                        locked=False, points=ex["written_points"])
    for cell in cells:  # keep sources as one string per line, as Jupyter writes them
        if isinstance(cell.get("source"), str):
            cell["source"] = cell["source"].splitlines(keepends=True)
    return out


def with_exercises(paths=None) -> list[Path]:
    """The notebooks (default: all of notebooks/) that hold at least one exercise."""
    paths = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")) if not paths else [Path(p) for p in paths]
    return [p for p in paths if EXERCISE.search("\n".join(
        _source(c) for c in json.loads(p.read_text(encoding="utf-8"))["cells"] if c["cell_type"] == "markdown"))]


def _write(path: Path, notebook: dict) -> None:
    path.write_text(json.dumps(notebook, sort_keys=True, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def apply_in_place(paths, check: bool = False) -> list[Path]:
    """Write (or, with check=True, only detect) missing nbgrader metadata; returns the paths that
    lacked it."""
    stale = []
    for path in with_exercises(paths):
        notebook = json.loads(path.read_text(encoding="utf-8"))
        applied = apply(notebook, path.name)
        if applied != notebook:
            stale.append(path)
            if not check:
                _write(path, applied)
    return stale


def release(root: Path, paths=None) -> dict[str, Path]:
    """Copy each notebook with exercises into ``root/source/<stem>/`` (metadata applied) and run
    nbgrader's generate_assignment on it; returns {assignment: student notebook}."""
    from nbgrader.apps import NbGraderAPI
    from traitlets.config import Config

    # nbgrader upgrades its gradebook with the `alembic` command: the one next to this Python
    os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    root = Path(root).resolve()
    names = {}
    for path in with_exercises(paths):
        folder = root / "source" / path.stem
        folder.mkdir(parents=True, exist_ok=True)
        _write(folder / path.name, apply(json.loads(path.read_text(encoding="utf-8")), path.name))
        names[path.stem] = path.name
    config = Config()
    config.CourseDirectory.root = str(root)
    config.CourseDirectory.course_id = COURSE_ID
    api = NbGraderAPI(config=config)
    out = {}
    for stem, filename in names.items():
        result = api.generate_assignment(stem, force=True)
        if not result["success"]:
            raise CourseworkError(f"nbgrader generate_assignment {stem} failed:\n{result['error']}\n{result['log']}")
        out[stem] = root / "release" / stem / filename
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p_apply = sub.add_parser("apply", help="write nbgrader metadata into the notebooks")
    p_apply.add_argument("notebooks", nargs="*", type=Path)
    p_apply.add_argument("--check", action="store_true", help="exit 1 if any notebook lacks it")
    p_release = sub.add_parser("release", help="source/ and nbgrader's student versions")
    p_release.add_argument("notebooks", nargs="*", type=Path)
    p_release.add_argument("--root", type=Path, default=ROOT / "coursework")
    args = parser.parse_args(argv)
    try:
        if args.command == "apply":
            stale = apply_in_place(args.notebooks, check=args.check)
            verb = "lack" if args.check else "updated"
            for path in stale:
                print(f"{verb}: {path}")
            return 1 if args.check and stale else 0
        paths = args.notebooks
        if not paths:  # every notebook: one not yet annotated is skipped, loudly, not fatal
            paths = []
            for path in with_exercises(None):
                try:
                    apply(json.loads(path.read_text(encoding="utf-8")), path.name)
                    paths.append(path)
                except CourseworkError as exc:
                    print(f"skipped {path.name}: {exc}", file=sys.stderr)
        released = release(args.root, paths)
        for stem, path in released.items():
            print(f"{stem}: {path}")
        return 0
    except CourseworkError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
