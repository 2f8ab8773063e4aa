"""Work too large for the machine is refused up front, with the estimate and the way out.

Functions whose cost is predictable from their arguments (quadrature kernels, CNN kernels,
initialising a very wide model) estimate their time and memory before starting and raise
:class:`BudgetError` beyond the limits set here, instead of running for hours or failing deep
inside numpy or XLA. The defaults suit a laptop or a 2-core CI machine: a few minutes and a few
GB. Raise them for one block of code with :func:`limits`.
"""

from __future__ import annotations

import contextlib
import math

from .errors import check_positive

#: The limits in force: seconds of estimated work and bytes of estimated memory.
LIMITS = {"seconds": 180.0, "bytes": 4 * 2**30}


class BudgetError(ValueError):
    """The requested work would exceed the time or memory limit (see :func:`limits`)."""


@contextlib.contextmanager
def limits(*, seconds: float | None = None, bytes: float | None = None):
    """Change the limits inside a ``with`` block.

    Example:
      >>> with limits(seconds=1e-9):
      ...     try:
      ...         check("a test", seconds=1.0, fix="ask for less")
      ...     except BudgetError as e:
      ...         print(str(e)[:44])
      a test would take about 1 s (limit 1e-09 s):
    """
    old = dict(LIMITS)
    if seconds is not None:
        LIMITS["seconds"] = check_positive("seconds", seconds)
    if bytes is not None:
        LIMITS["bytes"] = check_positive("bytes", bytes)
    try:
        yield LIMITS
    finally:
        LIMITS.update(old)


def _size(n: float) -> str:
    if n >= 2**30:
        return f"{n / 2**30:.3g} GB"
    return f"{n / 2**20:.3g} MB"


def check(what: str, *, seconds: float | None = None, bytes: float | None = None, fix: str = "") -> None:
    """Raise :class:`BudgetError` if the estimated seconds or bytes exceed :data:`LIMITS`."""
    if seconds is not None and (not math.isfinite(seconds) or seconds > LIMITS["seconds"]):
        raise BudgetError(f"{what} would take about {seconds:.3g} s (limit {LIMITS['seconds']:.3g} s): {fix}"
                          " (or raise the limit with ntk_helpers.budget.limits(seconds=...))")
    if bytes is not None and (not math.isfinite(bytes) or bytes > LIMITS["bytes"]):
        raise BudgetError(f"{what} would need about {_size(bytes)} of memory (limit {_size(LIMITS['bytes'])}): {fix}"
                          " (or raise the limit with ntk_helpers.budget.limits(bytes=...))")
