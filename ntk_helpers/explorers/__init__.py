"""The live explorers of the notebooks: one module per notebook, one call per explorer.

Each builder returns an :class:`ntk_helpers.widgets.Explorer` (displayed by the notebook cell that
creates it; ``explorer.static_figure()`` gives the copy shown to readers without a kernel). The
mathematics is derived in the notebook; the plumbing (caches, precomputation so that no slider
move compiles, the Train button) lives here, tested in ``tests/``.

* :mod:`~ntk_helpers.explorers.function_space` — notebook 01;
* :mod:`~ntk_helpers.explorers.two_layer` — notebook 02;
* :mod:`~ntk_helpers.explorers.width` — notebook 03;
* :mod:`~ntk_helpers.explorers.spectral_bias` — notebook 04;
* :mod:`~ntk_helpers.explorers.nngp_ensembles` — notebook 05;
* :mod:`~ntk_helpers.explorers.jacobian_geometry` — notebook 06;
* :mod:`~ntk_helpers.explorers.architectures` — notebook 07;
* :mod:`~ntk_helpers.explorers.optimizers` — notebook 08;
* :mod:`~ntk_helpers.explorers.learning_curves` — notebook 09;
* :mod:`~ntk_helpers.explorers.regimes` — notebook 10;
* :mod:`~ntk_helpers.explorers.realdata` — notebook 11.
"""

from __future__ import annotations

import importlib

_MODULES = ("function_space", "two_layer", "width", "spectral_bias", "nngp_ensembles", "jacobian_geometry", "architectures", "optimizers",
            "learning_curves", "regimes", "realdata")


def __getattr__(name):
    if name in _MODULES:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'ntk_helpers.explorers' has no attribute {name!r}")
