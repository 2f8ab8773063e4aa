"""Small measurements the notebooks assert on: log-log slopes and relative errors."""

import numpy as np
import pytest

from ntk_helpers import stats


def test_loglog_fit_recovers_a_power_law_exactly():
    x = np.array([16.0, 64.0, 256.0, 1024.0])
    fit = stats.loglog_fit(x, 3.0 * x**-0.5)
    assert fit.slope == pytest.approx(-0.5, abs=1e-12)
    assert np.exp(fit.intercept) == pytest.approx(3.0, rel=1e-12)
    np.testing.assert_allclose(fit(np.array([4.0, 4096.0])), [1.5, 3.0 / 64.0], rtol=1e-12)


def test_loglog_fit_is_the_least_squares_line_in_log_coordinates():
    rng = np.random.default_rng(0)
    x = np.geomspace(10, 1e4, 12)
    y = 2.0 * x**-1.0 * np.exp(0.05 * rng.standard_normal(x.size))
    fit = stats.loglog_fit(x, y)
    design = np.stack([np.log(x), np.ones_like(x)], axis=1)
    expected, *_ = np.linalg.lstsq(design, np.log(y), rcond=None)
    np.testing.assert_allclose([fit.slope, fit.intercept], expected, rtol=1e-10)


@pytest.mark.parametrize(("x", "y", "message"), [
    ([1, 2, 3], [1, 2], "x and y must have the same shape"),
    ([1], [1], "at least 2 points"),
    ([1, 2], [1.0, -1.0], "y must be positive"),
    ([0, 2], [1.0, 1.0], "x must be positive"),
    ([2, 2], [1.0, 3.0], "2 distinct values"),
    ([1, 2], [1.0, np.nan], "y"),
])
def test_loglog_fit_refuses_what_has_no_log_log_line(x, y, message):
    with pytest.raises(ValueError, match=message):
        stats.loglog_fit(x, y)


def test_relative_error():
    assert stats.relative_error([3.0, 4.0], [3.0, 4.0]) == 0.0
    assert stats.relative_error([3.0, 5.0], [3.0, 4.0]) == pytest.approx(1.0 / 5.0, rel=1e-15)
    with pytest.raises(ValueError, match="same shape"):
        stats.relative_error(np.ones(2), np.ones(3))
    with pytest.raises(ValueError, match="reference"):
        stats.relative_error(np.ones(2), np.zeros(2))
