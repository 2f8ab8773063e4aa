"""Everything that reaches into plotly's FigureWidget internals, in one place.

:func:`apply` (called by ``ntk_helpers.widgets.live``) installs guards around two plotly bugs
that only a real browser shows, for the plotly releases they were found in
(:data:`GUARDED_VERSIONS`); ``tests/test_widgets.py`` fails once a plotly upgrade fixes them,
so that the guards can then be dropped.

1. **A property updated on some traces only is lost in the page.** ``batch_update()`` sends one
   list per property for all the traces it touched, with the placeholder ``Undefined`` where a
   trace kept its value (e.g. ``fig.data[0].y = …`` and ``fig.data[2].x = …`` send
   ``x: [Undefined, Undefined, new x]``). The plot in the page skips placeholders, but the
   widget's model there (``FigureModel.do_update`` in plotly's widget bundle) writes the
   placeholder string into its copy of the figure, and every view drawn from that copy later
   lacks the property: a figure updated before it is first displayed (every explorer's initial
   update) draws traces against their index (``x`` missing) or lists them as "trace 3" (``name``
   missing). The guard fills each placeholder with the trace's current value before sending.
2. **"The truth value of an array is ambiguous" in the kernel's log after a slider move.**
   plotly.js reports each trace's defaults back; a numpy array Python sent comes back as a
   typed-array dict, and ``BaseFigureWidget._remove_overlapping_props`` then tests the truth of
   the numpy array (``if not input_val:``). The guard leaves such pairs out of the comparison
   (the Python-side array stays where it is).

The other helpers read and edit the pending edits of a running ``batch_update()``, for the
explorer's error path (nothing of a failed update is sent). plotly itself leaves out of a batch
every assignment that does not change a value, so only the traces that changed are sent.
"""

from __future__ import annotations

import re
import warnings

import numpy as np
import plotly

#: (major, minor) range of the plotly releases the guards were written for, inclusive: the
#: widget runs on anywidget and sends numpy arrays as typed arrays since plotly 6.0; tested
#: with 7.1. On other releases :func:`apply` installs nothing and warns.
GUARDED_VERSIONS = ((6, 0), (7, 1))

_originals: dict[str, object] = {}


def plotly_version() -> tuple[int, int]:
    """(major, minor) of the installed plotly."""
    major, minor = (int(p) for p in re.findall(r"\d+", plotly.__version__)[:2])
    return major, minor


def original(name: str):
    """The unpatched ``BaseFigureWidget`` attribute ``name`` (for the tests that check the bugs)."""
    from plotly.basewidget import BaseFigureWidget

    if name in _originals:
        return _originals[name]
    value = BaseFigureWidget.__dict__[name]
    return value.__func__ if isinstance(value, staticmethod) else value


def apply() -> bool:
    """Installs the guards once (idempotent); returns whether they are installed."""
    if _originals:
        return True
    low, high = GUARDED_VERSIONS
    if not low <= plotly_version() <= high:
        warnings.warn(
            f"ntk_helpers: plotly {plotly.__version__} is outside the releases its FigureWidget "
            f"guards were written for ({low[0]}.{low[1]}–{high[0]}.{high[1]}); they are not "
            "installed. Run tests/test_widgets.py and tests/test_browser.py to see whether they "
            "are still needed.", stacklevel=2)
        return False
    from plotly.basewidget import BaseFigureWidget

    for name in ("_remove_overlapping_props", "_send_update_msg", "_send_restyle_msg"):
        _originals[name] = original(name)
    remove_overlapping = _originals["_remove_overlapping_props"]
    send_update, send_restyle = _originals["_send_update_msg"], _originals["_send_restyle_msg"]

    def remove_overlapping_props(input_data, delta_data, prop_path=()):
        if isinstance(input_data, dict) and isinstance(delta_data, dict):
            delta_data = {
                key: value
                for key, value in delta_data.items()
                if not (isinstance(value, dict) and isinstance(input_data.get(key), np.ndarray))
            }
        return remove_overlapping(input_data, delta_data, prop_path)

    def send_update_msg(self, restyle_data, relayout_data, trace_indexes=None,
                        source_view_id=None):
        restyle_data = fill_placeholders(self, restyle_data, trace_indexes)
        return send_update(self, restyle_data, relayout_data, trace_indexes, source_view_id)

    def send_restyle_msg(self, restyle_data, trace_indexes=None, source_view_id=None):
        restyle_data = fill_placeholders(self, restyle_data, trace_indexes)
        return send_restyle(self, restyle_data, trace_indexes, source_view_id)

    BaseFigureWidget._remove_overlapping_props = staticmethod(remove_overlapping_props)
    BaseFigureWidget._send_update_msg = send_update_msg
    BaseFigureWidget._send_restyle_msg = send_restyle_msg
    return True


def _path(key):
    from plotly.basedatatypes import BaseFigure

    return BaseFigure._str_to_dict_path(key)


def _raw(data, path):
    """The raw value at ``path`` (a tuple of keys and indexes) in a nested dict, or None."""
    for key in path:
        try:
            data = data[key]
        except (KeyError, IndexError, TypeError):
            return None
    return data


def fill_placeholders(fig, restyle_data: dict, trace_indexes) -> dict:
    """``restyle_data`` with every ``Undefined`` replaced by that trace's current value."""
    from plotly.basedatatypes import Undefined

    indexes = fig._normalize_trace_indexes(trace_indexes)
    filled = {}
    for key, values in restyle_data.items():
        if (isinstance(values, list) and len(values) == len(indexes)
                and any(v is Undefined for v in values)):
            path = _path(key)
            values = [_raw(fig._data[i], path) if v is Undefined else v
                      for i, v in zip(indexes, values, strict=True)]
        filled[key] = values
    return filled


def pending(fig, prop: str) -> tuple:
    """Layout array ``prop`` (e.g. ``'annotations'``) as it will be once a running
    ``batch_update()`` of ``fig`` is applied."""
    import plotly.graph_objects as go

    edits = getattr(fig, "_batch_layout_edits", None)
    if getattr(fig, "_in_batch_mode", False) and edits and prop in edits:
        return tuple(go.Layout({prop: edits[prop]})[prop])
    return tuple(fig.layout[prop])


def _non_finite(value) -> bool:
    if isinstance(value, str | bool | bytes) or value is None:
        return False
    if isinstance(value, dict):
        return any(_non_finite(v) for v in value.values())
    if isinstance(value, list | tuple) and any(isinstance(v, dict | str) for v in value):
        return any(_non_finite(v) for v in value)
    try:
        arr = np.asarray(value)
    except (TypeError, ValueError):
        return False
    return arr.dtype.kind in "fc" and not np.all(np.isfinite(arr))


def non_finite_edit(fig) -> str | None:
    """Where a pending edit of ``fig`` holds NaN or ±inf (e.g. ``'trace 2 (y)'`` or
    ``'layout (xaxis.range)'``), or None."""
    for index, props in (getattr(fig, "_batch_trace_edits", None) or {}).items():
        for key, value in props.items():
            if _non_finite(value):
                return f"trace {index} ({key})"
    for key, value in (getattr(fig, "_batch_layout_edits", None) or {}).items():
        if _non_finite(value):
            return f"layout ({key})"
    return None


def discard_pending(fig) -> None:
    """Drops the edits recorded so far in ``fig``'s running ``batch_update()``."""
    for name in ("_batch_trace_edits", "_batch_layout_edits"):
        edits = getattr(fig, name, None)
        if edits is not None:
            edits.clear()
