"""An explicit button for work too slow for a slider move (re-exported by :mod:`ntk_helpers.widgets`)."""

from __future__ import annotations

import html
import time
from collections.abc import Callable

import ipywidgets
import numpy as np
import plotly.graph_objects as go  # noqa: F401  (the doctest)

from .widgets import HANDLED_ERRORS, Explorer, _plain_message


class Action:
    """An explicit button for work too slow for a slider move, with a progress bar.

    The course's rule: a control that retrains a network must answer in ≤ 300 ms (median);
    anything slower is precomputed, cached, or behind a button like this one. Pressing it calls
    ``run(values, progress)`` for the explorer's current values; ``run`` does the slow work in
    pieces, calls ``progress(done, total)`` after each, and stores its result where the
    explorer's ``update`` finds it (a cache). The explorer then redraws. ``run``, ``enabled`` and
    ``note`` go through the explorer's error path: an error of :data:`HANDLED_ERRORS` raised by
    ``run`` (a :class:`~ntk_helpers.errors.DivergenceError`, say) shows its message in the
    figures; raised by ``enabled`` or ``note``, it disables the button and shows its message
    next to it.

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
        # the button never shrinks (its text stays whole) and the progress bar keeps its place
        # when hidden, so the row does not reflow while training
        self.button = ipywidgets.Button(description=description, icon="play",
                                        layout=ipywidgets.Layout(width="auto", flex="0 0 auto"))
        self.progress = ipywidgets.IntProgress(
            value=0, min=0, max=1, bar_style="info",
            layout=ipywidgets.Layout(width="160px", flex="0 0 auto", visibility="hidden"))
        self.label = ipywidgets.HTML(value="", layout=ipywidgets.Layout(min_height="1.6em",
                                                                        flex="1 1 auto"))
        self.widget = ipywidgets.HBox([self.button, self.progress, self.label],
                                      layout=ipywidgets.Layout(align_items="center"))
        self.button.on_click(lambda _button: self.press())
        children = list(explorer.widget.children)
        # after the controls, before the figures and the status line
        explorer.widget.children = (*children[:-2], self.widget, *children[-2:])
        explorer.after_run.append(self._sync)
        self._sync()

    def _state(self, values) -> tuple[bool, str | None]:
        """(enabled, note) for ``values``; a handled error disables the button and is the note."""
        try:
            enabled = bool(self.enabled(values))
            note = None if self.note is None else str(self.note(values))
        except HANDLED_ERRORS as exc:
            return False, _plain_message(exc)
        return enabled, note

    def _sync(self) -> None:
        enabled, note = self._state(self.explorer.values)
        self.button.disabled = self.explorer.busy or not enabled
        if note is not None:
            self.label.value = f"<span style='color:#444'>{html.escape(note)}</span>"

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
        if not self._state(self.explorer.values)[0]:
            return
        self.runs += 1
        self.button.disabled = True
        self.progress.value, self.progress.description = 0, "0 %"
        self.progress.layout.visibility = "visible"

        def run_then_update(values):
            self.run(values, self._report)
            self.explorer.update(values)

        start = time.perf_counter()
        try:  # the explorer's own error path and redraw (which refreshes the button)
            self.explorer._run(None, run_then_update)
        finally:
            self.seconds = time.perf_counter() - start
            self.progress.layout.visibility = "hidden"
