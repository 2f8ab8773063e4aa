"""The course's slider factories: fixed value lists with readable labels, and log-scale sliders.

Used by :mod:`ntk_helpers.widgets` and every explorer.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import ipywidgets
import numpy as np

_MAX_DECADES = 300
_SUPERSCRIPTS = str.maketrans("0123456789-", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻")


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
    # the slider's values must be positive, finite floats: 10^-307 … 10^308 for base 10
    for name, v in (("min_exp", min_exp), ("max_exp", max_exp)):
        if abs(v * math.log10(base)) > _MAX_DECADES:
            raise ValueError(
                f"{name} must keep base**{name} within floating-point range (|{name} · log10(base)|"
                f" ≤ {_MAX_DECADES}), got base {base:g} ** {v:g}")
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
