"""Readable tick labels on log axes (re-exported by :mod:`ntk_helpers.plotting`)."""

from __future__ import annotations

import base64
import re

import numpy as np
import plotly.graph_objects as go


def _readable_log_ticks(fig, axis: str, values) -> None:
    """Fewer ticks on log axis ``axis`` ('x' or 'y') drawn over ``values`` (see :func:`readable_log_axes`)."""
    nticks = _log_nticks(values)
    if nticks is not None:
        fig.update_layout({f"{axis}axis": dict(nticks=nticks)})


def _numbers(a) -> np.ndarray:
    """Trace data as floats: arrays, lists, or plotly's base64 typed arrays ({"dtype", "bdata"})."""
    if isinstance(a, dict) and "bdata" in a:
        out = np.frombuffer(base64.b64decode(a["bdata"]), dtype=np.dtype(a["dtype"]))
        return out.astype(float)
    try:
        return np.ravel(np.asarray(a, dtype=float))
    except (TypeError, ValueError):  # categories, dates: not a log axis's business
        return np.zeros(0)


def _log_nticks(values) -> int | None:
    v = np.concatenate([_numbers(a) for a in values if a is not None] or [np.zeros(0)])
    v = v[np.isfinite(v) & (v > 0)]
    if not v.size:
        return None
    span = float(np.log10(v.max() / v.min()))
    if span >= 2:  # two decades or more: label the decades only
        return int(min(np.ceil(span) + 1, 10))
    return int(np.clip(span / 0.35, 2, 8))


def readable_log_axes(fig):
    """Fewer tick labels on every log axis of ``fig`` (a Figure or a figure dict), from its data.

    Plotly labels a log axis at every digit ("2 3 4 … 9", overlapping) unless told fewer ticks:
    over two decades or more only the decades are labelled, over less at most one tick per 0.35
    decade (1, 2, 5). Axes with ticks set
    explicitly (``tickvals``, ``dtick`` or ``nticks``) are left alone. Returns ``fig``. The course's
    live figures get this after every update (:class:`ntk_helpers.widgets.Explorer`), its static
    figures when they are displayed (the renderer that :func:`ntk_helpers.setup_notebook` installs).

    Example:
      >>> import plotly.graph_objects as go
      >>> fig = go.Figure(go.Scatter(x=[1, 2, 3], y=[1.0, 0.3, 0.1]), layout=dict(yaxis_type="log"))
      >>> readable_log_axes(fig).layout.yaxis.nticks
      2
    """
    if isinstance(fig, dict):  # a figure's JSON (arrays possibly base64-encoded): work on a Figure
        decoded = readable_log_axes(go.Figure(fig, skip_invalid=True))
        for name, axis in fig.setdefault("layout", {}).items():
            if re.fullmatch(r"[xy]axis\d*", name) and isinstance(axis, dict) and decoded.layout[name].nticks:
                axis.setdefault("nticks", decoded.layout[name].nticks)
        return fig
    layout = fig.layout
    for name in [k for k in layout.to_plotly_json() if re.fullmatch(r"[xy]axis\d*", k)]:
        axis = layout[name]
        if axis.type != "log" or any(getattr(axis, k) is not None for k in ("tickvals", "dtick", "nticks")):
            continue
        ref = name[0] + name[5:]  # "yaxis2" → "y2"
        values = [getattr(t, name[0], None) for t in fig.data if (getattr(t, f"{name[0]}axis", None) or name[0]) == ref]
        nticks = _log_nticks(values)
        if nticks is not None:
            axis.nticks = nticks
    return fig
