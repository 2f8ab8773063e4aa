"""Sliders wired to plotly figures that are updated in place: the course's one widget builder.

An :class:`Explorer` takes named ipywidgets controls, one or more ``go.FigureWidget`` figures and
an ``update(values)`` function that writes new data into the figures.
Whenever a control changes it calls ``update`` inside ``batch_update()`` of every figure, so each
move of a slider reaches the browser as a single message per figure and the figure already
holds the new state when the call returns.

Only what changed is sent: plotly leaves out every assignment that keeps a value as it is.

Every callback (``update``, an :class:`Action`'s work and its ``enabled``/``note`` functions)
goes through one error path. An arithmetic error (:class:`~ntk_helpers.errors.DivergenceError`,
``FloatingPointError``, ``ZeroDivisionError``, ``OverflowError``), a ``ValueError``, or NaN/±inf
written into a trace or a layout value (an axis range, say) draws nothing of that update: the
figures keep their last good data behind a plain message (e.g. "training diverges: η = 0.9 >
2/λ_max = 0.52"), which the next successful update removes. Any other exception is a bug: it
propagates (to the kernel's log) after the status line says so; the status line never stays on
"computing…".

:func:`live` turns a ``go.Figure`` into the ``go.FigureWidget`` an explorer updates, and
:func:`show_message` writes a message over any figure.

Example (the pattern every notebook follows)::

    fig = nh.widgets.live(nh.plotting.figure("Loss", "step t", "loss", log_y=True))
    fig.add_scatter(name="network")

    def update(v):
        traj = train(..., learning_rate=v["eta"])       # may raise DivergenceError
        fig.data[0].update(x=traj.steps, y=traj.loss)

    Explorer({"eta": float_log_slider("η", -3, 0, 0.1)}, [fig], update)

Introduced in notebook 00.
"""

from __future__ import annotations

import contextlib
import html
import itertools
import math
import time
import weakref
from collections.abc import Callable, Mapping, Sequence

import ipywidgets
import numpy as np  # noqa: F401  (the doctests)
import plotly.graph_objects as go
import traitlets

from . import _plotly_fix, plotting
from .controls import float_log_slider, format_number, log_slider
from .errors import DivergenceError, ensure_finite
from .overlay import clear_message, live, message_text, show_message

__all__ = [
    "HANDLED_ERRORS",
    "Action",  # noqa: F822 (provided by the module's __getattr__)
    "Explorer",
    "clear_message",
    "ensure_finite",
    "float_log_slider",
    "format_number",
    "live",
    "log_slider",
    "message_text",
    "show_message",
]

#: The errors a callback may raise to say "this setting cannot be shown": arithmetic errors
#: (``DivergenceError``, ``FloatingPointError``, ``ZeroDivisionError``, ``OverflowError``) and
#: ``ValueError``. Anything else is a bug and propagates.
HANDLED_ERRORS = (ArithmeticError, ValueError)

_created = itertools.count()
_BUSY = "computing…"


class Explorer:
    """Named controls driving figures that are redrawn in place.

    Args:
      controls: name → ipywidgets value widget (sliders, dropdowns, toggles, …).
      figures: the ``go.FigureWidget`` figures that ``update`` writes into (``go.Figure`` works
        too, e.g. in tests).
      update: called as ``update(values)`` with ``values = {name: control.value}``; it changes
        the figures' traces and layout. It should modify existing traces, not add new ones.
      title: optional heading shown above the controls.
      check_finite: treat NaN/±inf written into a trace or a layout value (an axis range, say)
        as a divergence (default True).
      initial_update: call ``update`` once at construction so the figures show the controls'
        initial values (default True).

    Attributes:
      latencies: control name → list of seconds from a value change to the updated figures.
      errors: control name → number of updates that ended in a handled error.
      message: the message shown now, or None.
      after_run: functions called with no argument after every update, failed or not (an
        :class:`Action` refreshes its button there).
      number: creation order of the explorer (0, 1, …) in this kernel.
      widget: the ``ipywidgets.VBox`` (title, controls, figures, status line) that is displayed.
      instances: (class attribute) every live Explorer, for benchmarks and tests.

    Example:
      >>> fig = go.Figure(go.Scatter(x=[0, 1, 2], y=[0, 0, 0]))
      >>> def update(v):
      ...     fig.data[0].y = v["a"] * np.array([0.0, 1.0, 2.0])
      >>> ex = Explorer({"a": ipywidgets.FloatSlider(value=1.0)}, [fig], update)
      >>> seconds = ex.set("a", 2.0)
      >>> fig.data[0].y.tolist(), len(ex.latencies["a"])
      ([0.0, 2.0, 4.0], 1)
    """

    instances: weakref.WeakSet = weakref.WeakSet()

    def __init__(
        self,
        controls: Mapping[str, ipywidgets.ValueWidget],
        figures: Sequence[go.Figure],
        update: Callable[[dict], None],
        *,
        title: str | None = None,
        check_finite: bool = True,
        initial_update: bool = True,
    ):
        if not isinstance(controls, Mapping) or not controls:
            raise ValueError("controls must be a non-empty dict name → widget")
        for name, control in controls.items():
            if not isinstance(name, str):
                raise TypeError(f"controls keys must be strings, got {name!r}")
            if not isinstance(control, ipywidgets.ValueWidget):
                raise TypeError(f"controls[{name!r}] must be an ipywidgets value widget, "
                                f"got {type(control).__name__}")
        if isinstance(figures, go.Figure | go.FigureWidget):
            figures = [figures]
        figures = list(figures)
        if not figures or not all(isinstance(f, go.Figure | go.FigureWidget) for f in figures):
            raise TypeError("figures must be a non-empty list of plotly FigureWidgets")
        if not callable(update):
            raise TypeError(f"update must be callable, got {type(update).__name__}")
        self.controls = dict(controls)
        self.title = title
        self.number = next(_created)  # creation order, for benchmarks and reports
        self.figures = figures
        self.update = update
        self.check_finite = bool(check_finite)
        self.latencies: dict[str, list[float]] = {name: [] for name in self.controls}
        self.errors: dict[str, int] = {name: 0 for name in self.controls}
        self.message: str | None = None
        self.busy = False
        self.after_run: list[Callable[[], None]] = []
        self._handlers = {}
        self._runs = 0
        self._log_axes = None

        self.status = ipywidgets.HTML(value="", layout=ipywidgets.Layout(min_height="1.6em"))
        widgets = []
        if title:
            widgets.append(ipywidgets.HTML(f"<b>{html.escape(title)}</b>"))
        widgets.append(ipywidgets.VBox(list(self.controls.values())))
        shown = [f for f in figures if isinstance(f, ipywidgets.DOMWidget)]
        # side by side where the column is wide enough (give them e.g. width=460), else stacked
        widgets.append(ipywidgets.Box(
            shown, layout=ipywidgets.Layout(display="flex", flex_flow="row wrap", width="100%")))
        widgets.append(self.status)
        self.widget = ipywidgets.VBox(widgets)

        for name, control in self.controls.items():
            handler = self._make_handler(name)
            control.observe(handler, names="value")
            self._handlers[name] = handler
        Explorer.instances.add(self)
        if initial_update:
            self.refresh()

    def _make_handler(self, name):
        def handler(change):
            old, new = change["old"], change["new"]
            if (isinstance(old, float) and isinstance(new, float)
                    and math.isclose(old, new, rel_tol=1e-9, abs_tol=0.0)):
                return  # the browser echoing a value back with round-off: nothing to redraw
            self._run(name)

        return handler

    @property
    def values(self) -> dict:
        """The controls' current values, ``{name: control.value}``."""
        return {name: control.value for name, control in self.controls.items()}

    def refresh(self) -> float:
        """Redraws the figures for the current values; returns the seconds it took."""
        return self._run(None)

    def set(self, name: str, value) -> float:
        """Sets control ``name`` to ``value`` (and updates the figures); returns the seconds.

        If the control already holds ``value``, the figures are redrawn anyway, so every call
        records one latency.
        """
        if name not in self.controls:
            raise ValueError(f"name must be one of {tuple(self.controls)}, got {name!r}")
        control = self.controls[name]
        runs = self._runs
        try:
            control.value = value
        except traitlets.TraitError as exc:
            if self._runs != runs:  # raised by the update, not by the control
                raise
            raise ValueError(f"value {value!r} is not allowed for control {name!r}: {exc}") from None
        if self._runs == runs:  # the value did not change: redraw anyway
            self._run(name)
        return self.latencies[name][-1]

    def _run(self, name: str | None, work: Callable[[dict], None] | None = None) -> float:
        """The one error path: runs ``work`` (default ``update``) for the current values inside
        one ``batch_update()`` per figure and sends what changed; returns the seconds."""
        start = time.perf_counter()
        self._runs += 1
        values = self.values
        self._set_busy(True)
        error = None
        try:
            with contextlib.ExitStack() as stack:
                for fig in self.figures:
                    stack.enter_context(fig.batch_update())
                try:
                    (work or self.update)(values)
                    self._check_finite()
                except HANDLED_ERRORS as exc:
                    error = exc
                    for fig in self.figures:
                        _plotly_fix.discard_pending(fig)
                        show_message(fig, _plain_message(exc))
                except BaseException:
                    for fig in self.figures:  # a bug: draw nothing of it, report it
                        _plotly_fix.discard_pending(fig)
                    raise
                else:
                    if self.message is not None:
                        for fig in self.figures:
                            clear_message(fig)
        except BaseException as exc:
            self._finish(name, start, None, bug=exc)
            raise
        if error is None:
            self._tidy_log_axes()
        return self._finish(name, start, error)

    def _tidy_log_axes(self) -> None:
        """Readable log-axis ticks for the data just drawn (one more message only if they change).

        Only the log axes whose ticks the figure's author left to plotly are managed; they are
        found before the first update, when no tick setting of ours is there yet.
        """
        if self._log_axes is None:
            self._log_axes = []
            for fig in self.figures:
                before = {k: fig.layout[k].nticks for k in fig.layout.to_plotly_json() if k[1:5] == "axis"}
                managed = {k for k, v in before.items() if v is None}
                self._log_axes.append(managed)
        for fig, managed in zip(self.figures, self._log_axes):
            if not managed:
                continue
            copy = go.Figure(fig)
            for name in managed:
                copy.layout[name].nticks = None  # ours from the last update: recompute from the data
            want = plotting.readable_log_axes(copy).layout
            for name in managed:
                new = want[name].nticks if name in want else None
                if new is not None and fig.layout[name].nticks != new:
                    fig.layout[name].nticks = new

    def _check_finite(self) -> None:
        if not self.check_finite:
            return
        for fig in self.figures:
            where = _plotly_fix.non_finite_edit(fig)
            if where is not None:
                raise DivergenceError(f"the result is not finite ({where}): the computation diverged")

    def _finish(self, name, start, error, *, bug=None) -> float:
        """Records the update, sets the status line (never left busy), runs ``after_run``."""
        elapsed = time.perf_counter() - start
        self.busy = False
        if bug is None:
            self.message = None if error is None else _plain_message(error)
        if name is not None:
            self.latencies[name].append(elapsed)
            if error is not None or bug is not None:
                self.errors[name] += 1
        if bug is not None:
            self._show_bug(bug)
        else:
            self._show_status(elapsed)
        for listener in self.after_run:
            try:
                listener()
            except BaseException as exc:  # reported like a bug in update, then propagates
                self._show_bug(exc)
                raise
        return elapsed

    def _show_bug(self, exc: BaseException) -> None:
        text = html.escape(f"{type(exc).__name__}: {_plain_message(exc)}")
        self.status.value = (f"<span style='color:#B00020'>⚠ unexpected error (a bug; the "
                             f"figures keep their last state): {text}</span>")

    def _set_busy(self, busy: bool) -> None:
        self.busy = busy
        if busy:
            self.status.value = f"<span style='color:#666'>{_BUSY}</span>"

    def _show_status(self, elapsed: float) -> None:
        if self.message is not None:
            self.status.value = (f"<span style='color:#B00020'>⚠ {html.escape(self.message)}"
                                 "</span>")
        else:
            self.status.value = f"<span style='color:#666'>updated in {elapsed * 1e3:.0f} ms</span>"

    def static_figure(self, index: int = 0) -> go.Figure:
        """A plain ``go.Figure`` copy of figure ``index`` as it is now (for readers without a
        kernel: a notebook shows it after the widget)."""
        if not isinstance(index, int) or not -len(self.figures) <= index < len(self.figures):
            raise ValueError(f"index must be an integer below {len(self.figures)}, got {index!r}")
        fig = self.figures[index]
        return go.Figure(data=fig.data, layout=fig.layout)

    def static_figures(self) -> list[go.Figure]:
        """:meth:`static_figure` of every figure."""
        return [self.static_figure(i) for i in range(len(self.figures))]

    def close(self) -> None:
        """Stops listening to the controls and closes the displayed widgets."""
        for name, handler in self._handlers.items():
            with contextlib.suppress(ValueError):
                self.controls[name].unobserve(handler, names="value")
        self._handlers.clear()
        self.widget.close()

    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)

    def _ipython_display_(self):
        from IPython.display import display

        display(self.widget)

    def __repr__(self) -> str:
        return f"Explorer(controls={list(self.controls)}, figures={len(self.figures)})"


def _plain_message(exc: BaseException) -> str:
    return str(exc).strip() or "this setting cannot be computed"


def __getattr__(name):
    # ``Action`` (a button for slow work) lives in ntk_helpers._action, which builds on Explorer;
    # imported on first use so that either module can be imported first.
    if name == "Action":
        from ._action import Action

        return Action
    raise AttributeError(f"module 'ntk_helpers.widgets' has no attribute {name!r}")
