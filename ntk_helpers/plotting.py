"""One plotting style for the whole course, and the figures the notebooks reuse.

Every figure of the course goes through :func:`style` (or :func:`figure`, which creates an empty
styled figure), so fonts, margins, legends and colours agree from one notebook to the next.
The same quantity always has the same colour (:data:`COLORS`): the trained network, its
linearisation, the empirical NTK, the analytic (infinite-width) prediction, the training data
and the target function.
Sweeps over widths, depths or frequencies use the ordered palette of :func:`sequential`.

The ``plot_*`` builders are pure: arrays in, a :class:`plotly.graph_objects.Figure` out.
Everything live (``live`` turns a figure into a ``FigureWidget``; the message written over a
figure when training diverges; the explorers) is in :mod:`ntk_helpers.widgets`.

Introduced in notebook 00.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import plotly.colors
import plotly.graph_objects as go

from ._ticks import _log_nticks, _readable_log_ticks, readable_log_axes  # noqa: F401
from .stats import loglog_fit

__all__ = [
    "COLORS",
    "DASHES",
    "figure",
    "plot_heatmap",
    "plot_lines",
    "plot_loglog_fit",
    "plot_spectrum",
    "role_line",
    "sequential",
    "style",
]

#: Colour of each quantity, the same in every notebook (Okabe–Ito, readable with colour blindness).
COLORS: dict[str, str] = {
    "network": "#0072B2",  # blue: the trained finite-width network
    "linearized": "#E69F00",  # orange: its first-order Taylor expansion around θ₀
    "empirical": "#009E73",  # green: empirical (finite-width) NTK quantities
    "analytic": "#D55E00",  # vermillion: infinite-width, closed-form predictions
    "data": "#4D4D4D",  # dark grey: training points
    "target": "#000000",  # black: the target function
}

#: Line dash of each role, so figures stay readable in grey scale.
DASHES: dict[str, str] = {
    "network": "solid",
    "linearized": "dash",
    "empirical": "solid",
    "analytic": "dot",
    "data": "solid",
    "target": "dash",
}

FONT_FAMILY = "Helvetica Neue, Helvetica, Arial, sans-serif"
DEFAULT_HEIGHT = 400
#: Fits a JupyterLab notebook column and a rendered page; use ~460 for two figures side by side.
DEFAULT_WIDTH = 700
_LEGENDS = ("top", "right", "inside", None)
_TITLE_PX = 40  # the title's band at the top of a figure, in pixels
_PLOTLY_HEIGHT = 450  # plotly's height when none is given

_TEMPLATE = go.layout.Template(
    layout=go.Layout(
        font=dict(family=FONT_FAMILY, size=14, color="#222222"),
        title=dict(font=dict(size=17), x=0.0, xanchor="left", xref="paper"),
        paper_bgcolor="white",
        plot_bgcolor="white",
        colorway=list(COLORS.values()),
        hovermode="closest",
        xaxis=dict(
            showline=True, linecolor="#444444", ticks="outside", mirror=False,
            showgrid=True, gridcolor="#E8E8E8", zeroline=False, automargin=True,
            exponentformat="power",  # 10⁻⁶ rather than SI prefixes such as 1µ
        ),
        yaxis=dict(
            showline=True, linecolor="#444444", ticks="outside", mirror=False,
            showgrid=True, gridcolor="#E8E8E8", zeroline=False, automargin=True,
            exponentformat="power",  # 10⁻⁶ rather than SI prefixes such as 1µ
        ),
        legend=dict(bgcolor="rgba(255,255,255,0.8)", font=dict(size=13)),
        colorscale=dict(sequential="Viridis", diverging="RdBu_r"),
    )
)


def _check_legend(legend):
    if legend not in _LEGENDS:
        raise ValueError(f"legend must be one of {_LEGENDS}, got {legend!r}")


def style(
    fig: go.Figure,
    title: str | None = None,
    xlabel: str | None = None,
    ylabel: str | None = None,
    *,
    legend: str | None = "top",
    height: int | None = DEFAULT_HEIGHT,
    width: int | None = DEFAULT_WIDTH,
) -> go.Figure:
    """Applies the course style to ``fig`` in place and returns it.

    Args:
      fig: a ``go.Figure`` or ``go.FigureWidget``.
      title: figure title (left-aligned); None keeps the current one.
      xlabel, ylabel: axis titles of the first subplot; None keeps the current ones.
      legend: ``'top'`` (horizontal rows between the title and the plot, the default: the plot
        moves down as far as the legend needs), ``'right'`` (a column outside the plot),
        ``'inside'`` (top-right corner inside the plot) or None (hidden).
      height, width: size in pixels (a figure widget cannot measure its column when it is
        first drawn, so a fixed width is the default); ``width=None`` lets plotly size it.

    Returns:
      The same figure.

    Introduced in notebook 00.

    Example:
      >>> fig = style(go.Figure(go.Scatter(y=[1, 2])), "A title", "t", "loss")
      >>> fig.layout.xaxis.title.text, fig.layout.height
      ('t', 400)
    """
    if not isinstance(fig, go.Figure | go.FigureWidget):
        raise TypeError(f"fig must be a plotly Figure or FigureWidget, got {type(fig).__name__}")
    _check_legend(legend)
    for name, size in (("height", height), ("width", width)):
        if size is not None and (not isinstance(size, int | np.integer) or size < 100):
            raise ValueError(f"{name} must be an integer number of pixels ≥ 100 or None, got {size!r}")
    has_title = bool(title) or bool(fig.layout.title.text)
    # A top legend sits below the title's place, which is kept even without a title (an explorer
    # often sets it later), and pushes the plot down by its own height (plotly's automargin).
    top = _TITLE_PX + 8 if legend == "top" else 30 + (35 if has_title else 0)
    fig.update_layout(
        template=_TEMPLATE,
        height=height,
        width=width,
        autosize=width is None,
        margin=dict(l=60, r=20, t=top, b=55),
        showlegend=legend is not None,
    )
    if title is not None:
        fig.update_layout(title_text=title)
    # placed even without a title: one set later lands at the top, not in the middle
    fig.update_layout(title=dict(y=1.0, yref="container", yanchor="top", pad=dict(t=12)))
    if legend == "top":
        fig.update_layout(legend=dict(
            orientation="h", x=0.0, xanchor="left", yref="container", yanchor="top",
            y=1.0 - _TITLE_PX / (height or _PLOTLY_HEIGHT)))
    elif legend == "right":
        fig.update_layout(legend=dict(orientation="v", x=1.02, xanchor="left", y=1.0, yanchor="top"))
    elif legend == "inside":
        fig.update_layout(legend=dict(orientation="v", x=0.99, xanchor="right", y=0.99, yanchor="top"))
    if xlabel is not None:
        fig.update_layout(xaxis_title_text=xlabel)
    if ylabel is not None:
        fig.update_layout(yaxis_title_text=ylabel)
    return fig


def figure(
    title: str | None = None,
    xlabel: str | None = None,
    ylabel: str | None = None,
    *,
    log_x: bool = False,
    log_y: bool = False,
    legend: str | None = "top",
    height: int | None = DEFAULT_HEIGHT,
    width: int | None = DEFAULT_WIDTH,
) -> go.Figure:
    """An empty ``go.Figure`` in the course style (see :func:`style` for the arguments).

    Example:
      >>> fig = figure("Loss", "step t", "½‖f − y‖²", log_y=True)
      >>> fig.layout.yaxis.type
      'log'
    """
    fig = style(go.Figure(), title, xlabel, ylabel, legend=legend, height=height, width=width)
    if log_x:
        fig.update_xaxes(type="log")
    if log_y:
        fig.update_yaxes(type="log")
    return fig


def sequential(n: int, scale: str = "Viridis") -> list[str]:
    """``n`` ordered colours for a sweep (widths, depths, frequencies), dark to light.

    The lightest end of the scale is left out so every colour stays visible on white.

    Example:
      >>> len(sequential(4)), sequential(1) == sequential(1)
      (4, True)
    """
    if not isinstance(n, int | np.integer) or isinstance(n, bool) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    points = [0.45] if n == 1 else list(np.linspace(0.0, 0.85, n))
    return plotly.colors.sample_colorscale(scale, points)


def role_line(role: str, **extra) -> dict:
    """Scatter keyword arguments (name, line colour and dash) for a named role of :data:`COLORS`.

    Example:
      >>> role_line("analytic")["line"]["dash"]
      'dot'
    """
    if role not in COLORS:
        raise ValueError(f"role must be one of {tuple(COLORS)}, got {role!r}")
    out = dict(name=role, line=dict(color=COLORS[role], dash=DASHES[role], width=2.5))
    out.update(extra)
    return out


def _as_1d(name, values):
    try:
        arr = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be an array of numbers") from None
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D array, got shape {arr.shape}")
    return arr


def plot_lines(
    x,
    ys: Mapping[str, object],
    *,
    title: str | None = None,
    xlabel: str | None = None,
    ylabel: str | None = None,
    colors: Mapping[str, str] | Sequence[str] | None = None,
    mode: str = "lines",
    log_x: bool = False,
    log_y: bool = False,
    legend: str | None = "top",
    height: int | None = DEFAULT_HEIGHT,
    width: int | None = DEFAULT_WIDTH,
) -> go.Figure:
    """One line per entry of ``ys`` against the shared ``x``.

    Args:
      x: (T,) abscissa.
      ys: label → (T,) values; labels that are roles of :data:`COLORS` get that role's colour and
        dash, the others the :func:`sequential` palette in order.
      colors: label → colour, or a list in the order of ``ys``; overrides the defaults.
      mode: plotly scatter mode, e.g. ``'lines'`` or ``'lines+markers'``.

    Example:
      >>> fig = plot_lines([0, 1, 2], {"network": [3, 2, 1], "analytic": [3, 1.9, 1.1]})
      >>> [t.name for t in fig.data], fig.data[1].line.color == COLORS["analytic"]
      (['network', 'analytic'], True)
    """
    xs = _as_1d("x", x)
    if not isinstance(ys, Mapping) or not ys:
        raise ValueError("ys must be a non-empty dict label → array")
    labels = list(ys)
    if colors is None:
        palette = sequential(len(labels))
        colors = {k: COLORS.get(k, palette[i]) for i, k in enumerate(labels)}
    elif not isinstance(colors, Mapping):
        colors = list(colors)
        if len(colors) != len(labels):
            raise ValueError(f"colors must have {len(labels)} entries, got {len(colors)}")
        colors = dict(zip(labels, colors, strict=True))
    fig = figure(title, xlabel, ylabel, log_x=log_x, log_y=log_y, legend=legend, height=height,
                 width=width)
    for label in labels:
        y = _as_1d(f"ys[{label!r}]", ys[label])
        if y.shape != xs.shape:
            raise ValueError(f"ys[{label!r}] must have shape {xs.shape} like x, got {y.shape}")
        line = dict(color=colors.get(label), dash=DASHES.get(label, "solid"), width=2.5)
        fig.add_trace(go.Scatter(x=xs, y=y, name=str(label), mode=mode, line=line))
    if log_x:
        _readable_log_ticks(fig, "x", [xs])
    if log_y:
        _readable_log_ticks(fig, "y", [t.y for t in fig.data])
    return fig


def _positive_pair(x, y):
    xs, ys = _as_1d("x", x), _as_1d("y", y)
    if xs.shape != ys.shape:
        raise ValueError(f"x and y must have the same shape, got {xs.shape} and {ys.shape}")
    if xs.size < 2:
        raise ValueError("x must hold at least 2 points for a fit")
    for name, arr in (("x", xs), ("y", ys)):
        if not np.all(np.isfinite(arr) & (arr > 0)):
            raise ValueError(f"{name} must be finite and positive on a log-log plot")
    return xs, ys


def plot_loglog_fit(
    x,
    y,
    slope: float | None = None,
    intercept: float | None = None,
    *,
    label: str = "measured",
    title: str | None = None,
    xlabel: str | None = None,
    ylabel: str | None = None,
    color: str = COLORS["empirical"],
    height: int | None = DEFAULT_HEIGHT,
    width: int | None = DEFAULT_WIDTH,
) -> go.Figure:
    """Data on log-log axes with the power law exp(intercept)·x^slope; the slope is in the legend.

    Without ``slope`` and ``intercept`` the line is the least-squares fit
    :func:`ntk_helpers.stats.loglog_fit`.

    Example:
      >>> fig = plot_loglog_fit([16, 64, 256], [0.5, 0.25, 0.125])
      >>> fig.data[1].name
      'fit: slope −0.50'
    """
    xs, ys = _positive_pair(x, y)
    if (slope is None) != (intercept is None):
        raise ValueError("slope and intercept must be given together (or both left out)")
    if slope is None:
        slope, intercept = loglog_fit(xs, ys)
    for name, v in (("slope", slope), ("intercept", intercept)):
        if not np.isfinite(v):
            raise ValueError(f"{name} must be finite, got {v!r}")
    grid = np.geomspace(xs.min(), xs.max(), 50)
    fig = figure(title, xlabel, ylabel, log_x=True, log_y=True, height=height, width=width)
    fig.add_trace(go.Scatter(x=xs, y=ys, mode="markers", name=label,
                             marker=dict(color=color, size=9)))
    fig.add_trace(go.Scatter(
        x=grid, y=np.exp(intercept) * grid**slope, mode="lines",
        name=f"fit: slope {slope:.2f}".replace("-", "−"),
        line=dict(color=COLORS["target"], dash="dash", width=2),
    ))
    _readable_log_ticks(fig, "x", [xs])
    _readable_log_ticks(fig, "y", [t.y for t in fig.data])
    return fig


def plot_spectrum(
    eigs,
    *,
    x=None,
    title: str | None = "Kernel spectrum",
    xlabel: str | None = "index i",
    ylabel: str | None = "eigenvalue λᵢ",
    colors: Mapping[str, str] | None = None,
    rel_floor: float = 1e-12,
    height: int | None = DEFAULT_HEIGHT,
    width: int | None = DEFAULT_WIDTH,
) -> go.Figure:
    """Eigenvalues on a log y-axis, one trace per spectrum.

    Args:
      eigs: (N,) eigenvalues, or label → (N,) eigenvalues to compare several spectra.
      x: (N,) abscissa (e.g. frequencies); defaults to the rank 1..N.
      rel_floor: eigenvalues below ``rel_floor × max`` (zero up to round-off) cannot be drawn on a
        log axis and are left out of the trace (their count is in the hover name).

    Example:
      >>> fig = plot_spectrum(np.array([4.0, 1.0, 0.25, 0.0]))
      >>> fig.layout.yaxis.type, fig.data[0].y.tolist()
      ('log', [4.0, 1.0, 0.25])
    """
    spectra = dict(eigs) if isinstance(eigs, Mapping) else {"eigenvalues": eigs}
    if not spectra:
        raise ValueError("eigs must not be empty")
    if not rel_floor >= 0:
        raise ValueError(f"rel_floor must be ≥ 0, got {rel_floor!r}")
    palette = sequential(len(spectra))
    fig = figure(title, xlabel, ylabel, log_y=True, legend="top" if len(spectra) > 1 else None,
                 height=height, width=width)
    for i, (label, values) in enumerate(spectra.items()):
        lam = _as_1d(f"eigs[{label!r}]" if isinstance(eigs, Mapping) else "eigs", values)
        if not np.all(np.isfinite(lam)):
            raise ValueError("eigs must be finite")
        xs = np.arange(1, lam.size + 1, dtype=float) if x is None else _as_1d("x", x)
        if xs.shape != lam.shape:
            raise ValueError(f"x must have shape {lam.shape}, got {xs.shape}")
        keep = lam > rel_floor * max(lam.max(), 0.0)
        dropped = int(lam.size - keep.sum())
        name = label if not dropped else f"{label} ({dropped} ≈ 0 not shown)"
        color = (colors or {}).get(label, COLORS.get(label, palette[i]))
        fig.add_trace(go.Scatter(x=xs[keep], y=lam[keep], mode="lines+markers", name=name,
                                 line=dict(color=color, width=2), marker=dict(size=6)))
    _readable_log_ticks(fig, "y", [t.y for t in fig.data])
    return fig


def plot_heatmap(
    k,
    *,
    x=None,
    y=None,
    title: str | None = None,
    xlabel: str | None = None,
    ylabel: str | None = None,
    colorscale: str | None = None,
    colorbar_title: str | None = None,
    height: int | None = DEFAULT_HEIGHT,
    width: int | None = 520,
) -> go.Figure:
    """A matrix (e.g. a kernel K[i, j]) as a heatmap, row 0 at the top, square cells.

    A matrix with both signs gets a diverging scale centred at 0, otherwise Viridis.

    Example:
      >>> fig = plot_heatmap(np.eye(3))
      >>> fig.data[0].type, fig.layout.yaxis.autorange
      ('heatmap', 'reversed')
    """
    z = np.asarray(k, dtype=float)
    if z.ndim != 2 or z.size == 0:
        raise ValueError(f"k must be a non-empty 2-D array, got shape {z.shape}")
    if not np.all(np.isfinite(z)):
        raise ValueError("k must be finite")
    xs = np.arange(z.shape[1]) if x is None else _as_1d("x", x)
    ys = np.arange(z.shape[0]) if y is None else _as_1d("y", y)
    if xs.size != z.shape[1] or ys.size != z.shape[0]:
        raise ValueError(f"x and y must have lengths {z.shape[1]} and {z.shape[0]}")
    signed = z.min() < 0 < z.max()
    heat = go.Heatmap(
        z=z, x=xs, y=ys,
        colorscale=colorscale or ("RdBu_r" if signed else "Viridis"),
        zmid=0.0 if signed else None,
        colorbar=dict(title=dict(text=colorbar_title or "", side="right"), thickness=14),
    )
    fig = figure(title, xlabel, ylabel, legend=None, height=height, width=width)
    fig.add_trace(heat)
    fig.update_yaxes(autorange="reversed", scaleanchor="x", constrain="domain", showgrid=False)
    fig.update_xaxes(constrain="domain", showgrid=False)
    return fig
