"""Elementwise activations φ and their derivatives φ′, by name.

The same functions serve the networks (JAX arrays) and the analytic kernels (numpy float64
arrays): each is written with ``jax.numpy`` and ``numpy`` variants chosen by the input type.
Introduced in notebook 01; the kernels of notebook 02 need φ and φ′ for Gaussian expectations.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .errors import check_choice


class Activation(NamedTuple):
    """An activation: ``fn`` = φ and ``dfn`` = φ′, each elementwise on numpy or JAX arrays."""

    name: str
    fn: Callable
    dfn: Callable


def _xp(x):
    return np if isinstance(x, (np.ndarray, np.generic, float, int)) else jnp


def _erf(x):
    if _xp(x) is np:
        # numpy has no erf: evaluate JAX's in float64 and hand back a numpy array.
        with jax.enable_x64(True):
            return np.asarray(jax.scipy.special.erf(jnp.asarray(x, dtype=jnp.float64)))
    return jax.scipy.special.erf(x)


def _relu(x):
    return _xp(x).maximum(x, 0.0)


def _drelu(x):
    xp = _xp(x)
    return xp.where(x > 0, 1.0, 0.0).astype(xp.result_type(x, 1.0))


def _derf(x):
    return 2.0 / math.sqrt(math.pi) * _xp(x).exp(-x * x)


def _tanh(x):
    return _xp(x).tanh(x)


def _dtanh(x):
    return 1.0 - _xp(x).tanh(x) ** 2


def _gelu(x):
    # exact GELU: x Φ(x)
    return 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0)))


def _dgelu(x):
    xp = _xp(x)
    return 0.5 * (1.0 + _erf(x / math.sqrt(2.0))) + x * xp.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)


def _sin(x):
    return _xp(x).sin(x)


def _dsin(x):
    return _xp(x).cos(x)


def _identity(x):
    return x


def _didentity(x):
    return _xp(x).ones_like(x)


def _softplus(x):
    xp = _xp(x)
    return xp.logaddexp(x, 0.0)


def _dsoftplus(x):
    xp = _xp(x)
    return 1.0 / (1.0 + xp.exp(-x))


_REGISTRY = {
    "relu": Activation("relu", _relu, _drelu),
    "erf": Activation("erf", _erf, _derf),
    "tanh": Activation("tanh", _tanh, _dtanh),
    "gelu": Activation("gelu", _gelu, _dgelu),
    "sin": Activation("sin", _sin, _dsin),
    "identity": Activation("identity", _identity, _didentity),
    "softplus": Activation("softplus", _softplus, _dsoftplus),
}

ACTIVATION_NAMES = tuple(_REGISTRY)


def get_activation(name: str) -> Activation:
    """Return the :class:`Activation` called ``name``.

    Example:
      >>> import numpy as np
      >>> act = get_activation("relu")
      >>> act.fn(np.array([-1.0, 2.0])), act.dfn(np.array([-1.0, 2.0]))
      (array([0., 2.]), array([0., 1.]))
    """
    check_choice("activation", name, ACTIVATION_NAMES)
    return _REGISTRY[name]
