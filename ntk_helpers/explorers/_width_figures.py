"""Notebook 03's figure builders (re-exported by :mod:`ntk_helpers.explorers.width`)."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from .. import plotting, stats
from ..errors import check_array

PARAMETERIZATIONS = ("ntk", "standard")


def log_ticks(fig: go.Figure, widths=None, values=None) -> go.Figure:
    """Readable log axes: x ticks at the ``widths``, y ticks at 1–2–5 × 10ᵏ covering ``values``.

    Plotly labels a log axis spanning about a decade at every digit ("1 0.9 0.8 0.7 …"); this
    picks 3 to 9 ticks instead. Returns ``fig``.

    Example:
      >>> fig = log_ticks(plotting.figure(log_x=True, log_y=True), [16, 64], [0.03, 0.9])
      >>> fig.layout.xaxis.tickvals, fig.layout.yaxis.tickvals
      ((16, 64), (0.02, 0.05, 0.1, 0.2, 0.5, 1.0))
    """
    if widths is not None:
        fig.update_xaxes(tickvals=list(widths), ticktext=[str(n) for n in widths])
    if values is not None:
        v = np.concatenate([np.ravel(np.asarray(a, dtype=np.float64)) for a in values])
        if not np.any(np.isfinite(v) & (v > 0)):
            raise ValueError("values must hold at least one finite positive number")
        lo, hi = v[np.isfinite(v) & (v > 0)].min(), v[np.isfinite(v)].max()
        decades = range(int(np.floor(np.log10(lo))) - 1, int(np.ceil(np.log10(hi))) + 1)
        for mantissas in ((1,), (1, 2, 5), (1, 2, 3, 5, 7)):
            ticks = [m * 10.0**k for k in decades for m in mantissas if lo / 1.6 <= m * 10.0**k <= hi * 1.6]
            if len(ticks) >= 3:
                break
        fig.update_yaxes(tickvals=[float(f"{t:.3g}") for t in ticks[:: 1 + len(ticks) // 9]], tickformat="~g")
    return fig


def loglog_figure(series, *, title: str, ylabel: str, fit_widths=None) -> go.Figure:
    """Measured values against the width on log-log axes, each with its fitted power law.

    Args:
      series: (label, widths, values) triples, widths and values of equal length (W,), values > 0.
      title, ylabel: the figure's title and y-axis label.
      fit_widths: the widths that enter every fit (default: all); the dashed fitted line is drawn
        over those widths only, its slope in the legend.

    Returns:
      ``go.Figure``: per series a marker trace (``label``) and its fit (``label: slope s``).

    Example:
      >>> fig = loglog_figure([("K", [64, 256], [0.1, 0.05])], title="t", ylabel="y")
      >>> [trace.name for trace in fig.data]
      ['K', 'K: slope −0.50']
    """
    if not series:
        raise ValueError("series must hold at least one (label, widths, values) triple")
    fig = plotting.figure(title, "width n", ylabel, log_x=True, log_y=True, legend="right")
    colors, everything = plotting.sequential(len(series)), []
    for (label, widths, values), color in zip(series, colors):
        widths, values = list(widths), np.asarray(check_array("values", values, ndim=1, dim=len(widths)), dtype=float)
        keep = [i for i, n in enumerate(widths) if fit_widths is None or n in fit_widths]
        fit, fit_x = stats.loglog_fit([widths[i] for i in keep], values[keep]), [widths[i] for i in keep]
        fig.add_scatter(x=widths, y=values, mode="markers", name=label, marker=dict(color=color, size=9))
        fig.add_scatter(x=fit_x, y=fit(fit_x), mode="lines", line=dict(color=color, dash="dash"),
                        name=f"{label}: slope {fit.slope:.2f}".replace("-", "−"))
        everything.append(values)
    return log_ticks(fig, sorted({n for _, widths, _ in series for n in widths}), everything)


def jacot_figure(sweep, angles, theta_row, *, reference: int, widths=(32, 512), eta: float = 0.5) -> go.Figure:
    """Jacot et al.'s Figure 1 from a :class:`TrainSweep`: K_s(x₀, x) of every network of two widths.

    One colour per width, dashed at t = 0 and solid at the end; the analytic ``theta_row`` (M,)
    thick and dotted, against the ``angles`` (M,) of the evaluation inputs (x₀ = index ``reference``).
    """
    m = len(theta_row)
    fig = plotting.figure(f"K(x₀, x) of narrow and wide networks, L = {sweep.network.depth}", "angle γ of x",
                          "K(x₀, x)", legend="right")
    for n, color in zip(widths, (plotting.COLORS["empirical"], plotting.COLORS["network"])):
        for record, dash, label in [(0, "dash", f"n = {n}, t = 0"), (-1, "solid", f"n = {n}, t = {sweep.steps[-1]}")]:
            for s, row in enumerate(sweep[n, eta].kernel[record][:, reference, :m]):  # K_s(x₀, x) of seed s
                fig.add_scatter(x=angles, y=row, mode="lines", name=label, legendgroup=label, showlegend=s == 0,
                                line=dict(color=color, dash=dash, width=1.5))
    fig.add_scatter(x=angles, y=theta_row, mode="lines", **plotting.role_line("analytic", name="analytic Θ"))
    fig.update_traces(line_width=4, selector=dict(name="analytic Θ"))
    return _circle_axis(fig)


def _circle_axis(fig):
    return fig.update_xaxes(tickvals=np.pi * np.array([-1, -0.5, 0, 0.5, 1]),
                            ticktext=["−π", "−π/2", "0", "π/2", "π"])
