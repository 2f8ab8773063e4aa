"""Notebook 10's figures and explorer: where the kernel picture stops.

The numerics are in :mod:`ntk_helpers.regimes`. :func:`regime_explorer` shows one network (one
hidden layer) trained from the centred, α-scaled start for any parameterization (standard, NTK,
μP), width n, output scale α, learning rate η/η_max (η_max = 2/λ_max(α²K₀) of the network's own
kernel at t = 0) and step t: its loss against the fixed-kernel model's, and how far its kernel and
its features have moved.

Everything the controls can reach is trained when the explorer is built: one call of
:func:`ntk_helpers.regimes.train` per (parameterization, width), all α and η side by side, so
there are three compilations (one per width) and no slider move compiles. How it stays fast:
``docs/developers.md``, "Notebook 10". Introduced in notebook 10.
"""

from __future__ import annotations

import ipywidgets
import numpy as np
import plotly.graph_objects as go

from .. import plotting, widgets
from .. import regimes as rg
from ..data import regression_1d
from ..errors import DivergenceError, check_choice

__all__ = ["PHASE_COLORS", "correction_figure", "depth_figure", "phase_figure", "regime_explorer", "rich_figure"]

PHASE_COLORS = {"lazy": plotting.COLORS["empirical"], "catapult": plotting.COLORS["linearized"],
                "divergent": plotting.COLORS["analytic"]}
_LABELS = {"standard": "standard", "ntk": "NTK", "mup": "μP"}


def phase_figure(maps: dict) -> go.Figure:
    """The largest loss reached (relative to the start) against η/η_max, one line per width, phases as colours.

    Args:
      maps: width → :class:`ntk_helpers.regimes.PhaseMap`.
    """
    fig = plotting.figure("Lazy, catapult, divergent: the peak of the loss against η",
                          "η / η_max  (η_max = 2/λ_max(K₀) of each network's kernel at t = 0)",
                          "max_t ℒ_t / ℒ_0", log_x=True, log_y=True, legend="top", height=460)
    for i, (n, pm) in enumerate(maps.items()):
        ratio = pm.run.peak[:, -1] / pm.run.loss[:, 0]
        fig.add_scatter(x=pm.fractions, y=ratio, mode="lines+markers", name=f"n = {n}",
                        line=dict(color=plotting.sequential(len(maps))[i], dash=["solid", "dash"][i % 2]),
                        marker=dict(size=11, color=[PHASE_COLORS[p] for p in pm.phases]))
    for phase, color in PHASE_COLORS.items():  # legend entries for the marker colours
        fig.add_scatter(x=[None], y=[None], mode="markers", name=phase, marker=dict(size=11, color=color))
    for x, text in ((1, "2/λ₀"), (2, "4/λ₀")):
        fig.add_vline(x=x, line=dict(color="#888888", dash="dot"), annotation_text=text)
    return fig


def depth_figure(widths, depths, fluctuation) -> go.Figure:
    """Var K(x,x) / (E K(x,x))² against L/n, one line per width (log-log)."""
    fig = plotting.figure("At fixed width, depth makes the kernel random", "L / n", "Var K(x,x) / (E K(x,x))²",
                          log_x=True, log_y=True)
    for i, n in enumerate(widths):
        fig.add_scatter(x=np.asarray(depths) / n, y=fluctuation[i], mode="lines+markers", name=f"n = {n}",
                        line=dict(color=plotting.sequential(len(widths))[i]))
    return fig


def correction_figure(sweeps: dict) -> go.Figure:
    """Network minus its own linearisation, and minus the infinite-width prediction, against n (log-log).

    Args:
      sweeps: a label (the activation) → :class:`ntk_helpers.finite_width.WidthSweep`; each
        deviation is the root mean square over seeds and test points.
    """
    fig = plotting.figure("Finite width: how far the trained network is from the kernel predictions", "width n",
                          "rms deviation on the test grid at step t", log_x=True, log_y=True, legend="top", height=480)
    anchors = {}
    for i, (label, sw) in enumerate(sweeps.items()):
        for reference, name, role in (("linearized", "its own linearisation", "linearized"),
                                      ("infinite", "the infinite-width prediction", "analytic")):
            rms = np.sqrt(np.mean(sw.deviation(reference) ** 2, axis=1))
            anchors.setdefault(reference, (np.asarray(sw.widths, np.float64), rms[-1]))
            fig.add_scatter(x=sw.widths, y=rms, mode="lines+markers", name=f"{label}: network − {name}",
                            line=dict(color=plotting.COLORS[role], dash=["solid", "dash"][i % 2], width=2.5),
                            marker=dict(size=9, symbol=["circle", "square"][i % 2]))
    for reference, power, text in (("linearized", 1.0, "1/n"), ("infinite", 0.5, "n^(−1/2)")):
        widths, end = anchors[reference]  # a guide through the first sweep's widest network
        fig.add_scatter(x=widths, y=end * (widths / widths[-1]) ** -power, mode="lines", name=f"guide ∝ {text}",
                        line=dict(color="#888888", dash="dot", width=1.5))
    return fig


def rich_figure(result) -> go.Figure:
    """Test error against t: the network at each α, its own initial kernel K₀ and the analytic Θ (means over seeds),
    and Θ's error at t = ∞ as a level line.

    Args:
      result: a :class:`ntk_helpers.finite_width.RichComparison`.
    """
    fig = plotting.figure("A single-index target: the network against its own initial kernel", "step t",
                          "test mean squared error", legend="top", height=460)
    for j, alpha in enumerate(result.alphas):  # the smallest α (the richest network) solid
        dash = ("solid", "dashdot", "longdashdot")[(len(result.alphas) - 1 - j) % 3]
        fig.add_scatter(x=result.steps, y=result.network[j].mean(axis=0), mode="lines", name=f"network, α = {alpha:g}",
                        line=dict(color=plotting.COLORS["network"], dash=dash, width=2.5))
    fig.add_scatter(x=result.steps, y=result.own_kernel.mean(axis=0), mode="lines",
                    **plotting.role_line("linearized", name="its own initial kernel K₀ (linearisation)"))
    fig.add_scatter(x=result.steps, y=result.infinite, mode="lines",
                    **plotting.role_line("analytic", name="infinite-width kernel Θ"))
    fig.add_scatter(x=result.steps[[0, -1]], y=[result.infinite_limit] * 2, mode="lines", name="Θ trained to t = ∞",
                    line=dict(color=plotting.COLORS["analytic"], dash="dot", width=1.2))
    return fig


class _Runs:
    """Every (parameterization, width) trained once, all α and η/η_max side by side."""

    def __init__(self, data, widths, alphas, fractions, steps, every):
        self.alphas, self.fractions, self.y = tuple(alphas), tuple(fractions), data.y_train
        a, f = np.meshgrid(alphas, fractions, indexing="ij")
        self.runs, self.k0 = {}, {}
        for p in rg.PARAMETERIZATIONS:
            for n in widths:
                w, m = rg.init(p, n, 1, data.x_train.shape[1])
                k0 = rg.kernel(w, m, data.x_train)
                etas = f.ravel() * 2 / (a.ravel() ** 2 * np.linalg.eigvalsh(k0)[-1])
                self.runs[p, n] = rg.train(w, m, data.x_train, data.y_train, etas=etas, alphas=a.ravel(), steps=steps,
                                           record_every=every, with_kernel=True)
                self.k0[p, n] = k0

    def case(self, p, n, alpha, fraction):
        """(run index, loss, fixed-kernel loss, kernel change, feature change, alignment), each over t."""
        i = self.alphas.index(alpha) * len(self.fractions) + self.fractions.index(fraction)
        run = self.runs[p, n]
        k0 = self.k0[p, n]
        linear = rg.linear_loss(k0, self.y, fraction * 2 / np.linalg.eigvalsh(k0)[-1], run.steps)
        kernels = run.kernels[i]
        return (run, run.loss[i], linear, rg.kernel_change(kernels), run.features[i, :, 0], rg.alignment(kernels, self.y))


def regime_explorer(data=None, *, widths=(64, 256, 1024), alphas=(0.1, 0.3, 1.0, 3.0, 10.0),
                    fractions=(0.25, 0.5, 1.0, 1.5, 3.0), steps: int = 100, record_every: int = 5,
                    parameterization: str = "ntk", width: int = 1024, alpha: float = 1.0,
                    eta_fraction: float = 0.5) -> widgets.Explorer:
    """The regime explorer: the loss against t (figure 0) and how far the kernel and features moved (figure 1).

    Args:
      data: a :class:`~ntk_helpers.data.Dataset` (default ``regression_1d(16, seed=4)``).
      widths, alphas, fractions: the values of the width, α and η/η_max sliders.
      steps, record_every: the length of every run and the records (t moves by ``record_every``).
      parameterization, width, alpha, eta_fraction: the initial values of the controls.
    """
    data = regression_1d(16, seed=4, n_grid=41) if data is None else data
    check_choice("parameterization", parameterization, rg.PARAMETERIZATIONS)
    for name, value, options in (("width", width, widths), ("alpha", alpha, alphas), ("eta_fraction", eta_fraction, fractions)):
        if value not in options:
            raise ValueError(f"{name} must be one of {tuple(options)}, got {value!r}")
    runs = _Runs(data, widths, alphas, fractions, steps, record_every)
    times = np.arange(0, steps + 1, record_every)
    ones = np.ones(len(times))
    loss_fig = widgets.live(plotting.figure("", "step t", "ℒ = ½‖f_α − y‖²", log_y=True, legend="top"))
    loss_fig.add_scatter(x=times, y=ones, mode="lines", **plotting.role_line("network"))
    loss_fig.add_scatter(x=times, y=ones, mode="lines", **plotting.role_line("linearized", name="fixed kernel K₀"))
    loss_fig.add_scatter(x=[0], y=[1], mode="markers", name="step t", marker=dict(color="black", size=10))
    move_fig = widgets.live(plotting.figure("", "step t", "change since t = 0", log_y=True, legend="top"))
    move_fig.add_scatter(x=times, y=ones, mode="lines", name="kernel ‖K_t − K₀‖/‖K₀‖",
                         line=dict(color=plotting.COLORS["empirical"], width=2.5))
    move_fig.add_scatter(x=times, y=ones, mode="lines", name="features: rms of z(θ_t) − z(θ₀)",
                         line=dict(color=plotting.COLORS["network"], width=2.5, dash="dash"))

    def update(v):
        run, loss, linear, dk, dz, align = runs.case(v["parameterization"], v["width"], v["alpha"], v["eta"])
        i = int(np.searchsorted(run.steps, v["t"]))
        if not (np.all(np.isfinite(loss[: i + 1])) and np.all(np.isfinite(dk[: i + 1])) and np.isfinite(align[i])):
            raise DivergenceError(f"the network diverges before step {v['t']} at η/η_max = {v['eta']:g}")
        fine = np.isfinite(linear) & (linear < 1e6)
        loss_fig.data[0].update(x=run.steps, y=loss)
        loss_fig.data[1].update(x=run.steps[fine], y=linear[fine])
        loss_fig.data[2].update(x=[run.steps[i]], y=[loss[i]])
        loss_fig.layout.title.text = (f"{_LABELS[v['parameterization']]}, n = {v['width']}, α = {v['alpha']:g}, "
                                      f"η/η_max = {v['eta']:g}: ℒ_t = {loss[i]:.3g} at t = {run.steps[i]}")
        ok = np.isfinite(dk)
        move_fig.data[0].update(x=run.steps[ok][1:], y=dk[ok][1:])
        move_fig.data[1].update(x=run.steps[ok][1:], y=dz[ok][1:])
        move_fig.layout.title.text = (f"at t = {run.steps[i]}: kernel moved {dk[i]:.2g}, features {dz[i]:.2g}; "
                                      f"alignment {align[0]:.3f} → {align[i]:.3f}")

    controls = {
        "parameterization": ipywidgets.Dropdown(options=[(_LABELS[p], p) for p in rg.PARAMETERIZATIONS],
                                                value=parameterization, description="parameterization"),
        "width": widgets.log_slider("width n", list(widths), width, labels=str),
        "alpha": widgets.log_slider("output scale α", list(alphas), alpha, labels=lambda a: f"{a:g}"),
        "eta": widgets.log_slider("η / η_max", list(fractions), eta_fraction, labels=lambda f: f"{f:g}"),
        "t": ipywidgets.IntSlider(value=steps, min=0, max=steps, step=record_every, description="step t"),
    }
    ex = widgets.Explorer(controls, [loss_fig, move_fig], update, title="Lazy or not: scale, width, parameterization, η")
    ex.runs = runs
    return ex
