"""Notebook 11's explorer: kernel regression on a real data set, and an attack on its predictor.

The numerics are in :mod:`ntk_helpers.realdata`. Here :func:`explorer` draws, for one data set,
kernel (the ReLU network's NTK Θ or NNGP Σ, or the RBF kernel), depth L, ridge ρ and attack
size ε:

* figure 0 — the test accuracy of kernel ridge regression against the number of training points
  N, on clean test inputs and after the fast-gradient-sign attack of size ε on each test input;
* figure 1 — the test accuracy against ε at the selected N.

:func:`cost_figure` draws § 6's measured cost of the exact method and of Nyström against N (static).

The first visit of a (data set, kernel, depth, ridge) solves one small system per N (N ≤ 320) and
evaluates the kernel and its closed-form input gradient in numpy for every N and ε at once, cached;
moving N or ε only looks the table up. Nothing here uses JAX, so no move compiles. The data sets and their splits are
loaded once, when the explorer is built. How it stays fast: ``docs/developers.md``, "Notebook 11".
Introduced in notebook 11.
"""

from __future__ import annotations

import ipywidgets
import numpy as np

from .. import kernels, plotting, widgets
from .. import realdata as rd
from ..errors import check_choice
from ..network import Network

__all__ = ["KINDS", "SIZES", "RIDGES", "EPSILONS", "predict", "explorer"]

KINDS = ("NTK", "NNGP", "RBF")
SIZES = (20, 40, 80, 160, 320)
RIDGES = (1e-4, 1e-3, 1e-2, 1e-1, 1.0)  # relative to the mean diagonal of the training kernel
EPSILONS = (0.0, 0.05, 0.1, 0.2, 0.4)


def _rbf(x, xt):
    """exp(−‖x − xᵢ‖²/d) (M, N) and the factor (M, N) such that ∇ₓ k = factor · (x − xᵢ)."""
    d = x.shape[1]
    sq = np.sum(x * x, 1)[:, None] + np.sum(xt * xt, 1)[None, :] - 2 * x @ xt.T
    k = np.exp(-np.clip(sq, 0.0, None) / d)
    return k, -2.0 / d * k


def predict(net: Network, kind: str, x_train, y_train, x, *, ridge: float):
    """Kernel ridge regression, its prediction f(x) (M,) and input gradient ∇ₓ f(x) (M, d).

    ``kind`` is ``"NTK"``/``"NNGP"`` (the analytic kernels of ``net``, a ReLU ``mlp``) or ``"RBF"``
    (exp(−‖x − x′‖²/d)); ``ridge`` is ρ relative to the mean diagonal of the training kernel.
    Returns ``(f, grad, alpha)``.
    """
    check_choice("kind", kind, KINDS)
    if kind == "RBF":
        k_train = _rbf(x_train, x_train)[0]
    else:
        k_train = getattr(kernels.analytic(net, x_train), kind.lower())
    alpha = rd.coefficients(k_train, y_train, ridge=ridge * float(np.mean(np.diag(k_train))))
    if kind == "RBF":
        k, factor = _rbf(x, x_train)
        grad = (factor * alpha) @ (-x_train) + (factor @ alpha)[:, None] * x
        return k @ alpha, grad, alpha
    f, grad = rd.relu_input_gradient(net, x, x_train, alpha, kind=kind.lower())
    return f, grad, alpha


def _attacked(net, kind, x_train, y_train, x, y, ridge, eps_values):
    """Clean and attacked test accuracies, one per ε, for one training set."""
    f, grad, alpha = predict(net, kind, x_train, y_train, x, ridge=ridge)
    direction = (f - y)[:, None] * grad  # ∇ₓ ½(f − y)²
    out = []
    for eps in eps_values:
        xa = rd.fgsm(x, direction, eps)
        if kind == "RBF":
            fa = _rbf(xa, x_train)[0] @ alpha
        else:
            fa = rd.relu_input_gradient(net, xa, x_train, alpha, kind=kind.lower())[0]
        out.append(rd.accuracy(fa, y))
    return out


def explorer(base: Network | None = None, *, datasets=("digits", "breast_cancer"), dataset: str = "digits",
             n: int = 80, kind: str = "NTK", depth: int = 1, ridge: float = 1e-2, eps: float = 0.1,
             seed: int = 0, test_points: int = 200) -> widgets.Explorer:
    """The real-data explorer: test accuracy against N (clean and attacked) and against ε.

    Args:
      base: the ReLU network whose kernels are used (default: W_std = √2, b_std = 0.1); its depth
        is set by the depth control, its width ignored.
      datasets: names from :data:`ntk_helpers.realdata.DATASETS`, loaded (split ``seed``) once.
      dataset, n, kind, depth, ridge, eps: the controls' initial values (from :data:`SIZES`,
        :data:`KINDS`, depth 1–3, :data:`RIDGES`, :data:`EPSILONS`).
      seed: the seed of the split and of the training subsets.
      test_points: the first this many test inputs are attacked and scored.
    """
    base = Network("mlp", width=None, depth=1, W_std=2**0.5, b_std=0.1) if base is None else base
    if not isinstance(base, Network):
        raise TypeError(f"base must be an nh.Network, got {type(base).__name__}")
    datasets = tuple(datasets)
    for name in datasets:
        check_choice("datasets", name, rd.DATASETS)
    for name, value, options in (("dataset", dataset, datasets), ("n", n, SIZES), ("kind", kind, KINDS),
                                 ("depth", depth, (1, 2, 3)), ("ridge", ridge, RIDGES), ("eps", eps, EPSILONS)):
        check_choice(name, value, tuple(options))
    splits = {name: rd.load(name, seed=seed) for name in datasets}
    subsets = {(name, size): rd.subsample(s, min(size, len(s.y_pool)), seed)
               for name, s in splits.items() for size in SIZES}

    by_n = widgets.live(plotting.figure("", "training points N", "test accuracy", log_x=True))
    by_n.add_scatter(mode="lines+markers", name="clean test inputs", line=dict(color=plotting.COLORS["analytic"]))
    by_n.add_scatter(mode="lines+markers", name="attacked (FGSM, size ε)", line=dict(color=plotting.COLORS["network"]))
    by_n.add_scatter(mode="markers", name="selected N", marker=dict(color="black", size=14, symbol="circle-open"))
    by_eps = widgets.live(plotting.figure("", "attack size ε (in standard deviations of a feature)", "test accuracy"))
    by_eps.add_scatter(mode="lines+markers", name="test accuracy under attack", line=dict(color=plotting.COLORS["network"]))
    by_eps.add_scatter(mode="markers", name="selected ε", marker=dict(color="black", size=14, symbol="circle-open"))

    cache = {}

    def table(name, kind, depth, ridge):
        """(len(SIZES), len(EPSILONS)) test accuracies, computed once per setting."""
        key = (name, kind, depth, ridge)
        if key not in cache:
            s, net = splits[name], base.replace(depth=depth)
            x, y = s.x_test[:test_points], s.y_test[:test_points]
            cache[key] = np.array([_attacked(net, kind, s.x_pool[idx], s.y_pool[idx], x, y, ridge, EPSILONS)
                                   for idx in (subsets[name, size] for size in SIZES)])
        return cache[key]

    def update(v):
        acc = table(v["dataset"], v["kind"], v["depth"], v["ridge"])
        i, j = SIZES.index(v["n"]), EPSILONS.index(v["eps"])
        by_n.data[0].update(x=list(SIZES), y=acc[:, 0])
        by_n.data[1].update(x=list(SIZES), y=acc[:, j])
        by_n.data[2].update(x=[v["n"]], y=[acc[i, 0]])
        by_n.layout.title.text = (f"{v['dataset']}, {v['kind']} (L = {v['depth']}), ρ = {v['ridge']:g} × mean diag: "
                                  f"{acc[i, 0]:.1%} clean, {acc[i, j]:.1%} at ε = {v['eps']:g}")
        by_eps.data[0].update(x=list(EPSILONS), y=acc[i])
        by_eps.data[1].update(x=[v["eps"]], y=[acc[i, j]])
        by_eps.layout.title.text = f"Accuracy against the attack size, N = {v['n']}"

    controls = {
        "dataset": ipywidgets.Dropdown(options=list(datasets), value=dataset, description="data set"),
        "n": widgets.log_slider("training points N", list(SIZES), n, labels=str),
        "kind": ipywidgets.Dropdown(options=list(KINDS), value=kind, description="kernel"),
        "depth": widgets.log_slider("depth L", [1, 2, 3], depth, labels=str),
        "ridge": widgets.log_slider("ridge ρ / mean diag", list(RIDGES), ridge),
        "eps": widgets.log_slider("attack size ε", list(EPSILONS), eps, labels=lambda e: f"{e:g}"),
    }
    ex = widgets.Explorer(controls, [by_n, by_eps], update, title="Kernels on real data")
    ex.splits, ex.subsets, ex.table = splits, subsets, table
    return ex


def cost_figure(sizes, cost, *, m: int = 200):
    """Seconds against N, log-log: exact kernel regression (total, kernel, solve) and Nyström's total.

    Args:
      sizes: the training-set sizes N measured.
      cost: ``{("exact", N): Cost, ("Nyström", N): Cost}`` from :func:`ntk_helpers.kernel_methods.exact_cost`
        and :func:`~ntk_helpers.kernel_methods.nystrom_cost`.
      m: Nyström's rank, for the legend.
    """
    sizes = [int(n) for n in sizes]
    fig = plotting.figure("What kernel regression costs against N", "training points N", "seconds (best of 2)",
                          log_x=True, log_y=True)
    rows = (("exact: total", "exact", "total", dict(color=plotting.COLORS["analytic"], width=2.5)),
            ("exact: the N × N kernel", "exact", "kernel", dict(color=plotting.COLORS["analytic"], dash="dot")),
            ("exact: Cholesky solve", "exact", "solve", dict(color=plotting.COLORS["analytic"], dash="dash")),
            (f"Nyström, m = {m}: total", "Nyström", "total", dict(color=plotting.COLORS["network"], width=2.5)))
    for name, method, stage, line in rows:
        fig.add_scatter(x=sizes, y=[getattr(cost[method, n], stage) for n in sizes], name=name,
                        mode="lines+markers", line=line)
    return fig
