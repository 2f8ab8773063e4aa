"""Every course notebook has a MyST Markdown pair (jupytext.toml), and the two hold the same
cells, so that a review can read the notebook's diff as text.

`make pair` (jupytext --sync) creates and updates the pairs; the pre-commit hook does the same.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import jupytext
import pytest
from jupytext.compare import NotebookDifference, compare_notebooks

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
FORMAT = "md:myst"


def test_jupytext_pairs_the_course_notebooks_with_myst_markdown():
    config = tomllib.loads((ROOT / "jupytext.toml").read_text())
    assert config["formats"] == f"notebooks///ipynb,notebooks///{FORMAT}"
    assert NOTEBOOKS, "no notebooks found"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_and_its_markdown_pair_are_in_sync(path):
    pair = path.with_suffix(".md")
    assert pair.exists(), f"{pair.relative_to(ROOT)} is missing: run `make pair`"
    markdown = jupytext.read(pair, fmt=FORMAT)
    notebook = jupytext.read(path)
    try:
        compare_notebooks(markdown, notebook, fmt=FORMAT)
    except NotebookDifference as difference:
        pytest.fail(f"{path.name} and {pair.name} differ: run `make pair`\n{difference}",
                    pytrace=False)


def test_a_changed_cell_is_caught(tmp_path):
    """The comparison above really fails when the two files disagree."""
    path = NOTEBOOKS[0]
    notebook = jupytext.read(path)
    text = jupytext.writes(notebook, fmt=FORMAT)
    edited = jupytext.reads(text, fmt=FORMAT)
    compare_notebooks(edited, notebook, fmt=FORMAT)  # a fresh pair is in sync
    code = [cell for cell in edited.cells if cell.cell_type == "code"]
    code[0].source += "\nanswer = 42"
    with pytest.raises(NotebookDifference):
        compare_notebooks(edited, notebook, fmt=FORMAT)
