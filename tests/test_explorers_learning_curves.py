"""Notebook 09's explorer: every control moved through its values, the figures holding the prediction
and the measurement they claim, x and y written together, names on every trace, no JAX compilation.
"""

from __future__ import annotations

import numpy as np
import pytest

from ntk_helpers import learning_curves as lc
from ntk_helpers.explorers import learning_curves as el
from ntk_helpers.network import Network
from ntk_helpers.runtime import jax_compilations

BASE = Network("mlp", width=None, depth=1, W_std=2**0.5, b_std=0.5)


@pytest.fixture
def small():
    curves = el.CircleCurves(BASE, m=128, sizes=(4, 8, 16), freqs=(1, 2, 4), draws=3)
    ex = el.explorer(BASE, n=8, ridge=1e-3, noise=0.1, k=2, curves=curves)
    yield ex
    ex.close()


def _check(ex):
    v, data = ex.values, ex.curves
    curve, spec = ex.figures
    lam = lc.circle_modes(BASE.replace(depth=v["depth"], activation=v["activation"]), 128)[1]
    coef = np.zeros(128)
    coef[v["k"]] = 0.5**0.5
    pred = lc.predict(lam, coef, data.sizes, ridge=v["ridge"], noise=v["noise"])
    np.testing.assert_allclose(curve.data[0].y, pred.test_mse, rtol=1e-10)
    phi = 2 * np.pi * np.arange(128) / 128
    measured = []
    for n in data.sizes:  # the same draws, recomputed directly, with noise added exactly
        runs = [lc.circle_regression(lc.circle_modes(BASE.replace(depth=v["depth"], activation=v["activation"]), 128)[2],
                                     np.random.default_rng(s).choice(128, size=n, replace=False),
                                     np.cos(v["k"] * phi)[None], ridge=v["ridge"]) for s in range(3)]
        measured.append(np.mean([r[0][0] + v["noise"] ** 2 * r[1] for r in runs]))
    np.testing.assert_allclose(curve.data[1].y, measured, rtol=1e-9)
    i = list(data.sizes).index(v["n"])
    assert list(curve.data[2].x) == [v["n"]] and curve.data[2].y[0] == pytest.approx(pred.test_mse[i])
    np.testing.assert_allclose(spec.data[1].y, np.maximum(pred.learnability[i, 1:65], 1e-300))
    assert list(spec.data[2].x) == [v["k"]] * 2
    for fig in ex.figures:
        for trace in fig.data:
            assert trace.name and not trace.name.startswith("trace")
            assert trace.x is not None and len(trace.x) == len(trace.y)


def test_every_control_moves_without_compiling(small):
    ex = small
    assert set(ex.controls) == {"n", "ridge", "noise", "k", "depth", "activation"}
    _check(ex)
    before = jax_compilations()
    for name, values in [("n", [4, 16, 8]), ("ridge", list(el.RIDGES)), ("noise", list(el.NOISES)), ("k", [1, 4]),
                         ("depth", [2, 3, 1]), ("activation", ["erf", "relu"])]:
        for value in values:
            ex.set(name, value)
            assert ex.message is None, (name, value, ex.message)
            _check(ex)
    assert jax_compilations() == before
    static = ex.static_figure(0)
    np.testing.assert_allclose(static.data[0].y, ex.figures[0].data[0].y)


def test_error_is_shown_as_a_message(small, monkeypatch):
    ex = small
    good = np.array(ex.figures[0].data[0].y)

    def broken(*args):
        raise ValueError("K(X, X) + ρI is singular to round-off")

    monkeypatch.setattr(ex.curves, "curves", broken)
    ex.set("noise", 1.0)
    assert ex.message and "singular" in ex.message
    np.testing.assert_allclose(ex.figures[0].data[0].y, good)
    monkeypatch.undo()
    ex.set("noise", 0.3)
    assert ex.message is None


def test_bad_arguments():
    with pytest.raises(ValueError, match="n must be one of"):
        el.explorer(BASE, n=5, curves=el.CircleCurves(BASE, m=64, sizes=(4, 8), freqs=(1, 4), draws=1))
    with pytest.raises(ValueError, match="sizes must be below"):
        el.CircleCurves(BASE, m=16, sizes=(4, 16))
    with pytest.raises(TypeError, match="base"):
        el.CircleCurves("relu")
