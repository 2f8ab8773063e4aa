"""What Binder will do with binder/, checked without Binder.

- repo2docker's build plan (``repo2docker --no-build --debug``, no docker needed) installs
  binder/environment.yml, runs binder/postBuild and starts sessions through binder/start;
- binder/start gives every thread pool the CPUs the container's quota allows;
- binder/warm_up.py fills the JAX compilation cache that ``nh.setup_notebook()`` uses;
- the Binder pins, installed over repo2docker's base environment (built from PyPI at the
  versions of its conda lock), pass ``pip check`` (slow: about a minute; `make check-binder`
  runs the same and also reports the image's size).
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def repo2docker_plan(repo: Path) -> str:
    """The Dockerfile repo2docker would build for ``repo`` (printed by --no-build --debug)."""
    exe = shutil.which("repo2docker", path=str(BIN)) or shutil.which("repo2docker")
    assert exe, "repo2docker not found: it is in the [dev] extra (`make venv`)"
    result = subprocess.run(
        [exe, "--no-build", "--debug", str(repo)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    plan = result.stdout + result.stderr
    assert "FROM " in plan and "ENTRYPOINT" in plan, f"no Dockerfile in repo2docker's output:\n{plan}"
    return plan


def plan_problems(plan: str) -> list[str]:
    """What is missing from a build plan for the course's Binder set-up (empty: all there)."""
    checks = {
        "the environment file is copied in": r"COPY .*src/binder/environment\.yml ",
        "the environment file is installed": r"env update -p \$\{NB_PYTHON_PREFIX\} "
        r"(?:--file|-f) \"?binder/environment\.yml\"?",
        # The lock's file name appears escaped ("." as "-2e", "-" as "-2d").
        "the base environment is Python 3.11's": r"environment(?:\.|-2e)py(?:-|-2d)3(?:\.|-2e)11"
        r"(?:-|-2d)linux",
        "postBuild runs": r"(?m)^RUN \./binder/postBuild$",
        "sessions start through binder/start": r"ENV R2D_ENTRYPOINT=\"\$\{REPO_DIR\}/binder/start\"",
    }
    problems = [what for what, pattern in checks.items() if not re.search(pattern, plan)]
    if re.search(r"requirements\.txt|\bsetup\.py\b|pip install .*-e \.", plan):
        problems.append("the plan also installs from the repository root")
    return problems


def test_repo2docker_plan_uses_the_environment_file_post_build_and_start():
    plan = repo2docker_plan(ROOT)
    assert plan_problems(plan) == [], plan
    # The environment file is installed before the repository is copied in (so that layer
    # is cached across commits), and postBuild runs after it.
    assert plan.index("binder/environment.yml") < plan.index("COPY --chown=0:0 src/ ")
    assert plan.index("COPY --chown=0:0 src/ ") < plan.index("RUN ./binder/postBuild")


def test_plan_check_fails_when_binder_drops_the_start_script_or_the_environment(tmp_path):
    repo = tmp_path / "repo"
    (repo / "binder").mkdir(parents=True)
    # requirements.txt instead of environment.yml, and no start script.
    (repo / "binder" / "requirements.txt").write_text("numpy\n")
    (repo / "binder" / "postBuild").write_text("#!/usr/bin/env bash\nset -e\n")
    problems = plan_problems(repo2docker_plan(repo))
    assert "the environment file is installed" in problems
    assert "sessions start through binder/start" in problems


def run_start(tmp_path: Path, files: dict[str, str]) -> dict[str, str]:
    root = tmp_path / "cgroup"
    for relative, text in files.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_text(text)
    env = {k: v for k, v in os.environ.items() if not k.endswith("_NUM_THREADS")}
    env.pop("NTK_CPUS", None)
    env["NTK_CGROUP_ROOT"] = str(root)
    result = subprocess.run(
        ["bash", ROOT / "binder" / "start", "env"], env=env, capture_output=True, text=True,
        check=True,
    )
    return dict(line.split("=", 1) for line in result.stdout.splitlines() if "=" in line)


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({"cpu.max": "100000 100000\n"}, 1),  # cgroup v2, one CPU (mybinder.org)
        ({"cpu.max": "150000 100000\n"}, 2),  # 1.5 CPUs: round up
        ({"cpu/cpu.cfs_quota_us": "50000\n", "cpu/cpu.cfs_period_us": "100000\n"}, 1),  # v1
        ({"cpu.max": "max 100000\n"}, None),  # no quota: all the cores seen
        ({}, None),  # no cgroup files at all
    ],
)
def test_start_sets_every_thread_pool_to_the_cpu_quota(tmp_path, files, expected):
    env = run_start(tmp_path, files)
    cpus = str(expected or os.cpu_count())
    assert env["NTK_CPUS"] == cpus
    for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        assert env[variable] == cpus, (variable, env[variable])


def test_start_keeps_a_thread_count_already_set(tmp_path):
    root = tmp_path / "cgroup"
    root.mkdir()
    (root / "cpu.max").write_text("100000 100000\n")
    env = {**os.environ, "NTK_CGROUP_ROOT": str(root), "OMP_NUM_THREADS": "3"}
    out = subprocess.run(
        ["bash", ROOT / "binder" / "start", "sh", "-c", "echo $OMP_NUM_THREADS $MKL_NUM_THREADS"],
        env={k: v for k, v in env.items() if k != "MKL_NUM_THREADS"},
        capture_output=True, text=True, check=True,
    ).stdout.split()
    assert out == ["3", "1"]


def write_notebook(path: Path, *sources: str) -> None:
    cells = [
        {"cell_type": "code", "execution_count": None, "id": f"c{i}", "metadata": {},
         "outputs": [], "source": source}
        for i, source in enumerate(sources)
    ]
    notebook = {
        "cells": cells,
        "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python",
                                    "name": "python3"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    path.write_text(json.dumps(notebook))


@pytest.mark.timeout(300)
def test_warm_up_fills_the_cache_that_setup_notebook_uses(tmp_path):
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    write_notebook(
        notebooks / "00_warm.ipynb",
        "import ntk_helpers as nh\nnh.setup_notebook(quiet=True)",
        "import jax, jax.numpy as jnp\n"
        "jax.jit(lambda x: jnp.tanh(x @ x.T).sum())(jnp.ones((32, 32))).block_until_ready()",
    )
    write_notebook(notebooks / "01_broken.ipynb", "raise RuntimeError('boom')")
    cache = tmp_path / "jax-cache"
    env = {**os.environ, "NTK_JAX_CACHE": str(cache)}
    command = [sys.executable, ROOT / "binder" / "warm_up.py", "--notebooks", notebooks,
               "--timeout", "120"]
    lenient = subprocess.run(command, env=env, capture_output=True, text=True, timeout=280)
    assert lenient.returncode == 0, lenient.stdout + lenient.stderr
    assert "00_warm.ipynb ran in" in lenient.stdout
    assert "01_broken.ipynb FAILED (CellExecutionError" in lenient.stdout
    assert "1/2 notebooks" in lenient.stdout
    entries = [p for p in cache.rglob("*") if p.is_file()]
    assert entries, f"nothing cached in {cache}:\n{lenient.stdout}"

    (notebooks / "00_warm.ipynb").unlink()
    strict = subprocess.run([*command, "--strict"], env=env, capture_output=True, text=True,
                            timeout=280)
    assert strict.returncode == 1, strict.stdout + strict.stderr


def test_warm_up_refuses_bad_arguments(tmp_path):
    script = ROOT / "binder" / "warm_up.py"
    empty = subprocess.run([sys.executable, script, "--notebooks", tmp_path],
                           capture_output=True, text=True)
    assert empty.returncode == 2 and "no NN_*.ipynb notebooks" in empty.stderr
    zero = subprocess.run([sys.executable, script, "--timeout", "0"], capture_output=True,
                          text=True)
    assert zero.returncode == 2 and "--timeout must be positive" in zero.stderr


@pytest.mark.timeout(600)
def test_binder_pins_pass_pip_check_over_repo2dockers_base_environment(tmp_path):
    spec = importlib.util.spec_from_file_location("pins", ROOT / "scripts" / "pins.py")
    pins = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(pins)
    base = pins.base_environment_pins(pins.repo2docker_base_lock())
    names = {pin.split("==")[0] for pin in base}
    # The base environment is a real Jupyter server stack, and it ships a `notebook` whose pin
    # on JupyterLab ours must replace.
    assert {"jupyterlab", "notebook", "jupyterhub", "ipykernel"} <= names
    status = pins.check_binder(str(tmp_path / "binder-check"), measure=False)
    assert status == 0, "pip check failed in the simulated Binder environment (output above)"
