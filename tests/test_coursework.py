"""The exercises work as nbgrader coursework (INSTRUCTORS.md, scripts/coursework.py).

Every notebook with exercises carries nbgrader's metadata; the student versions of all of
them are generated; no solution or hidden test survives in them; a student version's graded
cells fail; and autograding a submission made from the source version gives full points, while
one wrong answer loses exactly that cell's points. Autograding executes whole notebooks, so it
runs on two cheap ones (00 and 07, about 5 and 15 s each on 2 cores).
"""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
AUTOGRADED = ("00_start_here", "07_architectures")  # cheap to execute; one index, one lesson


def _coursework_module():
    spec = importlib.util.spec_from_file_location("coursework", ROOT / "scripts" / "coursework.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


coursework = _coursework_module()


def load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def _gradable(path: Path) -> bool:
    try:
        coursework.apply(load(path), path.name)
    except coursework.CourseworkError:
        return False  # reported by test_every_notebook_with_exercises_carries_nbgrader_metadata
    return True


# Every notebook with exercises is covered; one whose exercises lack points or hidden tests fails
# the metadata test below with what to fix, and the other tests run on the rest.
WITH_EXERCISES = [p for p in coursework.with_exercises() if _gradable(p)]
LESSONS = [p for p in WITH_EXERCISES if not p.name.startswith("00_")]


def source(cell: dict) -> str:
    return coursework._source(cell)


@pytest.fixture(scope="module")
def released(tmp_path_factory):
    """Student versions of every notebook with exercises, in a fresh course folder."""
    root = tmp_path_factory.mktemp("course")
    start = time.perf_counter()
    out = coursework.release(root, WITH_EXERCISES)
    seconds = time.perf_counter() - start
    return root, out, seconds


@pytest.mark.parametrize("path", coursework.with_exercises(), ids=lambda p: p.name)
def test_every_notebook_with_exercises_carries_nbgrader_metadata(path):
    try:
        stale = coursework.apply_in_place([path], check=True)
    except coursework.CourseworkError as exc:
        pytest.fail(f"{exc} (the layout is in INSTRUCTORS.md)")
    assert not stale, f"run `python scripts/coursework.py apply {' '.join(str(p) for p in stale)}`"


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.name)
def test_lessons_have_a_computation_a_derivation_and_an_experiment(path):
    """At least three exercises; the last asks for a written answer; every one has points."""
    found = coursework.exercises(load(path), path.name)
    assert len(found) >= 3, "a lesson needs at least three exercises (INSTRUCTORS.md)"
    assert found[-1]["written"] is not None, "the last exercise is an open experiment with a written answer"
    assert all(ex["points"] > 0 for ex in found)
    assert [ex["number"] for ex in found] == list(range(1, len(found) + 1))


@pytest.mark.parametrize("path", WITH_EXERCISES, ids=lambda p: p.name)
def test_checks_are_split_into_a_hint_and_hidden_tests(path):
    cells = load(path)["cells"]
    for ex in coursework.exercises(load(path), path.name):
        check = source(cells[ex["check"]])
        visible, hidden = check.split(coursework.HIDDEN, 1)
        assert re.search(r"^\s*assert\b", visible, re.M), f"exercise {ex['number']}: no visible check"
        assert re.search(r"^\s*assert\b", hidden, re.M), f"exercise {ex['number']}: no hidden test"
        assert "print(" not in visible, f"exercise {ex['number']}: the visible check must not print"


def test_student_versions_of_every_notebook_are_generated_quickly(released):
    root, out, seconds = released
    assert set(out) == {p.stem for p in WITH_EXERCISES}
    assert all(p.is_file() for p in out.values())
    assert seconds < 60, f"generating the student versions took {seconds:.0f} s"


def _solution_lines(path: Path) -> list[str]:
    """The lines of every solution region and written model answer a student must not see."""
    lines = []
    cells = load(path)["cells"]
    for ex in coursework.exercises(load(path), path.name):
        text = source(cells[ex["solution"]])
        region = text.split(coursework.BEGIN, 1)[-1].split(coursework.END, 1)[0]
        lines += [line.strip() for line in region.splitlines() if len(line.strip()) > 12]
        if ex["written"] is not None:
            lines += [line.strip() for line in source(cells[ex["written"]]).splitlines() if len(line.strip()) > 12]
    return lines


@pytest.mark.parametrize("path", WITH_EXERCISES, ids=lambda p: p.name)
def test_no_solution_and_no_hidden_test_survives(released, path):
    _, out, _ = released
    student = load(out[path.stem])
    text = "\n".join(source(c) for c in student["cells"])
    for marker in ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"):
        assert marker not in text, f"{marker!r} left in the student version"
    leaked = [line for line in _solution_lines(path) if line in text]
    assert not leaked, f"solution lines left in the student version: {leaked[:3]}"
    cells = load(path)["cells"]
    for ex in coursework.exercises(load(path), path.name):
        hidden = source(cells[ex["check"]]).split(coursework.HIDDEN, 1)[1]
        kept = [line.strip() for line in hidden.splitlines()
                if line.strip().startswith("assert") and line.strip() in text]
        assert not kept, f"hidden test of exercise {ex['number']} left in the student version: {kept}"


def _execute(path: Path):
    import nbclient
    import nbformat

    notebook = nbformat.read(path, as_version=4)
    nbclient.NotebookClient(notebook, timeout=300, allow_errors=True, kernel_name="python3",
                            resources={"metadata": {"path": str(ROOT / "notebooks")}}).execute()
    return notebook


@pytest.mark.timeout(300)
@pytest.mark.parametrize("stem", AUTOGRADED)
def test_a_student_versions_graded_cells_fail(released, stem):
    """Run the student version: every check must fail (a check that cannot fail is no check),
    and nothing else may (the lesson still runs around the empty answers)."""
    _, out, _ = released
    notebook = _execute(out[stem])
    failed = {}
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("grade") or meta.get("solution"):
            assert errors, f"{meta.get('grade_id')}: passes without an answer"
            failed[meta["grade_id"]] = errors[0]["ename"]
        else:
            assert not errors, f"a lesson cell fails in the student version: {errors[0]['ename']}"
    assert failed and all(k.endswith(("-check", "-solution")) for k in failed)


def _grades(root: Path, assignment: str, student: str) -> dict[str, tuple[float, float, bool]]:
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gradebook:
        submission = gradebook.find_submission_notebook(assignment, assignment, student)
        return {g.name: (g.score, g.max_score, g.needs_manual_grade) for g in submission.grades}


def _wrong_answer(notebook: dict) -> tuple[dict, str]:
    """The same notebook with exercise 1's answer replaced by a wrong one; returns the check's id."""
    exercise = coursework.exercises(notebook)[0]
    cell = notebook["cells"][exercise["solution"]]
    region = source(cell).split(coursework.BEGIN, 1)[1].split(coursework.END, 1)[0]
    # the same names, every value scaled: a function's result or a stored number, off by 10 %
    wrong = [line for line in region.splitlines()]
    names = re.findall(r"^def (\w+)|^(\w+) =", region, re.M)
    wrong += [f"{d or v} = (lambda f: (lambda *a: 1.1 * f(*a)))({d})" if d else f"{v} = {v} * 1.1 + 1"
              for d, v in names]
    cell["source"] = "\n".join(wrong)
    return notebook, notebook["cells"][exercise["check"]]["metadata"]["nbgrader"]["grade_id"]


@pytest.mark.timeout(600)
def test_autograde_gives_full_points_and_one_wrong_answer_loses_exactly_its_points(released):
    from nbgrader.apps import NbGraderAPI
    from traitlets.config import Config

    root, out, _ = released
    wrong_ids = {}
    for stem in AUTOGRADED:
        source_nb = root / "source" / stem / f"{stem}.ipynb"
        for student in ("full", "wrong"):
            folder = root / "submitted" / student / stem
            folder.mkdir(parents=True, exist_ok=True)
            shutil.copy(source_nb, folder / source_nb.name)
        notebook, wrong_ids[stem] = _wrong_answer(load(source_nb))
        (root / "submitted" / "wrong" / stem / source_nb.name).write_text(json.dumps(notebook), encoding="utf-8")
    config = Config()
    config.CourseDirectory.root = str(root)
    config.CourseDirectory.course_id = coursework.COURSE_ID
    config.ExecutePreprocessor.timeout = 300
    api = NbGraderAPI(config=config)
    for stem in AUTOGRADED:
        for student in ("full", "wrong"):
            result = api.autograde(stem, student, force=True, create=True)
            assert result["success"], result.get("error") or result.get("log")
        full, wrong = _grades(root, stem, "full"), _grades(root, stem, "wrong")
        auto = {name: g for name, g in full.items() if not g[2]}
        assert auto and all(score == points > 0 for score, points, _ in auto.values()), full
        manual = {name for name, g in full.items() if g[2]}
        assert manual == {n for n in full if n.endswith("-written")}, "written answers are graded by hand"
        lost = {name for name in auto if wrong[name][0] != wrong[name][1]}
        assert lost == {wrong_ids[stem]}, f"{stem}: expected only {wrong_ids[stem]} to lose points, got {lost}"
        assert wrong[wrong_ids[stem]][0] == 0
