"""Notebook 07's explorers: the kernel of an architecture as depth, scales and shifts change, and the erf phase diagram.

The notebook derives the recursions; the numerics are in :mod:`ntk_helpers.architectures`. Here:

* :func:`signals` — the explorer's test signals (smooth random 1-D signals, one channel);
* :func:`kernel_explorer` — architecture (fully connected, ResNet, ResNet with 1/√L branches,
  CNN + pooling, CNN + flatten), depth L, W_std, b_std, filter size, shift: the normalised NTK
  between the signals and their shifted copies (figure 0), and the spread of its correlations and
  its condition number at every depth 1 … 50 (figure 1);
* :func:`phase_explorer` — the depth scale ξ of erf networks over the (W_std², b_std²) plane with
  the order-to-chaos line χ₁ = 1 and a point moved by sliders or by a click (figure 0), and the
  condition number of that point's NTK against depth (figure 1);
* :func:`profile_stats` — the two numbers per depth that figure 1 draws.

A setting's kernels at all 50 depths come from one pass of the recursion and are cached, so a
depth move only looks them up. Nothing here uses JAX: no slider move compiles.
How it stays fast: ``docs/developers.md``, "Notebook 07". Introduced in notebook 07.
"""

from __future__ import annotations

import ipywidgets
import numpy as np

from .. import architectures as arch
from .. import plotting, widgets
from ..errors import as_float_array, check_choice, check_positive_int
from ..network import Network

__all__ = ["ARCHITECTURES", "kernel_explorer", "phase_explorer", "profile_stats", "signals"]

#: The architectures the kernel explorer offers: label → (Network kind, option).
ARCHITECTURES = {
    "fully connected": ("mlp", None),
    "ResNet": ("resnet", 1.0),
    "ResNet, branches × 1/√L": ("resnet", "sqrt"),
    "CNN + global average pooling": ("cnn1d", "pool"),
    "CNN + flatten + dense": ("cnn1d", "flatten"),
}
MAX_DEPTH = 50
DEFAULT_HEAT_WIDTH = 700


def signals(n: int = 6, length: int = 12, seed: int = 0) -> np.ndarray:
    """n smooth random signals of shape (length, 1), each scaled to |x|² = length.

    Example:
      >>> signals(3, 8).shape
      (3, 8, 1)
    """
    n, length = check_positive_int("n", n), check_positive_int("length", length)
    rng = np.random.default_rng(check_positive_int("seed", seed + 1) - 1)
    x = rng.normal(size=(n, length))
    x = x + np.roll(x, 1, axis=1)  # neighbours correlated: a local pattern for the filters to find
    x *= np.sqrt(length) / np.linalg.norm(x, axis=1, keepdims=True)
    return x[:, :, None]


def profile_stats(ntk, n: int):
    """(spread, condition number) of the first n × n block of each kernel in a (D, M, M) stack.

    The spread is max − min of the normalised kernel's off-diagonal entries: 0 when every pair
    of distinct inputs looks the same to the kernel.
    """
    ntk = as_float_array("ntk", ntk, ndim=3)
    block = ntk[:, :n, :n]
    corr = arch.normalised(block)
    off = corr[:, ~np.eye(n, dtype=bool)]
    ev = np.linalg.eigvalsh(block / np.abs(block).max(axis=(1, 2), keepdims=True))
    return off.max(axis=1) - off.min(axis=1), ev[:, -1] / np.maximum(ev[:, 0], ev[:, -1] * 1e-17)


class _Profiles:
    """Kernels of every setting at depths 1 … 50, computed on first use and cached."""

    def __init__(self, x):
        self.x, self.cache = x, {}

    def get(self, label, W_std, b_std, filter_size, shift):
        key = (label, W_std, b_std, filter_size if ARCHITECTURES[label][0] == "cnn1d" else 0, shift)
        if key not in self.cache:
            kind, option = ARCHITECTURES[label]
            both = np.concatenate([self.x, arch.shift(self.x, shift)])
            net = Network(kind, None, MAX_DEPTH, W_std=W_std, b_std=b_std or None, filter_size=filter_size)
            depths = np.arange(1, MAX_DEPTH + 1)
            if kind == "cnn1d":
                profile = arch.cnn_profile(net, both, depths=depths, readout=option)
            else:
                flat = both[:, :, 0]
                profile = arch.depth_profile(net, flat, depths=depths, **({} if option is None else {"branch_scale": option}))
            self.cache[key] = (profile.ntk, *profile_stats(profile.ntk, len(self.x)))
        return self.cache[key]


def kernel_explorer(x=None, *, architecture: str = "CNN + global average pooling", depth: int = 10,
                    W_std: float = 2**0.5, b_std: float = 0.0, filter_size: int = 3, shift: int = 3) -> widgets.Explorer:
    """The architecture explorer: the normalised NTK of M signals against their shifts, and its depth profile.

    Figure 0: Θ(x_i, y_j)/√(Θ(x_i, x_i) Θ(y_j, y_j)) with rows the signals x_i and columns the
    signals followed by their copies shifted by ``shift`` positions (an M × 2M heatmap): for a
    kernel invariant to shifting one input, the two halves are equal. Figure 1: against depth
    1 … 50, the spread of the normalised correlations between distinct signals and the condition
    number of Θ on them, with the selected depth marked.

    Args:
      x: (M, length, 1) signals (default :func:`signals`); the fully connected and residual
        networks see them flattened.
      architecture: a key of :data:`ARCHITECTURES`; depth, W_std, b_std (0: no bias),
        filter_size, shift: the initial values of the controls.
    """
    x = signals() if x is None else as_float_array("x", x, ndim=3)
    if x.shape[2] != 1:
        raise ValueError(f"x must have one channel, shape (M, length, 1), got {x.shape}")
    check_choice("architecture", architecture, tuple(ARCHITECTURES))
    m, length = x.shape[:2]
    profiles = _Profiles(x)
    labels = [f"x{i + 1}" for i in range(m)]
    heat = widgets.live(plotting.plot_heatmap(np.zeros((m, 2 * m)), x=list(range(2 * m)), y=list(range(m)),
                                              colorbar_title="normalised Θ", width=DEFAULT_HEAT_WIDTH,
                                              xlabel="x_j, then x_j shifted", ylabel="x_i"))
    heat.data[0].update(zmin=-1, zmax=1, zmid=0, colorscale="RdBu_r", name="normalised NTK")
    heat.update_xaxes(tickmode="array", tickvals=list(range(2 * m)), ticktext=labels + [f"S{label}" for label in labels])
    heat.update_yaxes(tickmode="array", tickvals=list(range(m)), ticktext=labels)
    depth_fig = widgets.live(plotting.figure("", "depth L", "", log_y=True))
    depths = np.arange(1, MAX_DEPTH + 1)
    depth_fig.add_scatter(x=depths, y=np.ones(MAX_DEPTH), mode="lines", name="spread of normalised Θ (max − min)",
                          line=dict(color=plotting.COLORS["analytic"], width=2.5))
    depth_fig.add_scatter(x=depths, y=np.ones(MAX_DEPTH), mode="lines", name="condition number of Θ",
                          line=dict(color=plotting.COLORS["network"], width=2.5, dash="dash"))
    depth_fig.add_scatter(x=[1, 1], y=[1, 1], mode="markers", name="selected depth",
                          marker=dict(color="black", size=10, symbol="circle-open"))

    def update(v):
        ntk, spread, cond = profiles.get(v["architecture"], v["W_std"], v["b_std"], v["filter_size"], v["shift"])
        i = v["depth"] - 1
        corr = arch.normalised(ntk[i])[:m]
        heat.data[0].update(z=corr, x=list(range(2 * m)), y=list(range(m)))
        heat.layout.title.text = f"{v['architecture']}, L = {v['depth']}: normalised Θ, shift {v['shift']}"
        depth_fig.data[0].update(x=depths, y=np.maximum(spread, 1e-16))
        depth_fig.data[1].update(x=depths, y=cond)
        depth_fig.data[2].update(x=[v["depth"]] * 2, y=[max(spread[i], 1e-16), cond[i]])
        depth_fig.layout.title.text = f"{v['architecture']}: correlations and conditioning against depth"

    controls = {
        "architecture": ipywidgets.Dropdown(options=list(ARCHITECTURES), value=architecture, description="architecture"),
        "depth": ipywidgets.IntSlider(value=check_positive_int("depth", depth), min=1, max=MAX_DEPTH,
                                      description="depth L"),
        "W_std": widgets.log_slider("W_std", [0.5, 1.0, 2**0.5, 2.0], W_std,
                                    labels=["0.5", "1", "√2", "2"]),
        "b_std": widgets.log_slider("b_std (0: no bias)", [0.0, 0.1, 0.5, 1.0], b_std, labels=str),
        "filter_size": widgets.log_slider("filter size (CNN)", [3, 5, 7], filter_size, labels=str),
        "shift": ipywidgets.IntSlider(value=int(shift), min=0, max=length - 1, description="shift"),
    }
    return widgets.Explorer(controls, [heat, depth_fig], update, title="Architectures as kernels")



def phase_explorer(*, W2=None, b2=None, point=(1.5, 0.05), depths=(1, 2, 5, 10, 20, 50, 100)) -> widgets.Explorer:
    """The order-to-chaos phase diagram of erf networks, with a point whose NTK is followed in depth.

    Figure 0: log₁₀ ξ, the depth scale of :func:`ntk_helpers.architectures.depth_scale`, over the
    grid of (W_std², b_std²), the line χ₁ = 1 (:func:`~ntk_helpers.architectures.critical_W_std`)
    and the selected point (moved by the two sliders, or by a click on the heatmap). Figure 1:
    the condition number of the analytic NTK of that erf network on six signals (flattened
    :func:`signals`), and the spread of its normalised correlations, at each of ``depths``.
    """
    W2 = np.linspace(0.3, 4.0, 38) if W2 is None else as_float_array("W2", W2, ndim=1)
    b2 = np.linspace(0.0, 0.5, 21)[1:] if b2 is None else as_float_array("b2", b2, ndim=1)
    if np.any(W2 <= 0) or np.any(b2 <= 0):
        raise ValueError("W2 and b2 must be positive (b_std² > 0 keeps q* > 0)")
    grid = arch.depth_scale(np.sqrt(W2)[None, :], np.sqrt(b2)[:, None])
    line = arch.critical_W_std(np.sqrt(b2)) ** 2
    depths = np.asarray(depths, dtype=int)
    x = signals()[:, :, 0]
    fig = widgets.live(plotting.figure("", "W_std²", "b_std²", legend="top"))
    fig.add_heatmap(x=W2, y=b2, z=np.log10(grid.xi), colorscale="Viridis", name="log₁₀ ξ",
                    colorbar=dict(title=dict(text="log₁₀ ξ", side="right"), thickness=14))
    fig.add_scatter(x=line, y=b2, mode="lines", name="χ₁ = 1 (order | chaos)", line=dict(color="white", width=3))
    fig.add_scatter(x=[point[0]], y=[point[1]], mode="markers", name="selected network",
                    marker=dict(color="red", size=12, symbol="x"))
    cond_fig = widgets.live(plotting.figure("", "depth L", "", log_x=True, log_y=True))
    cond_fig.add_scatter(x=depths, y=np.ones(len(depths)), mode="lines+markers", name="condition number of Θ",
                         line=dict(color=plotting.COLORS["network"], width=2.5))
    cond_fig.add_scatter(x=depths, y=np.ones(len(depths)), mode="lines+markers",
                         name="spread of normalised Θ (max − min)", line=dict(color=plotting.COLORS["analytic"], width=2.5))

    def update(v):
        w2, bb2 = v["W2"], v["b2"]
        fig.data[2].update(x=[w2], y=[bb2])
        i, j = int(np.argmin(abs(b2 - bb2))), int(np.argmin(abs(W2 - w2)))  # the sliders hold grid values
        chi, xi = grid.chi1[i, j], grid.xi[i, j]
        fig.layout.title.text = (f"W_std² = {w2:.2f}, b_std² = {bb2:.3f}: χ₁ = {chi:.3f} "
                                 f"({'ordered' if chi < 1 else 'chaotic'}), ξ = {xi:.3g}")
        profile = arch.depth_profile(Network("mlp", None, 1, "erf", W_std=np.sqrt(w2), b_std=np.sqrt(bb2)), x, depths=depths)
        spread, cond = profile_stats(profile.ntk, len(x))
        cond_fig.data[0].update(x=depths, y=cond)
        cond_fig.data[1].update(x=depths, y=np.maximum(spread, 1e-16))
        cond_fig.layout.title.text = f"erf network at W_std² = {w2:.2f}, b_std² = {bb2:.3f}: its NTK against depth"

    controls = {
        "W2": widgets.log_slider("W_std²", [float(w) for w in W2], float(W2[np.argmin(abs(W2 - point[0]))]),
                                 labels=lambda w: f"{w:.2f}"),
        "b2": widgets.log_slider("b_std²", [float(b) for b in b2], float(b2[np.argmin(abs(b2 - point[1]))]),
                                 labels=lambda b: f"{b:.3f}"),
    }
    ex = widgets.Explorer(controls, [fig, cond_fig], update, title="Order, chaos and the depth scale (erf)")

    def click(trace, points, state):
        if points.xs:
            ex.set("W2", controls["W2"].options[np.argmin(abs(W2 - points.xs[0]))][1])
            ex.set("b2", controls["b2"].options[np.argmin(abs(b2 - points.ys[0]))][1])

    fig.data[0].on_click(click)
    ex.click = click
    ex.grid = grid
    return ex
