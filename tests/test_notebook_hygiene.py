"""Notebooks are committed clean, named and numbered as the README's course map says,
and each one opens by telling the reader what it teaches and what it needs."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK_DIR = ROOT / "notebooks"
NAME = re.compile(r"^(\d{2})_[a-z][a-z0-9]*(?:_[a-z][a-z0-9]*)*\.ipynb$")
MAP_HEADER = ("Notebook", "What it teaches", "Run time")
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))


def load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def source(cell: dict) -> str:
    text = cell.get("source", "")
    return "".join(text) if isinstance(text, list) else text


def readme_course_map() -> list[str]:
    """The notebook file names listed, in order, in the README's course map table."""
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    cells = [[c.strip() for c in line.strip().strip("|").split("|")] for line in lines]
    starts = [i for i, row in enumerate(cells) if tuple(row) == MAP_HEADER]
    assert len(starts) == 1, f"README.md needs one table headed '| {' | '.join(MAP_HEADER)} |'"
    names = []
    for line, row in zip(lines[starts[0] + 2 :], cells[starts[0] + 2 :], strict=False):
        if not line.lstrip().startswith("|"):
            break
        found = re.findall(r"\d{2}_[a-z0-9_]+\.ipynb", row[0])
        assert found, f"README course map row without a notebook name: {line!r}"
        names.append(found[0])
    return names


def test_notebook_names_follow_the_pattern():
    bad = [p.name for p in NOTEBOOKS if not NAME.match(p.name)]
    assert not bad, f"notebooks must be named NN_lowercase_words.ipynb: {bad}"


def test_notebooks_are_numbered_without_gaps_and_match_the_course_map():
    names = [p.name for p in NOTEBOOKS]
    numbers = [int(NAME.match(n).group(1)) for n in names if NAME.match(n)]
    assert numbers == list(range(len(numbers))), f"numbering must run 00, 01, ...: {names}"
    assert readme_course_map() == names, "README.md's course map must list notebooks/ in order"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_committed_without_outputs_or_widget_state(path):
    notebook = load(path)
    dirty = [
        i
        for i, cell in enumerate(notebook["cells"])
        if cell["cell_type"] == "code" and (cell.get("outputs") or cell.get("execution_count"))
    ]
    message = "run `make strip` before committing"
    assert not dirty, f"cells {dirty} have outputs or execution counts: {message}"
    assert "widgets" not in notebook.get("metadata", {}), f"stored widget state: {message}"
    kernel = notebook.get("metadata", {}).get("kernelspec", {}).get("name")
    assert kernel == "python3", f"kernelspec {kernel!r}, expected 'python3': {message}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_opens_with_title_goals_and_prerequisites(path):
    cells = load(path)["cells"]
    assert cells and cells[0]["cell_type"] == "markdown", "the first cell must be Markdown"
    assert re.match(r"#\s+\S", source(cells[0]).lstrip()), "the first cell must open with '# Title'"
    intro = []
    for cell in cells:
        if cell["cell_type"] != "markdown":
            break
        intro.append(source(cell))
    intro_text = "\n".join(intro)

    def labelled(pattern: str) -> bool:
        heading = rf"^\s*#+\s*(?:{pattern})\b"
        bold = rf"\*\*(?:{pattern})\b[^*]*\*\*"
        return bool(
            re.search(heading, intro_text, re.M | re.I) or re.search(bold, intro_text, re.I)
        )

    assert labelled("Learning goals"), "the opening Markdown needs a 'Learning goals' heading"
    assert labelled("Prerequisites|What you need"), (
        "the opening Markdown needs a 'Prerequisites' or 'What you need' heading"
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_no_sys_path_manipulation(path):
    """Helpers come from the installed package (`pip install -e .`), never sys.path tricks."""
    offending = [
        i
        for i, cell in enumerate(load(path)["cells"])
        if cell["cell_type"] == "code"
        and re.search(r"\bsys\.path\b|\bsite\.addsitedir\b|PYTHONPATH", source(cell))
    ]
    assert not offending, f"cells {offending} touch sys.path: import ntk_helpers instead"


def test_strip_script_cleans_a_dirty_notebook(tmp_path):
    """`make strip` really removes what the tests above reject."""
    import subprocess
    import sys

    dirty = {
        "cells": [
            {"cell_type": "markdown", "id": "md0", "metadata": {}, "source": ["# T"]},
            {
                "cell_type": "code",
                "id": "code1",
                "execution_count": 3,
                "metadata": {"execution": {"iopub.execute_input": "x"}, "tags": ["keep"]},
                "outputs": [{"output_type": "stream", "name": "stdout", "text": ["1\n"]}],
                "source": ["print(1)"],
            },
        ],
        "metadata": {"widgets": {"state": {}}, "kernelspec": {"name": "other"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    path = tmp_path / "00_dirty.ipynb"
    path.write_text(json.dumps(dirty), encoding="utf-8")
    script = ROOT / "scripts" / "strip_notebooks.py"
    check = subprocess.run([sys.executable, script, "--check", path], capture_output=True)
    assert check.returncode == 1
    subprocess.run([sys.executable, script, path], check=True, capture_output=True)
    clean = load(path)
    code = clean["cells"][1]
    assert code["outputs"] == [] and code["execution_count"] is None
    assert code["metadata"] == {"tags": ["keep"]}
    assert "widgets" not in clean["metadata"]
    assert clean["metadata"]["kernelspec"]["name"] == "python3"
    assert clean["cells"][0] == dirty["cells"][0]
    again = subprocess.run([sys.executable, script, "--check", path], capture_output=True)
    assert again.returncode == 0


# --------------------------------------------------------------------------- the template

LESSONS = [p for p in NOTEBOOKS if not p.name.startswith("00_")]
SECTION = re.compile(r"^## (\d+) · \S.*$")
CLOSING = ["Summary", "Exercises", "References"]
REFERENCE = re.compile(r"^- \S.* \((\d{4}|n\.d\.)\)\. \S.*\.")


def headings(path: Path) -> list[str]:
    return [line for cell in load(path)["cells"] if cell["cell_type"] == "markdown"
            for line in source(cell).splitlines() if line.startswith("## ")]


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.name)
def test_sections_are_numbered_then_summary_exercises_references(path):
    found = headings(path)
    numbered = [h for h in found if SECTION.match(h)]
    assert numbered, f"sections are headed '## N · Title': found {found}"
    numbers = [int(SECTION.match(h).group(1)) for h in numbered]
    assert numbers == list(range(1, len(numbers) + 1)), f"sections must be numbered 1, 2, …: {numbers}"
    closing = [h[3:].strip() for h in found if not SECTION.match(h)]
    assert closing == CLOSING, f"after the numbered sections: exactly {CLOSING}, got {closing}"


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.name)
def test_exercises_have_a_solution_and_a_check(path):
    cells = load(path)["cells"]
    exercises = [i for i, c in enumerate(cells) if c["cell_type"] == "markdown"
                 and re.search(r"^\*\*Exercise \d+\.\*\*", source(c), re.M)]
    assert exercises, "the Exercises section needs '**Exercise N.** …' cells"
    tags = [set(c.get("metadata", {}).get("tags", [])) for c in cells]
    for i in exercises:
        following = tags[i + 1 : i + 3]
        assert any("solution" in t for t in following) and any("check" in t for t in following), (
            f"exercise in cell {i} needs a code cell tagged 'solution' and one tagged 'check' after it")


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.name)
def test_references_follow_one_format(path):
    cells = load(path)["cells"]
    text = "\n".join(source(c) for c in cells if c["cell_type"] == "markdown")
    refs = text.split("## References", 1)[1].split("\n## ", 1)[0]
    bullets = [line for line in refs.splitlines() if line.startswith("- ")]
    assert bullets, "the References section lists works as '- Authors (Year). Title. Venue. arXiv:…'"
    bad = [b for b in bullets if not REFERENCE.match(b)]
    assert not bad, f"references not in the format '- Authors (Year). Title. …': {bad}"


def test_navigation_is_generated_from_the_course_map():
    import subprocess
    import sys

    out = subprocess.run([sys.executable, str(ROOT / "scripts" / "navigation.py"), "--check"],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_no_left_right_panel_wording_or_dangling_notebook_references(path):
    """Figures stack vertically in a narrow column: 'left/right panel' misleads; and every
    'notebook NN' a text mentions must exist."""
    text = "\n".join(source(c) for c in load(path)["cells"])
    assert not re.search(r"\b(left|right)[- ](hand )?(panel|plot|figure)", text, re.I), "say 'upper/lower' or name the figure"
    existing = {int(NAME.match(p.name).group(1)) for p in NOTEBOOKS}
    cited = {int(n) for n in re.findall(r"[Nn]otebooks? (\d{2})\b", text)}
    assert cited <= existing, f"mentions notebooks that do not exist: {sorted(cited - existing)}"


def test_docstrings_introduced_in_name_a_notebook_that_uses_them():
    """'Introduced in notebook NN' in a docstring must name a notebook that calls that function."""
    import ast

    texts = {int(NAME.match(p.name).group(1)): "\n".join(source(c) for c in load(p)["cells"]) for p in NOTEBOOKS}
    stale = []
    for module in sorted((ROOT / "ntk_helpers").rglob("*.py")):
        tree = ast.parse(module.read_text(encoding="utf-8"))
        for number in re.findall(r"Introduced in notebooks? (\d{2})", ast.get_docstring(tree) or ""):
            if not re.search(rf"\b{module.stem}\.", texts.get(int(number), "")):
                stale.append(f"module {module.stem} → notebook {number}")
        for node in ast.walk(tree):
            if not isinstance(node, ast.FunctionDef | ast.ClassDef) or node.name.startswith("_"):
                continue
            doc = ast.get_docstring(node) or ""
            for number in re.findall(r"Introduced in notebooks? (\d{2})", doc):
                text = texts.get(int(number), "")
                if not re.search(rf"\b{node.name}\b", text):
                    stale.append(f"{module.name}:{node.name} → notebook {number}")
    assert not stale, f"docstrings point to notebooks that do not use the function: {stale}"
