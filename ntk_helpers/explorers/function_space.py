"""Notebook 01's explorer: a trained network beside its linearisation and its kernel predictions.

Four centred predictions (all start from 0) of one gradient-descent run on a grid of inputs, for
any width n, depth L, learning rate η/η_max (η_max = 2/λ_max(Θ) of the analytic Θ of depth L)
and step t: the trained network; the linearised network, i.e. the closed form (I − ηK)ᵗ with its
empirical NTK K at θ₀; the gradient flow e^{−ηKt} of the same K; the analytic Θ in discrete steps.
Above a linear model's bound 2/λ_max the network is still trained, and the figure says what it
did (converged, catapulted, diverged). The maths is derived in ``notebooks/01_function_space.ipynb``.
Here: :class:`PayoffRuns` (in ``_function_space_runs``) computes and caches every run (its warm-up
makes every slider move free of compilation), :func:`payoff_figure` draws one state,
:func:`explorer` is the live explorer with its **Train this network** button, and
:func:`lazy_drift` measures why wide training is lazy (‖θ_T − θ₀‖ and ‖J_T − J₀‖/‖J₀‖ against
the width). How it stays fast: ``docs/developers.md``, "Notebook 01".
"""

from __future__ import annotations

from typing import NamedTuple

import ipywidgets
import numpy as np
import plotly.graph_objects as go

from .. import dynamics, empirical, kernels, models, plotting, widgets
from ..errors import DivergenceError, check_positive
from ..network import Network
from ._function_space_runs import (  # noqa: F401 (the runs' names, reachable from this module too)
    COLD_COMPILE_S,
    LIVE_UNITS,
    ROLES,
    TRAIN_UNITS,
    Outcome,
    PayoffRuns,
    _arrays,
    _increasing,
    _seconds,
    _short,
    _train_shifted,
    hidden_units,
)

__all__ = ["Drift", "Outcome", "PayoffRuns", "PayoffExplorer", "ROLES", "explorer", "hidden_units", "lazy_drift",
           "catapult_figure", "payoff_figure", "title"]

#: The legend names of the four predictions.
LABELS = {"network": "network (trained)", "linearized": "linearised network: steps, (I − ηK)ᵗ",
          "empirical": "empirical NTK K: gradient flow, e^(−ηKt)", "analytic": "infinite width: analytic Θ, steps"}


class Drift(NamedTuple):
    """How far training moved a network: ‖θ_T − θ₀‖, ‖θ₀‖, ‖J_T − J₀‖_F / ‖J₀‖_F on the training inputs."""

    params: float
    params0: float
    jacobian: float


def lazy_drift(data, net: Network, widths, *, rate: float = 0.5, steps: int = 400, record_every: int = 5,
               seed: int = 0) -> dict:
    """How far gradient descent moves θ and the Jacobian J of ``net`` at each width (why training is lazy).

    Each width's network is trained centred (on y + f₀) at η = rate · 2/λ_max(Θ), Θ the analytic
    NTK of ``net``, with exactly the call of :class:`PayoffRuns`, so their compiled loops are shared.

    Args:
      data: a Dataset: x_train (N, d), y_train (N,), x_test (M, d) (recorded, as in the explorer).
      net: an ``mlp`` :class:`~ntk_helpers.network.Network`; its width is replaced by each of ``widths``.
      widths: increasing widths n. rate: η/η_max. steps, record_every, seed: of every run.

    Returns:
      width → :class:`Drift`: ‖θ_T − θ₀‖, ‖θ₀‖ and ‖J_T − J₀‖_F / ‖J₀‖_F, J of shape (N, P).
    """
    if not isinstance(net, Network) or net.kind != "mlp":
        raise TypeError(f"net must be an ntk_helpers.Network of kind 'mlp', got {net!r}")
    x, y, grid = _arrays(data)
    theta = kernels.analytic(net.replace(width=None), x.astype(np.float64)).ntk
    eta = check_positive("rate", rate) * dynamics.max_learning_rate(theta)
    out = {}
    for n in _increasing("widths", widths):
        model = models.build(net.replace(width=n))
        params0 = model.init(seed, x.shape[1])
        run = _train_shifted(model, params0, x, y, grid, eta, steps, record_every)
        j0, jt = (np.asarray(empirical.jacobian(model, p, x), np.float64) for p in (params0, run.params))
        theta0, theta_t = (np.asarray(models.flatten(p)[0], np.float64) for p in (params0, run.params))
        out[n] = Drift(float(np.linalg.norm(theta_t - theta0)), float(np.linalg.norm(theta0)),
                       float(np.linalg.norm(jt - j0) / np.linalg.norm(j0)))
    return out


_STYLE = {
    "network": dict(line=dict(color=plotting.COLORS["network"], width=2.5)),
    # a wide translucent band, so that the flow curve stays visible on top where the two agree
    "linearized": dict(line=dict(color=plotting.COLORS["linearized"], width=8), opacity=0.45),
    "empirical": dict(line=dict(color=plotting.COLORS["empirical"], width=2)),
    "analytic": dict(line=dict(color=plotting.COLORS["analytic"], width=2.5, dash="dot")),
}


def payoff_figure(runs: PayoffRuns, curves: dict | None = None, *, index: int = -1, title: str = "") -> go.Figure:
    """The four predictions at record ``index`` with the target and the training data (pure).

    Args:
      runs: the :class:`PayoffRuns`; curves: role → (T, M), as from ``runs.curves(...)`` (missing
        roles are drawn hidden); index: the record drawn; title: the figure's title (three lines fit).

    Returns:
      A ``go.Figure`` with six named traces (target, training data, :data:`ROLES`) and the legend
      below the plot, clear of the title.
    """
    if not isinstance(runs, PayoffRuns):
        raise TypeError(f"runs must be a PayoffRuns, got {type(runs).__name__}")
    curves = {} if curves is None else dict(curves)
    if set(curves) - set(ROLES):
        raise ValueError(f"curves has unknown roles {sorted(set(curves) - set(ROLES))}; allowed: {ROLES}")
    u = runs.grid[:, 0].astype(np.float64)
    fig = plotting.figure(title, "input u", "centred output f(u) − f₀(u)", height=540, legend=None)
    fig.update_layout(showlegend=True, margin=dict(t=90, b=150), title_pad_t=20,  # three title lines fit
                      legend=dict(orientation="h", x=0.0, xanchor="left", y=-0.2, yanchor="top"))
    fig.add_scatter(x=u, y=runs.y_grid, mode="lines", name="target",
                    line=dict(color=plotting.COLORS["target"], dash="dash", width=1.5))
    fig.add_scatter(x=runs.x[:, 0].astype(np.float64), y=runs.y.astype(np.float64), mode="markers",
                    name="training data", marker=dict(color=plotting.COLORS["data"], size=9))
    for role in ROLES:
        shown = role in curves
        y = np.asarray(curves[role][index], np.float64) if shown else np.zeros_like(u)
        fig.add_scatter(x=u, y=y, mode="lines", name=LABELS[role], visible=shown, **_STYLE[role])
    fig.update_yaxes(range=[-2.2, 2.2])
    return fig


def catapult_figure(runs: PayoffRuns, width: int, depth: int, rates=(0.5, 1.2, 1.5)) -> go.Figure:
    """The trained network's loss against the step at several learning rates, on a log scale (pure).

    Args:
      runs: the :class:`PayoffRuns`; width, depth: a setting whose networks are trained at every
        rate; rates: the η/η_max drawn.

    Returns:
      A ``go.Figure``: one named trace per rate (the recorded loss, (T,)), and for the first rate
      above this network's own bound 2/λ_max(K₀) the linearised network's loss ½‖(I − ηK₀)ᵗ y‖².

    Raises:
      ValueError: a rate whose network was not trained (a costly setting) or diverged.
    """
    if not isinstance(runs, PayoffRuns):
        raise TypeError(f"runs must be a PayoffRuns, got {type(runs).__name__}")
    fig = plotting.figure(f"Width {width}, depth {depth}: the linear model diverges, the network catapults",
                          "step t", "½‖f − f₀ − y‖²", log_y=True)
    lam, v = np.linalg.eigh(runs.kernel(width, depth)[: runs.n_train])
    linear = None
    for i, rate in enumerate(rates):
        outcome = runs.outcome(width, depth, rate)
        if outcome is None or outcome.loss is None:
            raise ValueError(f"the network at width {width}, depth {depth}, rate {rate} was not trained or diverged")
        fig.add_scatter(x=runs.recorded, y=outcome.loss, mode="lines", name=f"network, η = {_short(rate)}",
                        line=dict(color=plotting.sequential(len(rates))[i], width=2.5))
        linear = rate if linear is None and outcome.above_bound else linear
    if linear is not None:
        decay = (1 - linear * runs.eta_max[depth] * lam[None, :]) ** runs.recorded[:, None]  # (T, N)
        loss = 0.5 * np.sum((decay * (v.T @ runs.y.astype(np.float64))) ** 2, axis=1)
        fig.add_scatter(x=runs.recorded, y=loss, mode="lines", name=f"linearised network, η = {_short(linear)}",
                        line=dict(color=plotting.COLORS["linearized"], dash="dash", width=2.5))
    fig.update_yaxes(range=[-3, 5])
    return fig


def title(runs: PayoffRuns, width: int, depth: int, rate: float, step: int) -> str:
    """The explorer's title: the setting, and above a linear model's bound two smaller lines (which
    linear models diverge; what the network did), each short enough for the figure's width."""
    text = f"width {width}, depth {depth}, η = {_short(rate)}, step {step}"
    headline = runs.headline(width, depth, rate)
    lines = [f"<br><span style='font-size:13px'>{line}</span>" for line in headline.split("; ") if line]
    return text + "".join(lines)


class PayoffExplorer(widgets.Explorer):
    """An :class:`~ntk_helpers.widgets.Explorer` of width, depth, η/η_max and time with a Train
    button (built by :func:`explorer`); also ``runs``, ``figure`` and ``button`` (an ``Action``)."""

    def __init__(self, runs: PayoffRuns, *, width: int, depth: int, rate: float):
        if not isinstance(runs, PayoffRuns):
            raise TypeError(f"runs must be a PayoffRuns, got {type(runs).__name__}")
        runs.curves(width, depth, rate)  # checks the setting (and computes it)
        self.runs = runs
        self.figure = widgets.live(payoff_figure(runs, title=title(runs, width, depth, rate, runs.steps)))
        controls = {
            "width": widgets.log_slider("width n", runs.widths, width, continuous_update=False),
            "depth": ipywidgets.IntSlider(depth, min=runs.depths[0], max=runs.depths[-1], description="depth L",
                                          continuous_update=False, style={"description_width": "initial"}),
            "rate": ipywidgets.FloatSlider(rate, min=0.05, max=1.5, step=0.05, description="η / η_max",
                                           continuous_update=False, style={"description_width": "initial"}),
            "t": widgets.log_slider("step t", runs.recorded, runs.steps, labels=str),
        }
        super().__init__(controls, [self.figure], self._update)
        self.button = widgets.Action(self, "Train this network", self._train,
                                     enabled=lambda v: runs.trainable(v["width"], v["depth"], v["rate"]),
                                     note=lambda v: runs.note(v["width"], v["depth"], v["rate"]))
        # The note (long: the setting, what is drawn, the time estimate) gets a line of its own
        # under the button and the progress bar, so it never squeezes or moves them.
        self.button.label.layout.margin = "0 0 0 0.5em"
        self.button.widget.children = (self.button.button, self.button.progress)
        children = list(self.widget.children)
        at = children.index(self.button.widget) + 1
        self.widget.children = (*children[:at], self.button.label, *children[at:])

    def _update(self, v):
        n, L, rate, t = v["width"], v["depth"], v["rate"], v["t"]
        curves = self.runs.curves(n, L, rate)
        if not {"network", "linearized", "analytic"} & set(curves):  # a message, short lines
            then = ("infinite width diverges;\n" + ("too large to train here" if self.runs.kind(n, L) == "too large"
                    else "press Train for the network") if self.runs.outcome(n, L, rate) is None
                    else "the linear models diverge,\nand the network diverges too")
            raise DivergenceError(f"η = {_short(rate)}:\n{then}")
        i = int(np.searchsorted(self.runs.recorded, t))
        u = self.runs.grid[:, 0].astype(np.float64)
        for trace, role in zip(self.figure.data[2:], ROLES):
            trace.visible = role in curves
            if role in curves:
                trace.update(x=u, y=curves[role][i])  # x with y, always
        self.figure.layout.title.text = title(self.runs, n, L, rate, t)

    def _train(self, v, progress):
        n, L, rate = v["width"], v["depth"], v["rate"]
        if (n, L) not in self.runs.compiled:
            self.button.label.value = (f"<span style='color:#444'>training width {n}, depth {L}: the first "
                                       "chunk compiles the training step, then the bar moves…</span>")
        self.runs.train(n, L, rate, progress)


def explorer(runs: PayoffRuns, *, width: int | None = None, depth: int = 1, rate: float = 0.5) -> PayoffExplorer:
    """Notebook 01's live explorer over ``runs`` (a :class:`PayoffRuns`), starting at ``width``
    (default: the middle one), ``depth`` and η/η_max = ``rate``. Display the returned
    :class:`PayoffExplorer`, then its ``static_figure()``."""
    width = runs.widths[len(runs.widths) // 2] if width is None and isinstance(runs, PayoffRuns) else width
    return PayoffExplorer(runs, width=width, depth=depth, rate=rate)
