"""Bad input to the networks and kernels (issue reproducers): a clear error naming the argument, fast.

Every call here used to return inf/NaN, hang, exhaust memory or fail deep inside numpy or XLA.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

from ntk_helpers import budget
from ntk_helpers import empirical as E
from ntk_helpers import gaussian as G
from ntk_helpers import kernels as K
from ntk_helpers import models as M
from ntk_helpers.network import Network

_NET = M.mlp(4, 1)
_P = _NET.init(0, 2)


@pytest.mark.parametrize(
    "call, error, words",
    [
        (lambda: K.resnet_kernels(np.eye(2), depth=900), ValueError, "overflows float64"),
        (lambda: K.fc_kernels(1e160 * np.eye(2), depth=1), ValueError, "x1 has entries"),
        (lambda: K.fc_kernels(np.eye(2), 1e120 * np.eye(2), depth=1), ValueError, "x2 has entries"),
        (lambda: K.fc_kernels(np.zeros((1, 1)), depth=1, b_std=1e-156), ValueError, "b_std"),
        (lambda: K.fc_kernels(np.eye(2), depth=2, activation="tanh", W_std=1e-170), ValueError, "W_std"),
        (lambda: K.fc_kernels(np.eye(2), depth=2, activation="tanh", W_std=1.5e154), ValueError, "W_std"),
        (lambda: K.fc_kernels(1000 * np.ones((4, 3)), depth=2, activation="tanh"), ValueError, "quadrature nodes"),
        (lambda: G.quadrature_nodes("tanh", 1e30), ValueError, "q_max"),
        (lambda: G.quadrature_nodes("tanh", float("nan")), ValueError, "q_max"),
        (lambda: G.quadrature_nodes("swish", 1.0), ValueError, "activation"),
        (lambda: K.fc_kernels(np.eye(2) * (1 + 1j), depth=1), TypeError, "x1"),
        (lambda: K.fc_kernels(np.array([["a", "b"]]), depth=1), TypeError, "x1"),
        (lambda: K.fc_kernels(np.zeros((0, 2)), depth=1), ValueError, "x1"),
        (lambda: K.cnn1d_kernels(np.ones((100, 512, 1)), depth=3), budget.BudgetError, "length 512"),
        (lambda: M.mlp(2**31, 2).init(0, 2), budget.BudgetError, "memory"),
        (lambda: E.jacobian(_NET, _P, np.zeros((0, 2))), ValueError, "x"),
        (lambda: E.jacobian(_NET, _P, np.full((2, 2), np.nan)), ValueError, "x contains NaN"),
        (lambda: E.jacobian(3, _P, np.ones((2, 2))), TypeError, "model_or_apply"),
        (lambda: E.ntk_row(_NET, _P, np.array([np.nan, 1.0]), np.ones((2, 2))), ValueError, "x0"),
        (lambda: E.ntk_row(_NET, _P, np.ones((1, 2)), np.ones((3, 2))), ValueError, "x0"),
        (lambda: E.empirical_ntk(_NET, _P, np.zeros((0, 2))), ValueError, "x1"),
        (lambda: E.empirical_ntk(M.mlp(2000, 3).apply, M.mlp(2000, 3).init(0, 10), np.ones((4000, 10)),
                                 strategy="jacobian"), budget.BudgetError, "generic strategy"),
        (lambda: E.empirical_ntk(M.mlp(4000, 3).apply, M.mlp(4000, 3).init(0, 10), np.ones((40000, 10))),
         budget.BudgetError, "from the jaxpr"),
        (lambda: E.layer_ntk(Network(width=4, depth=1, activation="tanh", W_std=3.0), M.mlp(4, 2).init(0, 2),
                             np.ones((2, 2))), ValueError, "params"),
        (lambda: M.mlp(4, 1).apply(M.mlp(4, 2).init(0, 2), np.ones((2, 2))), ValueError, "params"),
        (lambda: M.mlp(4, 1).apply(M.resnet(4, 1).init(0, 2), np.ones((2, 2))), ValueError, "params"),
        (lambda: Network(width=4, depth=1, W_std=float("nan")), ValueError, "W_std"),
        (lambda: Network(width=4, depth=1, b_std=-1.0), ValueError, "b_std"),
    ],
)
def test_bad_input_gets_a_clear_error_fast(call, error, words):
    start = time.perf_counter()
    with pytest.raises(error, match=words):
        call()
    assert time.perf_counter() - start < 10  # refused up front, not after the work


def test_budget_limits_can_be_raised_for_a_block():
    x = np.ones((3, 64, 1))
    with budget.limits(seconds=1e-6):
        with pytest.raises(budget.BudgetError, match="limit"):
            K.cnn1d_kernels(x, depth=1)
    assert K.cnn1d_kernels(x, depth=1).ntk.shape == (3, 3)  # the default limit is back


def test_quadrature_kernels_on_normalised_inputs_stay_within_the_rule():
    x = np.random.default_rng(0).normal(size=(5, 3))
    for act in ("tanh", "gelu", "softplus", "sin"):
        k = K.fc_kernels(x, depth=2, activation=act, W_std=1.5, b_std=0.1)
        assert np.all(np.isfinite(k.ntk)) and np.array_equal(k.ntk, k.ntk.T)
