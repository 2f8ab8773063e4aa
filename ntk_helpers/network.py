"""One description of a network, from which its model, its analytic and its empirical kernels come.

A :class:`Network` is a small frozen value: the architecture (``kind``), its width (or channel
count), depth, activation, ``W_std``, ``b_std``, parameterization and, for convolutions, the
filter size. Everything else about that network is computed *from this value*:

* ``models.build(net)`` (or ``models.mlp(...)``) gives its ``init``/``apply`` pair;
* ``kernels.analytic(net, x1, x2)`` gives its infinite-width NNGP and NTK;
* ``empirical.empirical_ntk(model, params, x1, x2)`` and ``empirical.layer_ntk(net, params, x1,
  x2)`` give the kernel of one finite network, the latter layer by layer.

The scale factors of a layer in each parameterization are written here once
(:meth:`Network.forward_scales`, :meth:`Network.init_stds`, :meth:`Network.kernel_coefficients`),
so the model, the analytic recursion and the structured empirical kernel cannot disagree.

This module imports nothing of the rest of the package except :mod:`ntk_helpers.errors` and
:mod:`ntk_helpers.activations`: the other modules import it, never the other way round.

Introduced in notebook 01 (``Network`` and ``models.build``); notebook 02 derives the kernel
recursion that :meth:`Network.kernel_coefficients` encodes.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from .activations import ACTIVATION_NAMES
from .errors import check_choice, check_nonneg, check_positive_int

KINDS = ("mlp", "resnet", "cnn1d")
MAX_DEPTH = 10_000  # beyond this no kernel or model of the course is meaningful (or finite)
_SCALE_MIN, _SCALE_MAX = 1e-100, 1e100  # W_std, b_std: squares and products stay far from float64's limits
PARAMETERIZATIONS = ("ntk", "standard")


@dataclass(frozen=True)
class Network:
    """A network's architecture and initialisation, in neural-tangents' conventions.

    A dense layer with fan-in n_in computes z = (W_std/√n_in) h W + b_std b with W, b ~ N(0, 1)
    (NTK parameterization, Jacot et al. 2018, arXiv:1806.07572) or z = h W + b with
    W ~ N(0, W_std²/n_in), b ~ N(0, b_std²) (standard parameterization). A convolution is a dense
    layer applied to each window of ``filter_size`` positions (fan-in = filter_size · c_in).

    Attributes:
      kind: ``"mlp"`` (fully connected), ``"resnet"`` (residual blocks h ← h + Dense(φ(h))) or
        ``"cnn1d"`` (1-D convolutions, circular padding, global average pooling).
      width: units per hidden layer (channels for ``cnn1d``); ``None`` describes the
        infinite-width network, which has analytic kernels but no finite model.
      depth: L, hidden layers (residual blocks, convolutional layers), ≥ 1.
      activation: a name from :data:`ntk_helpers.activations.ACTIVATION_NAMES`.
      W_std: weight scale ≥ 0.
      b_std: bias scale ≥ 0, or ``None`` for layers without bias.
      parameterization: ``"ntk"`` or ``"standard"``.
      filter_size: the convolution's filter width (``cnn1d`` only; ignored otherwise).
      out_dim: number of outputs (1 gives f of shape (N,)).

    Example:
      >>> net = Network("mlp", width=512, depth=2, b_std=0.1)
      >>> net.name
      'mlp(width=512, depth=2, relu, W_std=1, b_std=0.1, ntk)'
      >>> net.forward_scales(fan_in=4)  # (W multiplier, b multiplier) in the forward pass
      (0.5, 0.1)
      >>> net.replace(parameterization="standard").init_stds(fan_in=4)
      (0.5, 0.1)
    """

    kind: str = "mlp"
    width: int | None = 512
    depth: int = 1
    activation: str = "relu"
    W_std: float = 1.0
    b_std: float | None = None
    parameterization: str = "ntk"
    filter_size: int = 3
    out_dim: int = 1

    def __post_init__(self):
        check_choice("kind", self.kind, KINDS)
        size = "channels" if self.kind == "cnn1d" else "width"
        if self.width is not None:
            object.__setattr__(self, "width", check_positive_int(size, self.width))
        object.__setattr__(self, "depth", check_positive_int("depth", self.depth))
        if self.depth > MAX_DEPTH:
            raise ValueError(f"depth must be at most {MAX_DEPTH} (deeper kernels overflow or lose all "
                             f"structure, and the work grows with depth), got {self.depth}")
        if not isinstance(self.activation, str):
            raise TypeError(f"activation must be one of {ACTIVATION_NAMES}, got {self.activation!r}")
        check_choice("activation", self.activation, ACTIVATION_NAMES)
        for name in ("W_std", "b_std"):
            value = check_nonneg(name, getattr(self, name), allow_none=name == "b_std")
            if value is not None and value != 0 and not _SCALE_MIN <= value <= _SCALE_MAX:
                raise ValueError(f"{name} must be 0 or between {_SCALE_MIN:g} and {_SCALE_MAX:g} (its square and the "
                                 f"kernel's products must fit in float64), got {value:g}")
            object.__setattr__(self, name, value)
        if not isinstance(self.parameterization, str):
            raise TypeError(f"parameterization must be one of {PARAMETERIZATIONS}, got {self.parameterization!r}")
        check_choice("parameterization", self.parameterization, PARAMETERIZATIONS)
        object.__setattr__(self, "filter_size", check_positive_int("filter_size", self.filter_size))
        object.__setattr__(self, "out_dim", check_positive_int("out_dim", self.out_dim))
        if self.width is None and self.parameterization == "standard":
            raise ValueError(f"{size} is required with parameterization='standard' (its NTK grows with the {size})")

    # ------------------------------------------------------------------ the scale factors, once

    def forward_scales(self, fan_in: int) -> tuple[float, float]:
        """(w, c): a layer with this fan-in computes z = w · h W + c · b in the forward pass."""
        if self.parameterization == "ntk":
            return self.W_std / math.sqrt(fan_in), (self.b_std or 0.0)
        return 1.0, 1.0

    def init_stds(self, fan_in: int) -> tuple[float, float]:
        """Standard deviations of the entries of W and of b at initialisation."""
        if self.parameterization == "ntk":
            return 1.0, 1.0
        return self.W_std / math.sqrt(fan_in), (self.b_std or 0.0)

    def kernel_coefficients(self, fan_in: int | None) -> tuple[float, float]:
        """(a, c) such that this layer maps the NTK as Θ ← a Σ + c + W_std² Θ.

        Σ is the layer's input kernel (before the W_std² scaling): the gradient with respect to W
        contributes (its forward multiplier)² × n_in × Σ, with respect to b (its multiplier)².
        NTK parameterization: (W_std², b_std²); standard: (n_in, 1 with a bias else 0).
        """
        if self.parameterization == "ntk":
            return self.W_std**2, (self.b_std or 0.0) ** 2
        if fan_in is None:
            raise ValueError("width is required with parameterization='standard'")
        return float(fan_in), (0.0 if self.b_std is None else 1.0)

    # ------------------------------------------------------------------ shapes and names

    def weight_shapes(self, d_in: int) -> list[tuple[int, ...]]:
        """The weight shape of every layer, input to output; a shape's last entry is its fan-out.

        Example:
          >>> Network("cnn1d", width=8, depth=2, filter_size=3).weight_shapes(1)
          [(3, 1, 8), (3, 8, 8), (8, 1)]
        """
        d_in = check_positive_int("d_in", d_in)
        n = self.finite_width()
        if self.kind == "mlp":
            sizes = [d_in] + [n] * self.depth + [self.out_dim]
            return list(zip(sizes[:-1], sizes[1:]))
        if self.kind == "resnet":
            return [(d_in, n)] + [(n, n)] * self.depth + [(n, self.out_dim)]
        k = self.filter_size
        return [(k, d_in, n)] + [(k, n, n)] * (self.depth - 1) + [(n, self.out_dim)]

    def finite_width(self) -> int:
        """The width as an int; a ValueError for the infinite-width description (width=None)."""
        if self.width is None:
            raise ValueError(f"{self.name} has width=None (infinite width): give a finite width for a model")
        return self.width

    def replace(self, **changes) -> Network:
        """A copy with some attributes changed (validated again).

        Example:
          >>> Network(width=64).replace(width=4096).width
          4096
        """
        return dataclasses.replace(self, **changes)

    @property
    def name(self) -> str:
        """A short readable description."""
        size = "channels" if self.kind == "cnn1d" else "width"
        width = "∞" if self.width is None else str(self.width)
        parts = [f"{size}={width}", f"depth={self.depth}", self.activation, f"W_std={self.W_std:g}"]
        if self.b_std is not None:
            parts.append(f"b_std={self.b_std:g}")
        if self.kind == "cnn1d":
            parts.append(f"filter_size={self.filter_size}")
        if self.out_dim != 1:
            parts.append(f"out_dim={self.out_dim}")
        parts.append(self.parameterization)
        return f"{self.kind}({', '.join(parts)})"


def as_network(value, name: str = "net") -> Network:
    """The :class:`Network` of a ``Network`` or of a model carrying one (``model.network``)."""
    if isinstance(value, Network):
        return value
    net = getattr(value, "network", None)
    if isinstance(net, Network):
        return net
    raise TypeError(f"{name} must be a Network or a Model built from one, got {type(value).__name__}")
