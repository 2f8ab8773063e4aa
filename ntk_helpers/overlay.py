"""Figures for live use: a ``go.FigureWidget`` copy, and a plain message laid over a figure.

An explorer that cannot show a setting (training diverges, bad input) keeps its last good figure
and lays a message over it; the next good update removes it. Used by :mod:`ntk_helpers.widgets`.
"""

from __future__ import annotations

import html
import textwrap

import plotly.graph_objects as go

from . import _plotly_fix
from .plotting import DEFAULT_WIDTH

MESSAGE_NAME = "ntk-message"
_VEIL_NAME = "ntk-message-veil"
_MESSAGE_FONT = 18


def live(fig: go.Figure) -> go.FigureWidget:
    """A ``go.FigureWidget`` copy of ``fig`` that an :class:`Explorer` can update in place.

    Also installs the guards around two plotly FigureWidget bugs (``ntk_helpers._plotly_fix``).

    Example:
      >>> from ntk_helpers.plotting import plot_lines
      >>> type(live(plot_lines([0, 1], {"a": [1, 2]}))).__name__
      'FigureWidget'
    """
    if not isinstance(fig, go.Figure | go.FigureWidget):
        raise TypeError(f"fig must be a plotly Figure, got {type(fig).__name__}")
    _plotly_fix.apply()
    return go.FigureWidget(fig)


def _messages_removed(items):
    return tuple(item for item in items if item.name not in (MESSAGE_NAME, _VEIL_NAME))


def _wrapped(text: str, width_px: float) -> str:
    """Plain text → plotly annotation markup, wrapped to fit ``width_px`` pixels."""
    columns = max(16, int((width_px - 120) / (0.56 * _MESSAGE_FONT)))
    lines = [textwrap.fill(line, columns, break_long_words=False) or " "
             for line in text.split("\n")]
    escaped = "\n".join(lines).replace("&", "&amp;").replace("<", "&lt;")
    return escaped.replace("\n", "<br>")


def show_message(fig: go.Figure, text: str, *, color: str = "#B00020") -> go.Figure:
    """Writes ``text`` in large letters over ``fig`` (and fades the plot behind it).

    Long messages are wrapped to the figure's width. Replaces any message already shown;
    :func:`clear_message` removes it. Works on figures and figure widgets, inside
    ``batch_update()`` too.

    Example:
      >>> from ntk_helpers.plotting import figure
      >>> fig = show_message(figure(), "training diverges: η = 0.9 > 2/λ_max = 0.52")
      >>> [a.text for a in fig.layout.annotations]
      ['training diverges: η = 0.9 > 2/λ_max = 0.52']
      >>> len(clear_message(fig).layout.annotations)
      0
    """
    if not isinstance(text, str) or not text:
        raise ValueError(f"text must be a non-empty string, got {text!r}")
    annotations = _messages_removed(_plotly_fix.pending(fig, "annotations"))
    shapes = _messages_removed(_plotly_fix.pending(fig, "shapes"))
    veil = go.layout.Shape(
        name=_VEIL_NAME, type="rect", xref="paper", yref="paper", x0=0, x1=1, y0=0, y1=1,
        fillcolor="rgba(255,255,255,0.75)", line=dict(width=0), layer="above",
    )
    note = go.layout.Annotation(
        name=MESSAGE_NAME, text=_wrapped(text, fig.layout.width or DEFAULT_WIDTH),
        xref="paper", yref="paper", x=0.5, y=0.5, xanchor="center", yanchor="middle",
        showarrow=False, font=dict(size=_MESSAGE_FONT, color=color), align="center",
        bgcolor="rgba(255,255,255,0.95)", bordercolor=color, borderwidth=2, borderpad=10,
    )
    fig.layout.annotations = annotations + (note,)
    fig.layout.shapes = shapes + (veil,)
    return fig


def clear_message(fig: go.Figure) -> go.Figure:
    """Removes the message written by :func:`show_message`, if any; returns ``fig``."""
    annotations = _plotly_fix.pending(fig, "annotations")
    shapes = _plotly_fix.pending(fig, "shapes")
    kept_a, kept_s = _messages_removed(annotations), _messages_removed(shapes)
    if len(kept_a) != len(annotations) or len(kept_s) != len(shapes):
        fig.layout.annotations = kept_a
        fig.layout.shapes = kept_s
    return fig


def message_text(fig: go.Figure) -> str | None:
    """The message currently shown on ``fig`` by :func:`show_message` (unwrapped), or None."""
    for item in _plotly_fix.pending(fig, "annotations"):
        if item.name == MESSAGE_NAME:
            return html.unescape(item.text.replace("<br>", " "))
    return None
