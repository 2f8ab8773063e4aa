"""A guard around one plotly FigureWidget bug that a real browser triggers.

After an update, plotly.js reports each trace's defaults back to the kernel. A data array that
Python sent as a numpy array comes back as a typed-array dict ({"dtype": …, "bdata": …}), and
``BaseFigureWidget._remove_overlapping_props`` then recurses into the numpy array and tests its
truth value: ``ValueError: The truth value of an array … is ambiguous`` in the kernel's log,
after every slider move that hits it. The guard drops those pairs from the comparison (the
Python-side array simply stays where it is), and leaves everything else to plotly.
"""

from __future__ import annotations

import numpy as np

_applied = False


def apply() -> None:
    """Install the guard once (idempotent)."""
    global _applied
    if _applied:
        return
    from plotly.basewidget import BaseFigureWidget

    original = BaseFigureWidget._remove_overlapping_props

    def remove_overlapping_props(input_data, delta_data, prop_path=()):
        if isinstance(input_data, dict) and isinstance(delta_data, dict):
            delta_data = {
                key: value
                for key, value in delta_data.items()
                if not (isinstance(value, dict) and isinstance(input_data.get(key), np.ndarray))
            }
        return original(input_data, delta_data, prop_path)

    BaseFigureWidget._remove_overlapping_props = staticmethod(remove_overlapping_props)
    _applied = True
