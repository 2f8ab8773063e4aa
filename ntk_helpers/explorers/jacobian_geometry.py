"""Notebook 06's explorer: the Jacobian's two faces, training in both spaces, and the Gramian.

One call builds it from the notebook's network description::

    explorer = nh.explorers.jacobian_geometry.explorer(net, widths=(8, 16, 32), ratios=(0.25, 0.5, 1, 2))

``net`` is a one-hidden-layer ``mlp`` (the notebook's: ReLU, W_std = √2, no bias), so P = n(d_in + 1)
(+ 2n + 1 with biases). For every width n and every ratio N/P on the sliders, the explorer draws
N = round(ratio · P) training inputs of ``data.regression_1d`` and the Jacobian J of the network
of width n at its initialisation (seed 0), and shows three figures, stacked:

1. the eigenvalues of K = J Jᵀ (N of them) and of F = Jᵀ J (P), which coincide where both are
   non-zero, and those of the natural-gradient kernel J F⁺ Jᵀ (1 or 0);
2. the loss ½‖f_t − y‖² of the linearised network trained from f₀ = 0 by gradient descent
   (kernel K) and by the natural gradient (kernel J F⁺ Jᵀ), each at η = (η/η_max) · 2/λ_max of
   its own kernel, with step t marked;
3. the eigenvalues of 2η K^{1/2} W_o K^{1/2}, where W_o is the observability Gramian of
   ė = −ηK e, y = C e over the horizon T = t with C the first m rows of I: all 1 exactly when
   W_o = (2ηK)⁻¹ (C = I, T = ∞).

Everything a slider move needs (J, its SVD, the eigendecomposition of K) is computed when the
explorer is built, in numpy (:func:`~ntk_helpers.geometry.one_layer_jacobian`): a move is a few
small matrix products and one symmetric eigenvalue problem of size N, and nothing compiles.
How it stays fast: ``docs/developers.md``, "Notebook 06". Introduced in notebook 06.
"""

from __future__ import annotations

import math

import numpy as np
import plotly.graph_objects as go

from .. import data as data_mod
from .. import geometry, plotting, widgets
from ..errors import check_positive, check_positive_int
from ..models import build
from ..network import as_network

__all__ = ["ETA_FRACTIONS", "OBSERVED", "TIMES", "Case", "explorer", "spectra_figure"]

#: η/η_max on the slider (η_max = 2/λ_max of the kernel that trains).
ETA_FRACTIONS = (0.05, 0.1, 0.25, 0.5, 0.9, 0.99)
#: Steps t on the slider; also the horizon T of the Gramian.
TIMES = (1.0, 3.0, 10.0, 30.0, 100.0, 300.0, 1000.0, 3000.0, 10000.0, math.inf)
#: Fractions m/N of the outputs that C observes.
OBSERVED = (0.25, 0.5, 1.0)
_FLOOR = 1e-14  # eigenvalues below this × λ_max are drawn at it (a log axis cannot show 0)
_T_CURVE = np.unique(np.round(np.geomspace(1.0, 1e4, 60)))


class Case:
    """One (width, N) of the explorer: J, its SVD and the eigendecomposition of K, cached.

    Attributes:
      width, n_train, n_params: n, N, P.
      y: (N,) targets; jac: (N, P); svd: :class:`~ntk_helpers.geometry.JacobianSVD`.
      lam, vecs: eigenvalues (ascending, clipped at 0) and eigenvectors of K = J Jᵀ.
      rank: rank of J (singular values above 1e-10 × the largest).
    """

    def __init__(self, net, width: int, ratio: float, *, data_seed: int = 4, seed: int = 0):
        net = net.replace(width=width)
        self.width = width
        d_in = 2
        self.n_params = sum(a * b + (b if net.b_std is not None else 0) for a, b in net.weight_shapes(d_in))
        self.n_train = max(2, int(round(ratio * self.n_params)))
        data = data_mod.regression_1d(n_train=self.n_train, seed=data_seed, n_grid=2)
        self.y = data.y_train.astype(np.float64)
        self.jac = geometry.one_layer_jacobian(net, build(net).init(seed, d_in), data.x_train)
        self.svd = geometry.jacobian_svd(self.jac)
        self.rank = self.svd.rank()
        lam, self.vecs = np.linalg.eigh(self.jac @ self.jac.T)
        self.lam = np.clip(lam, 0.0, None)

    def spectra(self):
        """(eigenvalues of K descending (N,), of F descending (P,), of J F⁺ Jᵀ descending (N,))."""
        s2 = self.svd.s**2
        eig_f = np.zeros(self.n_params)
        eig_f[: s2.size] = s2
        natural = np.zeros(self.n_train)
        natural[: self.rank] = 1.0
        return self.lam[::-1], eig_f, natural

    def losses(self, eta_fraction: float, times) -> tuple[np.ndarray, np.ndarray]:
        """½‖f_t − y‖² from f₀ = 0 for gradient descent and for the natural gradient, (T,) each."""
        r = self.vecs.T @ self.y  # the target in the eigenbasis of K (ascending)
        out = []
        for lam in (self.lam, np.where(self.lam > 1e-10 * self.lam[-1], 1.0, 0.0)):
            eta = eta_fraction * 2.0 / lam.max()
            with np.errstate(divide="ignore", invalid="ignore", under="ignore"):
                decay = np.where(lam[None, :] > 0, np.abs(1.0 - eta * lam[None, :]) ** np.asarray(times)[:, None], 1.0)
            out.append(0.5 * ((decay * r[None, :]) ** 2).sum(axis=1))
        return out[0], out[1]

    def gramian_eigenvalues(self, eta_fraction: float, observed: float, horizon: float) -> np.ndarray:
        """Eigenvalues (descending) of 2η K^{1/2} W_o K^{1/2} for C = the first ⌈observed · N⌉ rows of I."""
        eta = eta_fraction * 2.0 / self.lam[-1]
        m = max(1, math.ceil(observed * self.n_train))
        k = (self.vecs * self.lam) @ self.vecs.T
        w = geometry.observability_gramian(k, eta, c=np.eye(self.n_train)[:m], horizon=horizon)
        root = (self.vecs * np.sqrt(self.lam)) @ self.vecs.T
        return np.linalg.eigvalsh(2 * eta * root @ w @ root)[::-1]


def _floored(values, scale):
    return np.maximum(np.asarray(values, np.float64), _FLOOR * scale)


def spectra_figure(eig_k, eig_f, natural=None, *, title: str = "") -> go.Figure:
    """Eigenvalues of K (N) and F (P) by index, log scale, and optionally of J F⁺ Jᵀ.

    Values below 1e-14 × the largest are drawn at that floor (a log axis cannot show 0).

    Example:
      >>> fig = spectra_figure([4.0, 1.0], [4.0, 1.0, 0.0], [1.0, 1.0])
      >>> [t.name for t in fig.data]
      ['eigenvalues of K = J Jᵀ (N × N)', 'eigenvalues of F = Jᵀ J (P × P)', 'eigenvalues of J F⁺ Jᵀ']
    """
    eig_k, eig_f = np.asarray(eig_k, np.float64), np.asarray(eig_f, np.float64)
    scale = max(eig_k.max(), eig_f.max(), 1.0)
    fig = plotting.figure(title, "index i (descending)", "eigenvalue", log_y=True, legend="top")
    fig.add_scatter(x=np.arange(1, eig_k.size + 1), y=_floored(eig_k, scale), mode="markers",
                    name="eigenvalues of K = J Jᵀ (N × N)",
                    marker=dict(color=plotting.COLORS["empirical"], size=9, symbol="circle-open"))
    fig.add_scatter(x=np.arange(1, eig_f.size + 1), y=_floored(eig_f, scale), mode="markers",
                    name="eigenvalues of F = Jᵀ J (P × P)",
                    marker=dict(color=plotting.COLORS["network"], size=4))
    if natural is not None:
        natural = np.asarray(natural, np.float64)
        fig.add_scatter(x=np.arange(1, natural.size + 1), y=_floored(natural, scale), mode="markers",
                        name="eigenvalues of J F⁺ Jᵀ", marker=dict(color=plotting.COLORS["analytic"], size=4,
                                                                   symbol="square"))
    return fig


def explorer(net, *, widths=(8, 16, 32), ratios=(0.125, 0.25, 0.5, 1.0, 2.0), width: int | None = None,
             ratio: float = 0.25, eta_fraction: float = 0.5, t: float = 100.0, observed: float = 1.0,
             data_seed: int = 4, seed: int = 0) -> widgets.Explorer:
    """The explorer of notebook 06 (see the module docstring): width n, N/P, η/η_max, t, observed outputs.

    Args:
      net: a one-hidden-layer ``mlp`` description (its width is replaced by each of ``widths``).
      widths, ratios: the slider values of n and N/P (N = round(ratio · P), at least 2).
      width, ratio, eta_fraction, t, observed: where the controls start (``width`` defaults to
        ``net.width`` if it is on the slider, else the middle of ``widths``); each must be one of
        its slider's values.
      data_seed: seed of ``data.regression_1d``; seed: the network's initialisation.
    """
    net = as_network(net)
    if net.kind != "mlp" or net.depth != 1:
        raise ValueError(f"net must be an mlp with depth 1, got {net.name}")
    widths = tuple(check_positive_int("widths", n) for n in widths)
    ratios = tuple(check_positive("ratios", r) for r in ratios)
    if not widths or not ratios:
        raise ValueError("widths and ratios must not be empty")
    if width is None:
        width = net.width if net.width in widths else widths[len(widths) // 2]
    cases = {(n, r): Case(net, n, r, data_seed=data_seed, seed=seed) for n in widths for r in ratios}

    fig_s = widgets.live(spectra_figure([1.0], [1.0], [1.0]))
    fig_l = widgets.live(plotting.figure("", "step t", "loss ½‖f_t − y‖²", log_x=True, log_y=True))
    fig_l.add_scatter(x=[], y=[], mode="lines", name="gradient descent (kernel K)",
                      line=dict(color=plotting.COLORS["network"], width=2.5))
    fig_l.add_scatter(x=[], y=[], mode="lines", name="natural gradient (kernel J F⁺ Jᵀ)",
                      line=dict(color=plotting.COLORS["analytic"], width=2.5, dash="dot"))
    fig_l.add_scatter(x=[], y=[], mode="markers", name="step t", marker=dict(color="#4D4D4D", size=10))
    fig_g = widgets.live(plotting.figure("", "index i (descending)", "eigenvalue of 2η K^½ W_o K^½", log_y=True))
    fig_g.add_scatter(x=[], y=[], mode="markers", name="C = first m rows of I, horizon T = t",
                      marker=dict(color=plotting.COLORS["empirical"], size=7))
    fig_g.add_scatter(x=[], y=[], mode="lines", name="the source's claim W_o = (2ηK)⁻¹: all 1",
                      line=dict(color=plotting.COLORS["analytic"], dash="dot"))

    def update(v):
        case = cases[v["width"], v["ratio"]]
        eig_k, eig_f, natural = case.spectra()
        scale = max(eig_k.max(), 1.0)
        for trace, values in zip(fig_s.data, (eig_k, eig_f, natural)):
            trace.update(x=np.arange(1, values.size + 1), y=_floored(values, scale))
        fig_s.layout.title.text = (f"n = {case.width}: N = {case.n_train}, P = {case.n_params}, "
                                   f"rank J = {case.rank}")
        gd, ng = case.losses(v["eta"], _T_CURVE)
        t_now = v["t"]
        fig_l.data[0].update(x=_T_CURVE, y=np.maximum(gd, 1e-30))
        fig_l.data[1].update(x=_T_CURVE, y=np.maximum(ng, 1e-30))
        at = case.losses(v["eta"], [t_now if math.isfinite(t_now) else 1e12])
        t_x = t_now if math.isfinite(t_now) else _T_CURVE[-1]
        fig_l.data[2].update(x=[t_x, t_x], y=np.maximum([at[0][0], at[1][0]], 1e-30))
        fig_l.layout.title.text = f"Training from f₀ = 0 at η/η_max = {v['eta']:g} of each kernel"
        m = max(1, math.ceil(v["observed"] * case.n_train))
        eig_w = case.gramian_eigenvalues(v["eta"], v["observed"], t_now)  # ValueError: infinite Gramian
        idx = np.arange(1, eig_w.size + 1)
        fig_g.data[0].update(x=idx, y=_floored(eig_w, max(eig_w.max(), 1.0)))
        fig_g.data[1].update(x=[1, eig_w.size], y=[1.0, 1.0])
        horizon = "∞" if not math.isfinite(t_now) else f"{t_now:g}"
        fig_g.layout.title.text = f"Observability Gramian: m = {m} of N = {case.n_train} outputs, T = {horizon}"

    controls = {
        "width": widgets.log_slider("width n", list(widths), width, labels=str),
        "ratio": widgets.log_slider("N / P", list(ratios), ratio, labels=lambda r: f"{r:g}"),
        "eta": widgets.log_slider("η / η_max", list(ETA_FRACTIONS), eta_fraction, labels=lambda r: f"{r:g}"),
        "t": widgets.log_slider("step t (= horizon T)", list(TIMES), float(t),
                                labels=lambda s: "∞" if math.isinf(s) else f"{s:g}"),
        "observed": widgets.log_slider("observed outputs m / N", list(OBSERVED), observed,
                                       labels=lambda r: f"{r:g}"),
    }
    ex = widgets.Explorer(controls, [fig_s, fig_l, fig_g], update, title="The Jacobian's two faces")
    ex.cases = cases
    return ex
