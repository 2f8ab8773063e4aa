"""ntk_helpers: the numerics behind the Neural Tangent Kernel course.

The maths is derived in the notebooks; this package holds it once, tested, for reuse:

* :mod:`~ntk_helpers.network` — :class:`~ntk_helpers.network.Network`, one description of a network
  from which its model, its analytic kernels and its empirical kernels all come;
* :mod:`~ntk_helpers.models` — networks in NTK and standard parameterization (MLP, ResNet, 1-D CNN);
* :mod:`~ntk_helpers.empirical` — the empirical NTK K = J Jᵀ of any JAX function;
* :mod:`~ntk_helpers.kernels` — analytic infinite-width NNGP and NTK kernels (:mod:`~ntk_helpers.gaussian`:
  the activations' Gaussian expectations; :mod:`~ntk_helpers.budget`: work refused up front);
* :mod:`~ntk_helpers.dynamics` — closed-form and simulated gradient-descent dynamics;
* :mod:`~ntk_helpers.spectral` — eigen-decompositions and per-mode decay;
* :mod:`~ntk_helpers.ensembles` — ensembles of networks: the prior, the ensemble trained for t steps in
  closed form, real ensembles, the bias²/variance split;
* :mod:`~ntk_helpers.data`, :mod:`~ntk_helpers.stats` — toy data sets, errors and slopes;
* :mod:`~ntk_helpers.plotting`, :mod:`~ntk_helpers.widgets` — the course's figures and live controls;
* :mod:`~ntk_helpers.explorers` — each notebook's live explorers, one call each;
* :mod:`~ntk_helpers.finite_width` — a finite network against its linearisation and its kernel (notebook 10);
* :mod:`~ntk_helpers.kernel_methods` — marginal likelihood, kernel-method costs and Nyström (notebook 11);
* :mod:`~ntk_helpers.sharded` — kernels too large for one process, block by block over JAX devices;
* :mod:`~ntk_helpers.runtime` — JAX's compilation counter.

Conventions (loss ½‖f − y‖², t in steps, neural-tangents' kernel conventions) are in
CONVENTIONS.md and ``notebooks/00_start_here.ipynb``.
"""

from __future__ import annotations

import importlib
import os
import sys

__version__ = "0.1.0"

_SUBMODULES = (
    "activations", "architectures", "budget", "controls", "criticality", "data", "dynamics",
    "empirical", "ensembles", "errors", "explorers", "finite_width", "gaussian", "geometry", "kernel_methods",
    "kernels", "learning_curves", "models", "network", "optimizers", "overlay", "plotting", "realdata",
    "regimes", "runtime", "sharded", "spectral", "stats", "widgets",
)


def __getattr__(name):
    # Lazy submodules: ``import ntk_helpers as nh; nh.kernels.fc_kernels(...)`` works without
    # importing plotly and ipywidgets for code that never draws.
    if name in _SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    if name == "Network":  # the one description of a network: ``nh.Network("mlp", width=512, depth=2)``
        return importlib.import_module(".network", __name__).Network
    raise AttributeError(f"module 'ntk_helpers' has no attribute {name!r}")


def _readable_static_figures() -> None:
    """Put a renderer in front of plotly's default ones that gives every displayed figure readable
    log-axis ticks (:func:`ntk_helpers.plotting.readable_log_axes`); it adds nothing to the output."""
    import plotly.io as pio
    from plotly.io._base_renderers import MimetypeRenderer

    from .plotting import readable_log_axes

    class Readable(MimetypeRenderer):
        def to_mimebundle(self, fig_dict):
            readable_log_axes(fig_dict)  # in place: the renderers after this one draw the result
            return {}

    if "ntk_readable" not in pio.renderers:
        pio.renderers["ntk_readable"] = Readable()
    default = pio.renderers.default or "plotly_mimetype"
    if not default.startswith("ntk_readable"):
        pio.renderers.default = "ntk_readable+" + default


def setup_notebook(*, cache_dir: str | None = None, quiet: bool = False) -> dict:
    """Prepare a notebook session: JAX's persistent compilation cache, plotly's renderer, versions.

    The cache (default ``~/.cache/ntk_course/jax``, or ``$NTK_JAX_CACHE``) lets a second session
    reuse the first one's compiled functions, so sliders are warm from the start.

    Returns:
      A dict of the versions in use (python, jax, numpy, plotly, ipywidgets).
    """
    import jax
    import numpy as np

    cache = cache_dir or os.environ.get("NTK_JAX_CACHE") or os.path.expanduser("~/.cache/ntk_course/jax")
    try:
        os.makedirs(cache, exist_ok=True)
        jax.config.update("jax_compilation_cache_dir", cache)
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.05)
        jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    except OSError:  # a read-only home: run without the cache
        pass
    versions = {"python": sys.version.split()[0], "jax": jax.__version__, "numpy": np.__version__}
    try:
        import ipywidgets
        import plotly

        versions.update(plotly=plotly.__version__, ipywidgets=ipywidgets.__version__)
        _readable_static_figures()
    except ImportError:  # pragma: no cover - the course environment has both
        pass
    if not quiet:
        print("ntk_helpers", __version__, "|", ", ".join(f"{k} {v}" for k, v in versions.items()))
    return versions
