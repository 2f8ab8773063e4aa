"""Notebook 07's explorers: every control moved through its values, figures holding the kernels they
claim, x and y written together, names on every trace, and no JAX compilation on any move.
"""

from __future__ import annotations

import numpy as np
import pytest

from ntk_helpers import architectures as arch
from ntk_helpers.explorers import architectures as ea
from ntk_helpers.network import Network
from ntk_helpers.runtime import jax_compilations

X = ea.signals(4, 6, seed=3)


@pytest.fixture
def kernel_ex():
    ex = ea.kernel_explorer(X, depth=5, shift=2)
    yield ex
    ex.close()


def _check_kernel_state(ex):
    v = ex.values
    heat, depth_fig = ex.figures
    kind, option = ea.ARCHITECTURES[v["architecture"]]
    net = Network(kind, None, v["depth"], W_std=v["W_std"], b_std=v["b_std"] or None, filter_size=v["filter_size"])
    both = np.concatenate([X, arch.shift(X, v["shift"])])
    if kind == "cnn1d":
        ntk = arch.cnn_profile(net, both, readout=option).ntk[0]
    else:
        ntk = arch.depth_profile(net, both[:, :, 0], **({} if option is None else {"branch_scale": option})).ntk[0]
    np.testing.assert_allclose(np.asarray(heat.data[0].z), arch.normalised(ntk)[:4], rtol=1e-9, atol=1e-12)
    spread, cond = ea.profile_stats(ntk[None], 4)
    i = v["depth"] - 1
    np.testing.assert_allclose(depth_fig.data[0].y[i], max(spread[0], 1e-16), rtol=1e-9)
    np.testing.assert_allclose(depth_fig.data[1].y[i], cond[0], rtol=1e-6)
    assert list(depth_fig.data[2].x) == [v["depth"]] * 2
    for fig in ex.figures:
        for trace in fig.data:
            assert trace.x is not None and trace.name and not trace.name.startswith("trace"), trace.name
            if trace.type == "scatter":
                assert len(trace.x) == len(trace.y)


def test_every_control_moves_without_compiling(kernel_ex):
    ex = kernel_ex
    assert set(ex.controls) == {"architecture", "depth", "W_std", "b_std", "filter_size", "shift"}
    before = jax_compilations()
    sweeps = [("architecture", list(ea.ARCHITECTURES)), ("depth", [1, 17, 50, 5]), ("W_std", [0.5, 2.0, 2**0.5]),
              ("b_std", [0.1, 1.0, 0.0]), ("filter_size", [5, 7, 3]), ("shift", [0, 5, 2])]
    for name, values in sweeps:
        for value in values:
            ex.set(name, value)
            assert ex.message is None, (name, value, ex.message)
            _check_kernel_state(ex)
    for label in ea.ARCHITECTURES:  # every architecture at another depth and shift
        ex.set("architecture", label)
        ex.set("depth", 12)
        ex.set("shift", 1)
        _check_kernel_state(ex)
    assert jax_compilations() == before


def test_pooling_heatmap_halves_are_equal(kernel_ex):
    ex = kernel_ex
    ex.set("architecture", "CNN + global average pooling")
    z = np.asarray(ex.figures[0].data[0].z)
    np.testing.assert_allclose(z[:, :4], z[:, 4:], atol=1e-12)
    ex.set("architecture", "CNN + flatten + dense")
    z = np.asarray(ex.figures[0].data[0].z)
    assert np.abs(z[:, :4] - z[:, 4:]).max() > 1e-3
    static = ex.static_figure(0)
    np.testing.assert_allclose(np.asarray(static.data[0].z), z)


def test_phase_explorer_moves_and_clicks_without_compiling():
    W2, b2 = np.linspace(0.5, 3.0, 6), np.array([0.05, 0.2])
    ex = ea.phase_explorer(W2=W2, b2=b2, point=(1.5, 0.05), depths=(1, 10, 30))
    try:
        grid = arch.depth_scale(np.sqrt(W2)[None, :], np.sqrt(b2)[:, None])
        np.testing.assert_allclose(np.asarray(ex.figures[0].data[0].z), np.log10(grid.xi))
        np.testing.assert_allclose(ex.figures[0].data[1].x, arch.critical_W_std(np.sqrt(b2)) ** 2)
        before = jax_compilations()
        for w in W2:
            for b in b2:
                ex.set("W2", float(w))
                ex.set("b2", float(b))
                assert ex.message is None
                assert list(ex.figures[0].data[2].x) == [float(w)] and list(ex.figures[0].data[2].y) == [float(b)]
                net = Network("mlp", None, 1, "erf", W_std=np.sqrt(w), b_std=np.sqrt(b))
                ntk = arch.depth_profile(net, ea.signals()[:, :, 0], depths=[1, 10, 30]).ntk
                np.testing.assert_allclose(ex.figures[1].data[0].y, ea.profile_stats(ntk, 6)[1], rtol=1e-6)
                assert ("ordered" in ex.figures[0].layout.title.text) == (arch.chi1(np.sqrt(w), np.sqrt(b)) < 1)
        ex.click(None, type("Points", (), {"xs": [2.9], "ys": [0.19]})(), None)  # a click near (3.0, 0.2)
        assert ex.values == {"W2": 3.0, "b2": 0.2}
        assert jax_compilations() == before
    finally:
        ex.close()


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="architecture"):
        ea.kernel_explorer(X, architecture="transformer")
    with pytest.raises(ValueError, match="one channel"):
        ea.kernel_explorer(np.ones((3, 6, 2)))
    with pytest.raises(ValueError, match="positive"):
        ea.phase_explorer(b2=np.array([0.0, 0.1]))
    with pytest.raises(ValueError, match="n must"):
        ea.signals(0)
