"""What the running process is doing: JAX compilations and traces, counted.

An explorer must stay fast after its warm-up, and a new array shape or a new Python function
costs a JIT compilation (~0.4 s on a laptop CPU). These counters let a notebook or a benchmark
check that a slider move compiled nothing::

    before = nh.runtime.jax_compilations()
    explorer.set("width", 256)
    assert nh.runtime.jax_compilations() == before

Introduced in notebook 01.
"""

from __future__ import annotations

__all__ = ["jax_compilations", "jax_traces"]

_EVENTS = {
    "compilations": "/jax/core/compile/backend_compile_duration",  # XLA compiles a program
    "traces": "/jax/core/compile/jaxpr_trace_duration",  # Python traced to a jaxpr
}
_counts = dict.fromkeys(_EVENTS, 0)
_listening = [False]


def _count(event: str, duration: float, **kwargs) -> None:
    for name, wanted in _EVENTS.items():
        if event == wanted:
            _counts[name] += 1


def _listen() -> None:
    if not _listening[0]:
        from jax import monitoring

        monitoring.register_event_duration_secs_listener(_count)
        _listening[0] = True


def jax_compilations() -> int:
    """How many XLA compilations this process has run since the counters started.

    The first call of :func:`jax_compilations` or :func:`jax_traces` starts listening
    (``jax.monitoring``) and counts from there; compare two later calls. A compilation served
    by JAX's persistent cache (``nh.setup_notebook()``) is not counted: nothing was compiled.

    Example:
      >>> import jax, jax.numpy as jnp
      >>> triple, x = jax.jit(lambda v: v * 3.0), jnp.ones(7)
      >>> before = jax_compilations()
      >>> _ = triple(x)  # a new function: one compilation
      >>> _ = triple(x)  # the same shape again: none
      >>> jax_compilations() - before
      1
    """
    _listen()
    return _counts["compilations"]


def jax_traces() -> int:
    """How many times JAX traced a Python function to a jaxpr since the counters started.

    A trace comes before every compilation, and also where a compilation is then found in a
    cache, so it counts the work a new shape or a new function causes even when the
    compilation itself is cached.

    Example:
      >>> import jax, jax.numpy as jnp
      >>> double, a, b = jax.jit(lambda v: v * 2.0), jnp.ones(3), jnp.ones(4)
      >>> before = jax_traces()
      >>> _ = double(a), double(a), double(b)
      >>> jax_traces() - before  # one trace per new shape
      2
    """
    _listen()
    return _counts["traces"]
