"""Notebook 05's ensembles: networks trained side by side against their infinite-width Gaussians.

The notebook derives the mathematics (the prior f₀ ~ GP(0, Σ), the Gaussian of the ensemble
trained for t steps, the Bayesian posterior, the split of the test loss); the numerics are in
:mod:`ntk_helpers.ensembles`. This module holds the plumbing:

* :class:`EnsembleSweep` — for every width and depth, S networks trained in every layer and the
  same S trained by their readout layer alone, recorded every few steps (the readout alone also
  at t = ∞, exactly), and the infinite-width Gaussians of both ways of training and of Bayesian
  inference with Σ. A (width, depth) is trained once, when asked, and cached;
* :func:`explorer` — the live explorer (width, depth, t, reference, readout only, number of
  networks): a slider move only looks results up; a **Train this ensemble** button trains a
  (width, depth) not trained yet;
* figures: :func:`prior_figure`, :func:`percentile_figure`, :func:`views_figure`, :func:`loss_figure`.

How it stays fast: ``docs/developers.md``, "Notebook 05". Introduced in notebook 05.
"""

from __future__ import annotations

import ipywidgets
import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .. import budget, dynamics, ensembles, kernels, plotting, widgets
from ..errors import (
    DivergenceError,
    as_float_array,
    check_choice,
    check_positive,
    check_positive_int,
)
from ..network import as_network

__all__ = ["EnsembleSweep", "VIEWS", "explorer", "loss_figure", "percentile_figure", "prior_figure",
           "views_figure"]

#: The two references the explorer can draw: the closed form of the ensemble itself at step t
#: (the training view, NTK) or Bayesian inference with the NNGP prior (the prior view, no time).
VIEWS = ("ntk", "nngp")
#: Rough seconds per unit of training work, S · steps · N · (n²(L − 1) + n(d + 2)) multiply-adds
#: (measured on a loaded 2-core CPU: 1–2.6 × 10⁻⁹ for L ≥ 2), and to compile one new shape.
SECONDS_PER_UNIT, COMPILE_SECONDS = 3e-9, 4.0
#: The longest training the Train button offers, and the memory its parameters may take.
MAX_SECONDS, MAX_BYTES = 90.0, 1.0 * 2**30
_NET, _REF = plotting.COLORS["network"], plotting.COLORS["analytic"]


def _sd(gaussian):
    return np.sqrt(np.clip(np.diagonal(gaussian.covariance, axis1=-2, axis2=-1), 0.0, None))


def _label(t) -> str:
    return "∞" if np.isinf(t) else str(int(t))


class EnsembleSweep:
    """Ensembles for every (width, depth), trained on request, and their infinite-width Gaussians.

    The networks are ``net.replace(width=n, depth=L)`` from seeds 0 … S − 1, trained on
    ``data.x_train``, ``data.y_train`` for ``steps`` full-batch steps at η = ``eta_fraction`` · η_max,
    with η_max = 2/λ_max of the analytic kernel that trains them (Θ, or Σ for the readout alone);
    their outputs on ``data.x_test`` are recorded every ``record_every`` steps. A readout trained
    alone is a linear model, solved exactly (:func:`~ntk_helpers.ensembles.readout_ensemble`), so
    it is recorded at t = ∞ too.

    Attributes:
      network, data (x_train, y_train, x_test, y_test), widths, depths, seeds (the number S),
      eta_fraction.
      times: (T + 1,) the recorded steps 0, k, …, ``steps`` and then ``np.inf``.
      eta: (depth, readout_only) → η.
      theory: (depth, readout_only) → the closed-form :class:`~ntk_helpers.dynamics.Gaussian` at
        every one of ``times`` (mean (T + 1, M), covariance (T + 1, M, M)).
      posterior: depth → the GP posterior with the NNGP kernel (mean (M,), covariance (M, M)).
      runs: (width, depth, readout_only) → :class:`~ntk_helpers.ensembles.EnsembleRun` with T records
        (T + 1 for the readout alone), or the :class:`~ntk_helpers.errors.DivergenceError` of a run
        that blew up.
    """

    def __init__(self, net, data, *, widths, depths, seeds: int = 64, steps: int = 300, record_every: int = 10,
                 eta_fraction: float = 0.5, train_depths=()):
        self.network = as_network(net)
        x = as_float_array("data.x_train", data.x_train, ndim=2, network=True)
        x_eval = as_float_array("data.x_test", data.x_test, ndim=2, dim=x.shape[1], network=True)
        y, y_eval = (as_float_array(name, v, ndim=1) for name, v in (("data.y_train", data.y_train),
                                                                      ("data.y_test", data.y_test)))
        if y.shape[0] != x.shape[0] or y_eval.shape[0] != x_eval.shape[0]:
            raise ValueError("data must hold one target per input (y_train for x_train, y_test for x_test)")
        self.data = (x, y, x_eval, y_eval)
        self.widths = tuple(check_positive_int("widths", n) for n in widths)
        self.depths = tuple(check_positive_int("depths", L) for L in depths)
        if not self.widths or not self.depths:
            raise ValueError("widths and depths must not be empty")
        self.seeds = check_positive_int("seeds", seeds)
        steps, self._every = check_positive_int("steps", steps), check_positive_int("record_every", record_every)
        if steps % self._every:
            raise ValueError(f"steps ({steps}) must be a multiple of record_every ({self._every})")
        self.times = np.append(np.arange(0, steps + 1, self._every, dtype=np.float64), np.inf)
        self.eta_fraction = check_positive("eta_fraction", eta_fraction)
        if self.eta_fraction >= 1:
            raise ValueError(f"eta_fraction must be below 1 (η < η_max, where training converges), got {eta_fraction}")
        self.eta, self.theory, self.posterior, self.runs = {}, {}, {}, {}
        for L in self.depths:
            deep = self.network.replace(depth=L)
            k_tr, k_te, k_tt = kernels.analytic(deep, x), kernels.analytic(deep, x_eval, x), kernels.analytic(deep, x_eval).nngp
            for readout in (False, True):
                k_train, k_test = (k_tr.nngp, k_te.nngp) if readout else (k_tr.ntk, k_te.ntk)
                eta = self.eta[L, readout] = self.eta_fraction * dynamics.max_learning_rate(k_train)
                predict = ensembles.ensemble_predictor(k_train, k_tr.nngp, y, eta, discrete=True)
                self.theory[L, readout] = predict(self.times, k_test, k_te.nngp, k_tt)
            self.posterior[L] = dynamics.gp_posterior(k_te.nngp, k_tr.nngp, k_tt, y)
        for L in train_depths:
            for n in self.widths:
                self.train(n, L)

    @property
    def steps(self) -> int:
        """The number of gradient-descent steps of a run that trains every layer."""
        return int(self.times[-2])

    def _check(self, width, depth):
        if width not in self.widths or depth not in self.depths:
            raise ValueError(f"(width, depth) must be in widths {self.widths} × depths {self.depths}, "
                             f"got ({width!r}, {depth!r})")

    def seconds(self, width: int, depth: int) -> float:
        """A rough estimate of the seconds :meth:`train` takes here, compilation included."""
        n, d = width, self.data[0].shape[1]
        units = self.seeds * self.steps * len(self.data[1]) * (n * n * (depth - 1) + n * (d + 2))
        return SECONDS_PER_UNIT * units + COMPILE_SECONDS

    def parameter_bytes(self, width: int, depth: int) -> float:
        """The S networks' parameters in float32, times 4 (gradients and copies), in bytes."""
        return 16.0 * self.seeds * (self.data[0].shape[1] * width + (depth - 1) * width * width + width)

    def affordable(self, width: int, depth: int) -> bool:
        """Whether :meth:`train` stays within :data:`MAX_SECONDS` and :data:`MAX_BYTES`."""
        return self.seconds(width, depth) <= MAX_SECONDS and self.parameter_bytes(width, depth) <= MAX_BYTES

    def trained(self, width: int, depth: int) -> bool:
        """Whether (width, depth) has been trained (both ways)."""
        return (width, depth, True) in self.runs

    def train(self, width: int, depth: int, progress=None) -> None:
        """Train the S networks of this width and depth both ways (every layer, readout only), once.

        Raises:
          ntk_helpers.budget.BudgetError: beyond :data:`MAX_SECONDS` or :data:`MAX_BYTES`.
        """
        self._check(width, depth)
        if self.trained(width, depth):
            return
        with budget.limits(seconds=MAX_SECONDS, bytes=MAX_BYTES):  # this explorer's own, tighter limits
            budget.check(f"training {self.seeds} networks of width {width} and depth {depth}",
                         seconds=self.seconds(width, depth), bytes=self.parameter_bytes(width, depth),
                         fix="choose a smaller width or depth")
        x, y, x_eval, _ = self.data
        net = self.network.replace(width=width, depth=depth)
        jobs = {False: lambda: ensembles.train_ensemble(
                    net, range(self.seeds), x, y, x_eval, learning_rate=self.eta[depth, False], steps=self.steps,
                    record_every=self._every, progress=progress),
                True: lambda: ensembles.readout_ensemble(
                    net, range(self.seeds), x, y, x_eval, learning_rate=self.eta[depth, True], t=self.times)}
        for readout, job in jobs.items():
            try:
                self.runs[width, depth, readout] = job()
            except DivergenceError as exc:  # shown by the explorer as a message
                self.runs[width, depth, readout] = exc

    def run(self, width: int, depth: int, readout_only: bool = False) -> ensembles.EnsembleRun:
        """The cached run; a ``ValueError`` if not trained yet, its ``DivergenceError`` if it diverged."""
        self._check(width, depth)
        if not self.trained(width, depth):
            how = (f"press 'Train this ensemble' (about {self.seconds(width, depth):.0f} s)"
                   if self.affordable(width, depth)
                   else f"too costly for this explorer (about {self.seconds(width, depth) / 60:.0f} min)")
            raise ValueError(f"n = {width}, L = {depth} is not trained yet: {how}")
        result = self.runs[width, depth, bool(readout_only)]
        if isinstance(result, DivergenceError):
            raise result
        return result

    def index(self, t) -> int:
        """The index of step t (``np.inf`` included) in :attr:`times`."""
        hits = np.flatnonzero(self.times == t)
        if hits.size != 1:
            raise ValueError(f"t must be one of the recorded steps {[_label(s) for s in self.times]}, got {t!r}")
        return int(hits[0])


def _check_sweep(sweep):
    if not isinstance(sweep, EnsembleSweep):
        raise TypeError(f"sweep must be an EnsembleSweep, got {type(sweep).__name__}")


# --------------------------------------------------------------------------- figures


def _transparent(color, alpha=0.22):
    r, g, b = (int(color[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"


def _band(fig, u, mean, sd, name, color, group, row=None, fill=True):
    """Three traces: upper edge, lower edge (filled up to the upper one when ``fill``), mean; ±2 sd."""
    kw = {} if row is None else dict(row=row, col=1)
    edge = dict(color=color, width=0) if fill else dict(color=color, width=1.2, dash="dot")
    fig.add_scatter(x=u, y=mean + 2 * sd, mode="lines", line=edge, name=f"{name}: +2 sd", legendgroup=group,
                    showlegend=False, hoverinfo="skip", **kw)
    fig.add_scatter(x=u, y=mean - 2 * sd, mode="lines", line=edge, name=f"{name}: mean ± 2 sd", legendgroup=group,
                    fill="tonexty" if fill else None, fillcolor=_transparent(color), **kw)
    fig.add_scatter(x=u, y=mean, mode="lines", name=f"{name}: mean", legendgroup=group, showlegend=False,
                    line=dict(color=color, width=2.5, dash=None if fill else "dot"), **kw)


def _data_traces(fig, data, row=None):
    """The target y(u) on the test inputs and the training points (in the legend once)."""
    x, y, x_eval, y_eval = data
    kw, first = ({}, True) if row is None else (dict(row=row, col=1), row == 1)
    fig.add_scatter(x=x_eval[:, 0], y=y_eval, mode="lines", legendgroup="target", showlegend=first,
                    **plotting.role_line("target", name="target y(u)"), **kw)
    fig.add_scatter(x=x[:, 0], y=y, mode="markers", name="training points", legendgroup="data", showlegend=first,
                    marker=dict(color=plotting.COLORS["data"], size=9, symbol="x"), **kw)


def prior_figure(u, draws, nngp, *, shown: int = 4) -> go.Figure:
    """Random initialisations against the GP prior: the draws' mean ± 2 sd, a few draws, and ±2σ of Σ.

    Args:
      u: (M,) the plotted coordinate; draws: (S, M) outputs of S networks at initialisation;
      nngp: (M, M) Σ on the same inputs; shown: how many single draws are drawn.
    """
    draws = as_float_array("draws", draws, ndim=2)
    u = as_float_array("u", u, ndim=1)
    nngp = as_float_array("nngp", nngp, ndim=2)
    if u.shape[0] != draws.shape[1] or nngp.shape != (u.shape[0],) * 2:
        raise ValueError(f"u, draws and nngp must have shapes (M,), (S, M), (M, M), got {u.shape}, {draws.shape}, "
                         f"{nngp.shape}")
    fig = plotting.figure(f"The prior: {len(draws)} networks at initialisation against GP(0, Σ)", "input u", "f₀(u)")
    _band(fig, u, draws.mean(axis=0), draws.std(axis=0), f"{len(draws)} networks", _NET, "networks")
    _band(fig, u, np.zeros_like(u), np.sqrt(np.clip(np.diag(nngp), 0.0, None)), "GP(0, Σ)", _REF, "gp", fill=False)
    for s in range(min(check_positive_int("shown", shown), len(draws))):
        fig.add_scatter(x=u, y=draws[s], mode="lines", name="single networks", legendgroup="single",
                        showlegend=s == 0, line=dict(color=plotting.COLORS["empirical"], width=1))
    return fig


def percentile_figure(sweep: EnsembleSweep, *, widths, depth: int = 1, t=None) -> go.Figure:
    """Jacot et al. (2018)'s Figure 2 in spirit: percentiles of trained networks against the NTK's Gaussian.

    One row per width: the 10th, 50th and 90th percentiles over the S networks after t steps
    (solid), and those of the predicted Gaussian, μ and μ ± 1.2816 σ (dotted).
    """
    _check_sweep(sweep)
    t = sweep.steps if t is None else t
    i, q = sweep.index(t), 1.2815515655446004  # the 90th percentile of N(0, 1)
    if np.isinf(t):
        raise ValueError("t must be a recorded step: networks trained in every layer stop at "
                         f"t = {sweep.steps}")
    theory = sweep.theory[depth, False]
    mu, sd, u = theory.mean[i], _sd(theory)[i], sweep.data[2][:, 0]
    fig = make_subplots(rows=len(widths), cols=1, shared_xaxes=True, vertical_spacing=0.08,
                        subplot_titles=[f"n = {n}" for n in widths])
    for row, n in enumerate(widths, start=1):
        f = sweep.run(n, depth).f_eval[i]
        for k, (p, z) in enumerate(((10, -q), (50, 0.0), (90, q))):
            first = row == 1 and k == 0
            fig.add_scatter(x=u, y=np.percentile(f, p, axis=0), mode="lines", name="networks: 10/50/90 %",
                            legendgroup="net", showlegend=first, line=dict(color=_NET, width=2), row=row, col=1)
            fig.add_scatter(x=u, y=mu + z * sd, mode="lines", name="NTK Gaussian: 10/50/90 %", legendgroup="ntk",
                            showlegend=first, line=dict(color=_REF, width=2.5, dash="dot"), row=row, col=1)
        _data_traces(fig, sweep.data, row=row)
    plotting.style(fig, f"{sweep.seeds} trained networks (L = {depth}, t = {_label(t)}) against the infinite-width "
                   "Gaussian", None, None, height=300 * len(widths) + 100)
    fig.update_xaxes(title_text="input u", row=len(widths), col=1)
    return fig


def views_figure(u, posterior, ensemble, data) -> go.Figure:
    """The prior view against the training view: GP posterior (Σ) and trained ensemble (Θ), ±2 sd each.

    Args:
      u: (M,) the plotted coordinate; posterior, ensemble: :class:`~ntk_helpers.dynamics.Gaussian`
        with mean (M,) and covariance (M, M); data: a :class:`~ntk_helpers.data.Dataset`.
    """
    u = as_float_array("u", u, ndim=1)
    fig = plotting.figure("Bayesian posterior with Σ against the ensemble trained to t = ∞", "input u", "f(u)")
    _band(fig, u, ensemble.mean, _sd(ensemble), "trained ensemble (Θ)", _NET, "ens")
    _band(fig, u, posterior.mean, _sd(posterior), "GP posterior (Σ)", _REF, "post", fill=False)
    _data_traces(fig, data)
    return fig


_LOSS_STYLES = (("theory: bias²", _REF, "solid", "lines"), ("theory: variance", _REF, "dot", "lines"),
                ("networks: bias²", _NET, "solid", "markers"), ("networks: variance", _NET, "dot", "markers"),
                ("GP posterior: bias²", "#CC79A7", "solid", "lines"), ("GP posterior: variance", "#CC79A7", "dot", "lines"),
                ("selected t", "#999999", "dash", "lines"))


def _loss_traces(fig):
    """Theory (lines) and networks (markers), GP posterior (horizontal lines), the selected t (vertical)."""
    for k, (name, color, dash, mode) in enumerate(_LOSS_STYLES):
        fig.add_scatter(mode=mode, name=name, line=dict(color=color, dash=dash, width=2), showlegend=k < 6,
                        marker=dict(color=color, size=9, symbol="circle" if k == 2 else "diamond-open"))


def _loss_update(fig, sweep, width, depth, readout, seeds, view, t):
    finite = sweep.times[:-1]
    theory = ensembles.expected_loss(sweep.theory[depth, readout], sweep.data[3])
    nets = ensembles.ensemble_loss(sweep.run(width, depth, readout).f_eval[: len(finite), :seeds], sweep.data[3])
    post = ensembles.expected_loss(sweep.posterior[depth], sweep.data[3])
    ys = (theory.bias2[:-1], theory.variance[:-1], nets.bias2, nets.variance)
    for k, y in enumerate(ys):
        fig.data[k].update(x=finite, y=widgets.ensure_finite("the test loss", np.maximum(y, 1e-12)))
    for k, y in ((4, post.bias2), (5, post.variance)):
        fig.data[k].update(x=finite[[0, -1]], y=[max(float(y), 1e-12)] * 2, visible=view == "nngp")
    low = max(min(float(np.min(v)) for v in ys), 1e-12)
    at = finite[-1] if np.isinf(t) else t
    fig.data[6].update(x=[at, at], y=[low, 2.0], visible=not np.isinf(t))


def loss_figure(sweep: EnsembleSweep, *, width: int, depth: int = 1, readout_only: bool = False,
                seeds: int | None = None, view: str = "ntk", t=None) -> go.Figure:
    """The test loss split over training time: squared bias and variance, closed form and networks.

    The loss is the mean over the test points of E (f(x) − y(x))²
    (:func:`~ntk_helpers.ensembles.expected_loss`, :func:`~ntk_helpers.ensembles.ensemble_loss`)
    at every recorded step; ``t`` is marked by a vertical line. With ``view="nngp"`` the GP
    posterior's two terms are drawn as horizontal lines.
    """
    _check_sweep(sweep)
    seeds = sweep.seeds if seeds is None else check_positive_int("seeds", seeds)
    fig = plotting.figure("Test loss = bias² + variance", "steps t", "mean over the test points", log_y=True)
    _loss_traces(fig)
    _loss_update(fig, sweep, width, depth, bool(readout_only), seeds, check_choice("view", view, VIEWS),
                 sweep.steps if t is None else t)
    return fig


# --------------------------------------------------------------------------- the explorer


def explorer(sweep: EnsembleSweep, *, width: int, depth: int = 1, t=None, view: str = "ntk",
             readout_only: bool = False, seeds=(8, 16, 32, 64)) -> widgets.Explorer:
    """The explorer of notebook 05: an ensemble of trained networks against its Gaussian limits.

    Controls: width n, depth L, step t (∞: exact for the readout alone; for networks trained in
    every layer only the closed form is drawn), the reference (``"ntk"``: the closed-form Gaussian
    of this way of training at step t; ``"nngp"``: the Bayesian posterior with Σ), readout only,
    and how many of the S networks enter the statistics. Figure 0: the networks' mean ± 2 sd on
    the test inputs against the reference's, with the training points and the target. Figure 1:
    :func:`loss_figure` for the same settings. A (width, depth) not trained yet shows a message and
    the **Train this ensemble** button (offered within :data:`MAX_SECONDS` and :data:`MAX_BYTES`).
    """
    _check_sweep(sweep)
    counts = [check_positive_int("seeds", s) for s in seeds if s <= sweep.seeds] or [sweep.seeds]
    check_choice("view", view, VIEWS)
    u, zero = sweep.data[2][:, 0], np.zeros(sweep.data[2].shape[0])
    fig_f = widgets.live(plotting.figure("", "input u", "f(u)"))
    _band(fig_f, u, zero, zero, "networks", _NET, "networks")
    _band(fig_f, u, zero, zero, "reference", _REF, "reference", fill=False)
    _data_traces(fig_f, sweep.data)
    fig_l = widgets.live(plotting.figure("", "steps t", "mean over the test points", log_y=True))
    _loss_traces(fig_l)

    def update(v):
        n, L, ro, s, view, t = v["width"], v["depth"], v["readout"], v["seeds"], v["view"], v["t"]
        i, run = sweep.index(t), sweep.run(n, L, ro)
        ref = sweep.theory[L, ro] if view == "ntk" else sweep.posterior[L]
        ref_mean, ref_sd = (ref.mean[i], _sd(ref)[i]) if view == "ntk" else (ref.mean, _sd(ref))
        shown = i < len(run.steps)  # every layer trained: recorded up to sweep.steps, not at ∞
        net_mean, net_sd = ref_mean, ref_sd  # hidden when not shown
        if shown:
            mean, var = run.moments(s)
            net_mean, net_sd = mean[i], np.sqrt(var[i])
        for k, (m, sd, visible) in enumerate(((net_mean, net_sd, shown), (ref_mean, ref_sd, True))):
            for j, y in enumerate((m + 2 * sd, m - 2 * sd, m)):
                fig_f.data[3 * k + j].update(x=u, y=y, visible=visible)
        how = "readout-only" if ro else "fully trained"
        fig_f.data[1].name = f"{s} networks: mean ± 2 sd"
        fig_f.data[4].name = (f"∞ width, {how} ensemble at t = {_label(t)}: mean ± 2 sd" if view == "ntk"
                              else "∞ width, GP posterior (Σ): mean ± 2 sd")
        what = "readout only" if ro else "all layers"
        note = "" if shown else f" (networks recorded up to t = {sweep.steps})"
        fig_f.layout.title.text = f"n = {n}, L = {L}, {what}, t = {_label(t)}, {s} networks{note}"
        _loss_update(fig_l, sweep, n, L, ro, s, view, t)
        fig_l.layout.title.text = f"Test loss = bias² + variance: n = {n}, L = {L}, {what}"

    t = sweep.steps if t is None else t
    controls = {
        "width": widgets.log_slider("width n", list(sweep.widths), width),
        "depth": widgets.log_slider("depth L", list(sweep.depths), depth, labels=str),
        "t": widgets.log_slider("steps t", [float(s) for s in sweep.times], float(t), labels=_label),
        "view": ipywidgets.ToggleButtons(options=[("training view: NTK at t", "ntk"),
                                                  ("prior view: NNGP posterior", "nngp")],
                                         value=view, description="reference"),
        "readout": ipywidgets.Checkbox(value=bool(readout_only), description="train the readout layer only"),
        "seeds": widgets.log_slider("networks S", counts, counts[-1], labels=str),
    }
    ex = widgets.Explorer(controls, [fig_f, fig_l], update, title="Ensembles of trained networks")

    def train(v, progress):
        sweep.train(v["width"], v["depth"], progress=progress)

    def note(v):
        n, L = v["width"], v["depth"]
        if sweep.trained(n, L):
            return f"n = {n}, L = {L}: trained"
        if not sweep.affordable(n, L):
            return f"n = {n}, L = {L}: too costly for this explorer (about {sweep.seconds(n, L) / 60:.0f} min)"
        return f"n = {n}, L = {L}: press Train (about {sweep.seconds(n, L):.0f} s)"

    ex.action = widgets.Action(ex, "Train this ensemble", train, note=note,
                               enabled=lambda v: not sweep.trained(v["width"], v["depth"])
                               and sweep.affordable(v["width"], v["depth"]))
    return ex
