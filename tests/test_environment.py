"""The pinned environment has one source of truth, and every way in agrees with it.

pyproject.toml gives compatible ranges, constraints.txt the exact tested versions;
environment.yml (conda) and binder/environment.yml (Binder) must carry the same pins,
Python 3.11, and install the package itself.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
CONDA_FILES = ("environment.yml", "binder/environment.yml")
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;#]+)$")
PYTHON_PIN = "python=3.11"


def read_pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def read_constraints() -> dict[str, Version]:
    pins: dict[str, Version] = {}
    for number, raw in enumerate((ROOT / "constraints.txt").read_text().splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = PIN.match(line)
        assert match, f"constraints.txt:{number}: expected an exact 'name==version' pin: {raw!r}"
        name = canonicalize_name(match.group(1))
        assert name not in pins, f"constraints.txt:{number}: {name} is pinned twice"
        pins[name] = Version(match.group(2))
    return pins


def read_conda(relative: str) -> tuple[dict, list[str], dict[str, Version]]:
    """Return (environment, pip entries, pip pins) of a conda environment file."""
    env = yaml.safe_load((ROOT / relative).read_text())
    assert isinstance(env, dict), f"{relative}: expected a mapping at the top level"
    pip_sections = [d["pip"] for d in env.get("dependencies", []) if isinstance(d, dict)]
    assert len(pip_sections) == 1, f"{relative}: expected exactly one 'pip:' section"
    entries = [str(entry) for entry in pip_sections[0]]
    pins: dict[str, Version] = {}
    for entry in entries:
        match = PIN.match(entry)
        if match:
            name = canonicalize_name(match.group(1))
            assert name not in pins, f"{relative}: {name} is pinned twice"
            pins[name] = Version(match.group(2))
        else:
            assert entry == "-e .", f"{relative}: unexpected pip entry {entry!r}"
    return env, entries, pins


def declared_requirements() -> list[Requirement]:
    """Runtime and optional dependencies of the package, without self-references."""
    project = read_pyproject()["project"]
    own_name = canonicalize_name(project["name"])
    specs = list(project["dependencies"])
    for group in project.get("optional-dependencies", {}).values():
        specs.extend(group)
    requirements = [Requirement(spec) for spec in specs]
    return [r for r in requirements if canonicalize_name(r.name) != own_name]


def test_every_declared_dependency_is_pinned_within_its_range():
    pins = read_constraints()
    for requirement in declared_requirements():
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{requirement} is declared in pyproject.toml but not pinned"
        assert requirement.specifier.contains(pins[name], prereleases=True), (
            f"constraints.txt pins {name}=={pins[name]}, outside pyproject's range "
            f"'{requirement.specifier}'"
        )


def test_optional_groups_refer_only_to_existing_groups():
    project = read_pyproject()["project"]
    own_name = canonicalize_name(project["name"])
    groups = project["optional-dependencies"]
    assert {"course", "dev"} <= set(groups)
    for group, specs in groups.items():
        for spec in specs:
            requirement = Requirement(spec)
            if canonicalize_name(requirement.name) == own_name:
                assert requirement.extras <= set(groups), f"[{group}] refers to {spec}"


def test_the_stack_is_the_cpu_one():
    pins = read_constraints()
    gpu = [name for name in pins if re.search(r"cuda|nvidia|rocm|tpu", name)]
    assert not gpu, f"GPU/TPU packages pinned: {gpu}"
    assert not pins["jaxlib"].local, f"jaxlib {pins['jaxlib']} is not the plain PyPI (CPU) build"
    assert pins["jax"] == pins["jaxlib"], "jax and jaxlib must be released together"


def test_python_311_everywhere():
    python = Version("3.11")
    assert SpecifierSet(read_pyproject()["project"]["requires-python"]).contains(python)
    for relative in CONDA_FILES:
        env, _, _ = read_conda(relative)
        deps = [d for d in env["dependencies"] if isinstance(d, str)]
        pythons = [d for d in deps if re.match(r"python\b", d)]
        assert pythons == [PYTHON_PIN], f"{relative}: expected '{PYTHON_PIN}', found {pythons}"
        assert "pip" in deps, f"{relative}: conda needs 'pip' to install the pip section"


@pytest.mark.parametrize("relative", CONDA_FILES)
def test_conda_file_pins_equal_constraints(relative):
    env, _, pins = read_conda(relative)
    constraints = read_constraints()
    assert env["name"] == "ntk-course"
    differ = {
        name: (str(pins.get(name)), str(constraints.get(name)))
        for name in pins.keys() | constraints.keys()
        if pins.get(name) != constraints.get(name)
    }
    assert not differ, (
        f"{relative} disagrees with constraints.txt as {{name: (conda, constraints)}}: "
        f"{differ}. Regenerate it with `make env-files`."
    )


def test_conda_environment_installs_the_package():
    _, entries, _ = read_conda("environment.yml")
    assert entries.count("-e .") == 1


def test_binder_installs_the_package_in_post_build():
    _, entries, _ = read_conda("binder/environment.yml")
    # Binder installs the pip section before the repository is in place.
    assert "-e ." not in entries
    lines = (ROOT / "binder" / "postBuild").read_text().splitlines()
    assert lines[0].startswith("#!"), "postBuild needs a shebang line"
    code = [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]
    assert re.match(r"set -[a-z]*e", code[0]), "postBuild must stop at the first error: set -e"
    installs = [line for line in code if re.search(r"\bpip install\b", line)]
    assert installs, "postBuild must install the package"
    assert all("--no-deps" in line and line.endswith("-e .") for line in installs), installs


def test_binder_start_hands_over_to_the_server():
    start = ROOT / "binder" / "start"
    if start.exists():
        code = [line.strip() for line in start.read_text().splitlines() if line.strip()]
        assert code[-1] == 'exec "$@"', "binder/start must end by running the given command"


def test_ci_runs_make_test():
    lines = (ROOT / ".ci" / "run").read_text().splitlines()
    code = [line.strip() for line in lines[1:] if line.strip() and not line.startswith("#")]
    assert lines[0] == "#!/usr/bin/env bash"
    assert code[0] == "set -euo pipefail"
    assert code[-1] == "make test"
