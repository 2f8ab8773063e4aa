"""Sliders wired to plotly figures that are updated in place: the course's one widget builder.

An :class:`Explorer` takes named ipywidgets controls, one or more ``go.FigureWidget`` figures and
an ``update(values)`` function that writes new data into the figures.
Whenever a control changes it calls ``update`` inside ``batch_update()`` of every figure, so each
move of a slider reaches the browser as a single message per figure and the figure already
holds the new state when the call returns.

If ``update`` raises :class:`~ntk_helpers.errors.DivergenceError`, ``ValueError`` or
``FloatingPointError``, or writes non-finite numbers into a trace, nothing of that update is
drawn: the figures keep their last good data behind a plain message (e.g. "training diverges:
η = 0.9 > 2/λ_max = 0.52"), which the next successful update removes.

Example (the pattern every notebook follows)::

    fig = nh.plotting.live(nh.plotting.figure("Loss", "step t", "loss", log_y=True))
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
import numpy as np
import plotly.graph_objects as go
import traitlets

from ntk_helpers.errors import DivergenceError, ensure_finite
from ntk_helpers.plotting import clear_message, show_message

__all__ = [
    "Action",
    "Explorer",
    "ensure_finite",
    "float_log_slider",
    "format_number",
    "log_slider",
]

#: The errors an update may raise to say "this setting cannot be shown"; anything else is a bug
#: and propagates.
HANDLED_ERRORS = (DivergenceError, ValueError, FloatingPointError)

_created = itertools.count()
_SUPERSCRIPTS = str.maketrans("0123456789-", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻")
_BUSY = "computing…"


_COMPILE_EVENT = "/jax/core/compile/backend_compile_duration"
_compilations = {"count": 0, "listening": False}


def _count_compilation(event, duration, **kwargs):
    if event == _COMPILE_EVENT:
        _compilations["count"] += 1


def jax_compilations() -> int:
    """How many XLA compilations this process has run since this function was first called.

    The first call starts listening (``jax.monitoring``) and returns 0; compare two later calls
    to check that, say, a slider move compiled nothing: every explorer must stay at zero after
    its warm-up.

    Example:
      >>> import jax, jax.numpy as jnp
      >>> triple, x = jax.jit(lambda v: v * 3.0), jnp.ones(7)
      >>> before = jax_compilations()
      >>> _ = triple(x)  # a new function: one compilation
      >>> _ = triple(x)  # the same shape again: none
      >>> jax_compilations() - before
      1
    """
    if not _compilations["listening"]:
        from jax import monitoring

        monitoring.register_event_duration_secs_listener(_count_compilation)
        _compilations["listening"] = True
    return _compilations["count"]


def format_number(value) -> str:
    """A short readable label: powers of two as ``2⁴ = 16``, floats with 3 significant digits.

    Example:
      >>> [format_number(v) for v in (16, 4096, 3, 0.05, 1e-5, 2.5e6)]
      ['2⁴ = 16', '2¹² = 4096', '3', '0.05', '10⁻⁵', '2.5×10⁶']
    """
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        return str(value)
    if float(value).is_integer() and abs(value) < 1e6:
        n = int(value)
        if n >= 4 and n & (n - 1) == 0:
            return f"2{str(n.bit_length() - 1).translate(_SUPERSCRIPTS)} = {n}"
        return str(n)
    text = f"{float(value):.3g}"
    if "e" in text:
        mantissa, exponent = text.split("e")
        exponent = str(int(exponent)).translate(_SUPERSCRIPTS)
        return f"10{exponent}" if mantissa == "1" else f"{mantissa}×10{exponent}"
    return text


def log_slider(
    description: str,
    values: Sequence,
    value=None,
    *,
    labels: Sequence[str] | Callable[[object], str] | None = None,
    continuous_update: bool = True,
) -> ipywidgets.SelectionSlider:
    """A slider over a fixed list of values, e.g. widths 16, 32, …, 4096, with readable labels.

    Args:
      description: label shown left of the slider (e.g. ``"width n"``).
      values: the allowed values, in slider order.
      value: the initial value (default: the first).
      labels: a list of labels or a function value → label (default :func:`format_number`).
      continuous_update: update while dragging; set False where an update is expensive.

    Example:
      >>> s = log_slider("width n", [16, 64, 256], 64)
      >>> s.value, s.label
      (64, '2⁶ = 64')
    """
    values = list(values)
    if not values:
        raise ValueError("values must not be empty")
    if len({repr(v) for v in values}) != len(values):
        raise ValueError(f"values must be distinct, got {values!r}")
    if labels is None or callable(labels):
        fmt = labels or format_number
        labels = [fmt(v) for v in values]
    labels = [str(label) for label in labels]
    if len(labels) != len(values):
        raise ValueError(f"labels must have {len(values)} entries, got {len(labels)}")
    if len(set(labels)) != len(labels):
        raise ValueError(f"labels must be distinct, got {labels!r}")
    if value is None:
        value = values[0]
    elif value not in values:
        raise ValueError(f"value must be one of values {values!r}, got {value!r}")
    return ipywidgets.SelectionSlider(
        options=list(zip(labels, values, strict=True)),
        value=value,
        description=description,
        continuous_update=continuous_update,
        style={"description_width": "initial"},
        layout=ipywidgets.Layout(width="min(100%, 520px)"),
    )


def float_log_slider(
    description: str,
    min_exp: float,
    max_exp: float,
    value: float,
    *,
    base: float = 10.0,
    step: float = 0.05,
    continuous_update: bool = True,
) -> ipywidgets.FloatLogSlider:
    """A slider over base**min_exp … base**max_exp, moving evenly in the exponent.

    ``value`` is rounded onto the slider's grid base**(min_exp + k·step), as the browser would
    round it (0.05 with step 0.05 becomes 10^-1.3 ≈ 0.0501).

    Example:
      >>> s = float_log_slider("η", -3, 0, 0.1)
      >>> s.min, s.max, round(s.value, 12)
      (-3.0, 0.0, 0.1)
    """
    for name, v in (("min_exp", min_exp), ("max_exp", max_exp), ("value", value), ("base", base),
                    ("step", step)):
        if isinstance(v, bool) or not isinstance(v, int | float | np.integer | np.floating):
            raise TypeError(f"{name} must be a number, got {v!r}")
        if not math.isfinite(v):
            raise ValueError(f"{name} must be finite, got {v!r}")
    if not min_exp < max_exp:
        raise ValueError(f"min_exp must be < max_exp, got {min_exp} and {max_exp}")
    if base <= 1:
        raise ValueError(f"base must be > 1, got {base}")
    if not 0 < step <= max_exp - min_exp:
        raise ValueError(f"step must be in (0, max_exp - min_exp], got {step}")
    low, high = base**min_exp, base**max_exp
    if not low * (1 - 1e-12) <= value <= high * (1 + 1e-12):
        raise ValueError(f"value must be in [{low:g}, {high:g}], got {value}")
    # The browser puts the slider on its grid min_exp + k·step and sends that value back as
    # soon as it is drawn; start on the grid so that drawing it changes nothing.
    k = round((math.log(value, base) - min_exp) / step)
    exponent = min(max(min_exp + k * step, min_exp), max_exp)
    return ipywidgets.FloatLogSlider(
        value=float(base**exponent),
        base=float(base),
        min=float(min_exp),
        max=float(max_exp),
        step=float(step),
        description=description,
        readout_format=".3",  # d3-format: 3 significant digits, no trailing zeros
        continuous_update=continuous_update,
        style={"description_width": "initial"},
        layout=ipywidgets.Layout(width="min(100%, 520px)"),
    )


def _non_finite_edit(fig) -> str | None:
    """Name of the first pending trace edit of ``fig`` holding NaN or ±inf, if any."""
    edits = getattr(fig, "_batch_trace_edits", None) or {}
    for index, props in edits.items():
        for key, value in props.items():
            if isinstance(value, str | bool | type(None)):
                continue
            try:
                arr = np.asarray(value)
            except (TypeError, ValueError):
                continue
            if arr.dtype.kind in "fc" and not np.all(np.isfinite(arr)):
                return f"trace {index} ({key})"
    return None


def _discard_pending(fig) -> None:
    """Drops the edits recorded so far in ``fig``'s running ``batch_update()``."""
    for name in ("_batch_trace_edits", "_batch_layout_edits"):
        edits = getattr(fig, name, None)
        if edits is not None:
            edits.clear()


class Explorer:
    """Named controls driving figures that are redrawn in place.

    Args:
      controls: name → ipywidgets value widget (sliders, dropdowns, toggles, …).
      figures: the ``go.FigureWidget`` figures that ``update`` writes into (``go.Figure`` works
        too, e.g. in tests).
      update: called as ``update(values)`` with ``values = {name: control.value}``; it changes
        the figures' traces and layout. It should modify existing traces, not add new ones.
      title: optional heading shown above the controls.
      check_finite: treat NaN/±inf written into a trace as a divergence (default True).
      initial_update: call ``update`` once at construction so the figures show the controls'
        initial values (default True).

    Attributes:
      latencies: control name → list of seconds from a value change to the updated figures.
      errors: control name → number of updates that ended in a handled error.
      message: the message shown now, or None.
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
        self._handlers = {}
        self._runs = 0

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

    def _run(self, name: str | None) -> float:
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
                    self.update(values)
                    if self.check_finite:
                        for fig in self.figures:
                            where = _non_finite_edit(fig)
                            if where is not None:
                                raise DivergenceError(
                                    f"the result is not finite ({where}): the computation diverged")
                except HANDLED_ERRORS as exc:
                    error = exc
                    for fig in self.figures:
                        _discard_pending(fig)
                        show_message(fig, _plain_message(exc))
                except BaseException:
                    for fig in self.figures:  # a bug in update: draw nothing of it, report it
                        _discard_pending(fig)
                    raise
                else:
                    if self.message is not None:
                        for fig in self.figures:
                            clear_message(fig)
        finally:
            self._set_busy(False)
        elapsed = time.perf_counter() - start
        self.message = None if error is None else _plain_message(error)
        if name is not None:
            self.latencies[name].append(elapsed)
            if error is not None:
                self.errors[name] += 1
        self._show_status(elapsed)
        return elapsed

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


class Action:
    """An explicit button for work too slow for a slider move, with a progress bar.

    The course's rule: a control that retrains a network must answer in ≤ 300 ms (median);
    anything slower is precomputed, cached, or behind a button like this one. Pressing it calls
    ``run(values, progress)`` for the explorer's current values; ``run`` does the slow work in
    pieces, calls ``progress(done, total)`` after each, and stores its result where the
    explorer's ``update`` finds it (a cache). The explorer then redraws. ``run`` goes through the
    same error path as ``update``: a :class:`~ntk_helpers.errors.DivergenceError` (or
    ``ValueError``, ``FloatingPointError``) shows its message in the figures.

    Args:
      explorer: the :class:`Explorer` whose figures show the result; the button, the progress
        bar and a note line are added to its widget, between the controls and the figures.
      description: the button's text, e.g. ``"Train this network"``.
      run: ``run(values, progress) -> None``, the slow work.
      enabled: ``enabled(values) -> bool``: whether pressing makes sense for these values (e.g.
        costly and not cached yet). Re-evaluated after every update.
      note: optional ``note(values) -> str``, plain text shown next to the button after every
        update (e.g. ``"width 1024, depth 2: press Train (≈ 3 s)"``).

    Attributes:
      button, progress, label: the ``Button``, ``IntProgress`` and ``HTML`` widgets.
      runs: how many times ``run`` was called.
      seconds: the duration of the last press (``run`` and the redraw), or None.

    Example:
      >>> fig = go.Figure(go.Scatter(x=[0, 1], y=[0, 0]))
      >>> cache = {}
      >>> def update(v):
      ...     fig.data[0].y = cache.get(v["a"], [0.0, 0.0])
      >>> ex = Explorer({"a": ipywidgets.IntSlider(1)}, [fig], update)
      >>> def run(v, progress):
      ...     for k in range(3):
      ...         progress(k + 1, 3)
      ...     cache[v["a"]] = [0.0, float(v["a"])]
      >>> act = Action(ex, "Compute", run, enabled=lambda v: v["a"] not in cache)
      >>> act.button.disabled, act.press(), fig.data[0].y, act.button.disabled, act.progress.value
      (False, None, (0.0, 1.0), True, 3)
    """

    def __init__(
        self,
        explorer: Explorer,
        description: str,
        run: Callable[[dict, Callable[[int, int], None]], None],
        *,
        enabled: Callable[[dict], bool],
        note: Callable[[dict], str] | None = None,
    ):
        if not isinstance(explorer, Explorer):
            raise TypeError(f"explorer must be an Explorer, got {type(explorer).__name__}")
        if not isinstance(description, str) or not description:
            raise ValueError(f"description must be a non-empty string, got {description!r}")
        for name, fn in (("run", run), ("enabled", enabled), ("note", note)):
            if fn is not None and not callable(fn):
                raise TypeError(f"{name} must be callable, got {type(fn).__name__}")
        self.explorer = explorer
        self.run = run
        self.enabled = enabled
        self.note = note
        self.runs = 0
        self.seconds: float | None = None
        self.button = ipywidgets.Button(description=description, icon="play",
                                        layout=ipywidgets.Layout(width="auto"))
        self.progress = ipywidgets.IntProgress(value=0, min=0, max=1, bar_style="info",
                                               layout=ipywidgets.Layout(display="none"))
        self.label = ipywidgets.HTML(value="", layout=ipywidgets.Layout(min_height="1.6em"))
        self.widget = ipywidgets.HBox([self.button, self.progress, self.label],
                                      layout=ipywidgets.Layout(align_items="center"))
        self.button.on_click(lambda _button: self.press())
        children = list(explorer.widget.children)
        # after the controls, before the figures and the status line
        explorer.widget.children = (*children[:-2], self.widget, *children[-2:])
        for control in explorer.controls.values():  # observers run after the explorer's own
            control.observe(self._sync, names="value")
        self._sync()

    def _sync(self, _change=None) -> None:
        values = self.explorer.values
        self.button.disabled = self.explorer.busy or not self.enabled(values)
        if self.note is not None:
            self.label.value = f"<span style='color:#444'>{html.escape(self.note(values))}</span>"

    def _report(self, done: int, total: int) -> None:
        for name, v in (("done", done), ("total", total)):
            if isinstance(v, bool) or not isinstance(v, int | np.integer):
                raise TypeError(f"progress {name} must be an integer, got {v!r}")
        if not 0 <= done <= total or total < 1:
            raise ValueError(f"progress needs 0 ≤ done ≤ total and total ≥ 1, got {done}, {total}")
        self.progress.max = int(total)
        self.progress.value = int(done)
        self.progress.description = f"{100 * done // total} %"

    def press(self) -> None:
        """Runs the slow work for the current values (as a click does), then redraws."""
        if not self.enabled(self.explorer.values):
            return
        ex, update = self.explorer, self.explorer.update
        self.runs += 1
        self.button.disabled = True
        self.progress.value, self.progress.description = 0, "0 %"
        self.progress.layout.display = None

        def run_then_update(values):
            self.run(values, self._report)
            update(values)

        start = time.perf_counter()
        ex.update = run_then_update  # the explorer's own error handling and redraw
        try:
            ex.refresh()
        finally:
            ex.update = update
            self.seconds = time.perf_counter() - start
            self.progress.layout.display = "none"
            self._sync()
