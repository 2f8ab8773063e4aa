"""Shared pytest configuration for tests/.

Kept deliberately small: nothing here changes global JAX state, so every test module
behaves the same whether it runs alone or with the others.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

# JAX compiles on the first call of every new shape (~0.4 s here), which blows
# Hypothesis' default 200 ms deadline at random; drop the deadline. With CI=true the
# examples are derandomized, so a CI failure reproduces exactly on a second run.
settings.register_profile(
    "course",
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "ci",
    parent=settings.get_profile("course"),
    derandomize=True,
    database=None,  # no example database: a CI run depends on nothing but the code
    print_blob=True,
)
settings.load_profile(
    os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") == "true" else "course")
)


def pytest_ignore_collect(collection_path, config):
    """Under tests/, collect only test modules.

    `make test` passes `--doctest-modules` for the docstrings of ntk_helpers, and pytest
    then imports every .py file on its paths. Other files here are not test modules:
    tests/reference/ holds scripts that run in their own environment (they import
    neural-tangents, which is not a dependency of the course) to regenerate reference data.
    """
    if collection_path.suffix == ".py" and not collection_path.name.startswith(
        ("test_", "conftest")
    ):
        return True
    return None


@pytest.fixture
def rank_promotion_raise():
    """Make implicit rank promotion (broadcasting (N,) against (N, 1), say) an error.

    Opt in per test (``def test_x(rank_promotion_raise): ...``) or per module
    (``pytestmark = pytest.mark.usefixtures("rank_promotion_raise")``). The setting is
    restored when the test ends, so other tests and doctests are unaffected.
    """
    import jax

    with jax.numpy_rank_promotion("raise"):
        yield


@pytest.fixture(scope="session")
def chromium_available():
    """Debian's Chromium and Python's playwright, which the real-browser tests drive.

    Missing ones fail the test under CI=true (they are required there) and skip it elsewhere.
    """
    from pathlib import Path

    missing = []
    if not Path("/usr/bin/chromium").exists():
        missing.append("Chromium at /usr/bin/chromium (Debian/Ubuntu: apt-get install chromium)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing.append("the Python package playwright (pip install playwright)")
    if missing:
        message = "the browser tests need " + " and ".join(missing)
        if os.environ.get("CI") == "true":
            pytest.fail(message + " (CI=true: required)", pytrace=False)
        pytest.skip(message)
