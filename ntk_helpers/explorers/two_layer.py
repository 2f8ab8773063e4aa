"""Notebook 02's explorer: the two-layer NTK at finite and infinite width, and kernel ridge regression.

One call builds it from the notebook's network description and data set::

    explorer = nh.explorers.two_layer.kernel_explorer(net, data)

``net`` is a one-hidden-layer ``mlp`` in NTK parameterization (the notebook's is ReLU, b_std = 0.5,
width 4096). Its activation and bias are where the controls start; the controls switch the
activation (ReLU or erf), the bias (``net.b_std`` or none), the width n of the empirical kernel,
the number of training points and the ridge ρ. Three figures, stacked:

1. Θ(x₀, x) on the half circle of radius √2 (x(γ) = √2 (cos γ, sin γ), angle γ ∈ [0, π]) and the
   empirical K(x₀, x) of a network of width n;
2. the test predictions of kernel ridge regression with Θ and with K against the targets;
3. the spectral filters h(λ) of ridge regression and of gradient descent stopped at t = 1/(ηρ),
   with the eigenvalues of Θ(X, X) on the ridge filter.

Everything a slider move needs is computed when the explorer is built: the analytic kernels of
each (activation, bias), and the empirical kernels of one wide network for every width on the
slider, from its first n hidden units (:func:`ntk_by_width`). A move is a few small matrix
products on cached eigendecompositions, in numpy: no training and no JAX compilation.

The helpers :func:`first_units` and :func:`ntk_by_width` are derived in notebook 02 (section 3) and
used there; the filters are :func:`ntk_helpers.dynamics.spectral_filter` (section 8). The
``*_figure`` functions are the notebook's static figures, pure builders over the arrays the lesson
computes. Introduced in notebook 02.
"""

from __future__ import annotations

import ipywidgets
import numpy as np
import plotly.graph_objects as go

from ..activations import get_activation
from ..dynamics import spectral_filter
from ..errors import check_array, check_positive, check_positive_int, ensure_finite
from ..kernels import analytic
from ..models import astype, build, check_params
from ..network import Network, as_network
from ..plotting import COLORS, figure, plot_lines, plot_loglog_fit, plot_spectrum, role_line
from ..spectral import spectrum
from ..widgets import Explorer, float_log_slider, live, log_slider

__all__ = [
    "ACTIVATIONS",
    "N_CIRCLE",
    "angle_figure",
    "convergence_figure",
    "first_units",
    "kernel_explorer",
    "ntk_by_width",
    "outputs_by_width",
    "predictions_figure",
    "regularisation_figure",
    "spectra_figure",
]

#: The activations the explorer switches between.
ACTIVATIONS = ("relu", "erf")
#: Points on the half circle γ ∈ [0, π] of the first figure.
N_CIRCLE = 61
#: The eigenvalues λ at which the explorer draws the two spectral filters.
LAMBDA_GRID = np.geomspace(1e-5, 1e3, 200)


def _two_layer(net, name="net") -> Network:
    net = as_network(net, name)
    if net.kind != "mlp" or net.depth != 1 or net.out_dim != 1 or net.parameterization != "ntk":
        raise ValueError(f"{name} must be a one-hidden-layer mlp with one output in NTK parameterization, "
                         f"got {net.name}")
    return net


def first_units(params, n: int):
    """The parameters of the network made of the first ``n`` hidden units of a two-layer network.

    In NTK parameterization every parameter is an independent N(0, 1) draw and the width enters
    only through the forward multiplier W_std/√n, so these are the parameters of a network of
    width n: distributed as ``init`` draws them, though not the same numbers.

    Args:
      params: ``[{"W": (d, N), "b": (N,)}, {"W": (N, 1), "b": (1,)}]`` (biases optional) of a
        one-hidden-layer network of width N.
      n: 1 ≤ n ≤ N.

    Returns:
      The same structure with widths n: ``[{"W": (d, n), "b": (n,)}, {"W": (n, 1), "b": (1,)}]``.

    Example:
      >>> from ntk_helpers.models import mlp
      >>> p = first_units(mlp(8, depth=1, b_std=0.1).init(0, 2), 3)
      >>> [tuple(layer["W"].shape) for layer in p], p[0]["b"].shape
      ([(2, 3), (3, 1)], (3,))
    """
    if not isinstance(params, list | tuple) or len(params) != 2 or not all(isinstance(p, dict) and "W" in p
                                                                              for p in params):
        raise TypeError("params must be the two layers [{'W': ..., 'b': ...}, {'W': ..., 'b': ...}] of a "
                        "two-layer network")
    n = check_positive_int("n", n)
    width = np.shape(params[0]["W"])[-1]
    if n > width:
        raise ValueError(f"n must be at most the network's width {width}, got {n}")
    hidden = {key: value[..., :n] for key, value in params[0].items()}
    return [hidden, dict(params[1], W=params[1]["W"][:n])]


def _inputs(name, x, d_in):
    x = np.asarray(check_array(name, x, ndim=2), dtype=np.float64)
    if x.shape[1] != d_in or x.shape[0] < 1:
        raise ValueError(f"{name} must have shape (N, {d_in}) with N ≥ 1, got {x.shape}")
    return x


def ntk_by_width(net, params, x1, x2=None, widths=None) -> np.ndarray:
    """Empirical NTKs of the networks made of the first n hidden units, for every n in ``widths``.

    Section 1 of notebook 02 writes the kernel of a two-layer network as a sum over its hidden
    units, with z = s₁ x W + c₁ b, output multiplier s₂ = W_std/√n and c₂ = b_std
    (:meth:`~ntk_helpers.network.Network.forward_scales`):

        K_n(x, x′) = c₂² + s₂² Σ_{i<n} [ φ(zᵢ) φ(zᵢ′) + vᵢ² φ′(zᵢ) φ′(zᵢ′) Σ¹(x, x′) ],
        Σ¹(x, x′) = s₁² x·x′ + c₁².

    The partial sums over units give every width in one pass (float64). Each K_n equals
    ``empirical.layer_ntk(net.replace(width=n), first_units(params, n), x1, x2).total``.

    Args:
      net: the one-hidden-layer ``mlp`` (NTK parameterization) that ``params`` belong to.
      params: its parameters (width N = ``net.width``).
      x1: (N1, d) inputs; x2: (N2, d) inputs or None for ``x1``.
      widths: increasing widths ≤ N; default ``[net.width]``.

    Returns:
      (len(widths), N1, N2) float64.

    Example:
      >>> import numpy as np
      >>> from ntk_helpers.network import Network
      >>> from ntk_helpers.models import build
      >>> net = Network(width=64, depth=1)
      >>> k = ntk_by_width(net, build(net).init(0, 2), np.eye(2), widths=[16, 64])
      >>> k.shape
      (2, 2, 2)
    """
    net = _two_layer(net)
    d_in = check_params(net, params)
    widths = [net.width] if widths is None else [check_positive_int("widths", w) for w in widths]
    if not widths or any(b <= a for a, b in zip(widths, widths[1:])) or widths[-1] > net.width:
        raise ValueError(f"widths must be a non-empty increasing list of widths ≤ {net.width}, got {widths}")
    x1 = _inputs("x1", x1, d_in)
    x2 = x1 if x2 is None else _inputs("x2", x2, d_in)
    act = get_activation(net.activation)
    hidden, out = astype(params, np.float64)
    s1, c1 = net.forward_scales(d_in)
    v = out["W"][:, 0]

    def features(x):  # φ(zᵢ(x)) and vᵢ φ′(zᵢ(x)), each (N, width)
        z = s1 * (x @ hidden["W"]) + (c1 * hidden["b"] if "b" in hidden else 0.0)
        return act.fn(z), act.dfn(z) * v

    (a1, g1), (a2, g2) = features(x1), features(x2)
    sigma1 = s1**2 * (x1 @ x2.T) + c1**2                       # Σ¹(x, x′)
    kernels, total, start = [], np.zeros((len(x1), len(x2))), 0
    for n in widths:
        total += a1[:, start:n] @ a2[:, start:n].T + sigma1 * (g1[:, start:n] @ g2[:, start:n].T)
        s2, c2 = net.forward_scales(n)
        kernels.append(c2**2 + s2**2 * total)
        start = n
    return np.stack(kernels)


def outputs_by_width(net, params, x, widths) -> np.ndarray:
    """Outputs f(x) of the networks made of the first n hidden units, for every n in ``widths``.

    f_n(x) = c₂ b + s₂(n) Σ_{i<n} vᵢ φ(zᵢ(x)), with s₂(n) = W_std/√n (partial sums over the units
    of one network, float64), so every width has the same output variance Σ(x, x) at
    initialisation. Each row equals ``build(net.replace(width=n)).apply(first_units(params, n), x)``.
    Introduced in notebook 02.

    Args:
      net: the one-hidden-layer ``mlp`` (NTK parameterization) that ``params`` belong to.
      params: its parameters; x: (N, d) inputs; widths: increasing widths ≤ ``net.width``.

    Returns:
      (len(widths), N) float64.

    Example:
      >>> import numpy as np
      >>> from ntk_helpers.network import Network
      >>> net = Network(width=8, depth=1, b_std=0.1)
      >>> outputs_by_width(net, build(net).init(0, 2), np.ones((3, 2)), [2, 8]).shape
      (2, 3)
    """
    net = _two_layer(net)
    d_in = check_params(net, params)
    widths = [check_positive_int("widths", w) for w in widths]
    if not widths or any(b <= a for a, b in zip(widths, widths[1:])) or widths[-1] > net.width:
        raise ValueError(f"widths must be a non-empty increasing list of widths ≤ {net.width}, got {widths}")
    x = _inputs("x", x, d_in)
    hidden, out = astype(params, np.float64)
    s1, c1 = net.forward_scales(d_in)
    z = s1 * (x @ hidden["W"]) + (c1 * hidden["b"] if "b" in hidden else 0.0)
    partial = np.cumsum(get_activation(net.activation).fn(z) * out["W"][:, 0], axis=1)  # Σ_{i<n} vᵢ φ(zᵢ)
    bias = net.forward_scales(1)[1] * out["b"][0] if "b" in out else 0.0
    return np.stack([net.forward_scales(n)[0] * partial[:, n - 1] + bias for n in widths])

class _RidgeCache:
    """Kernel ridge regression on the first m training points, one eigendecomposition per kernel."""

    def __init__(self, y_train):
        self.y = y_train
        self.spectra = {}

    def predict(self, key, k_train, k_test, ridge):
        if key not in self.spectra:
            lam, vecs = spectrum(k_train)
            self.spectra[key] = (np.clip(lam, 0.0, None), vecs)
        lam, vecs = self.spectra[key]
        coef = vecs @ ((vecs.T @ self.y[: len(lam)]) / (lam + ridge))  # (K + ρI)⁻¹ y
        return k_test @ coef, lam


def _stacked_figure(title, xlabel, ylabel, log_x=False):
    """A course figure with its legend below the plot, so a long title never meets it."""
    fig = figure(title, xlabel, ylabel, log_x=log_x, height=440)
    legend = dict(orientation="h", x=0.0, xanchor="left", y=0.0, yanchor="bottom", yref="container")
    fig.update_layout(legend=legend, margin=dict(t=65, b=120))
    return live(fig)


def _explorer_data(net, data, widths, seed):
    """Every kernel the explorer shows, per (activation, bias): rows x₀, X, X_test; columns circle, X."""
    x_train = _inputs("data.x_train", data.x_train, 2)
    x_test = _inputs("data.x_test", data.x_test, 2)
    gamma = np.linspace(0.0, np.pi, N_CIRCLE)
    circle = np.sqrt(2.0) * np.stack([np.cos(gamma), np.sin(gamma)], axis=1)
    rows = np.vstack([circle[:1], x_train, x_test])
    cols = np.vstack([circle, x_train])
    kernels = {}
    for activation in ACTIVATIONS:
        for bias in (False, True):
            config = net.replace(activation=activation, b_std=net.b_std if bias else None)
            params = build(config).init(seed, 2)
            kernels[activation, bias] = (analytic(config, rows, cols).ntk,
                                         ntk_by_width(config, params, rows, cols, widths))
    return gamma, kernels


def kernel_explorer(net, data, *, widths=None, seed: int = 0, width: int = 256, ridge: float = 1e-3) -> Explorer:
    """The explorer of notebook 02 §9: Θ against K on the circle, ridge regression, spectral filters.

    Args:
      net: a one-hidden-layer ``mlp`` in NTK parameterization with ``b_std`` set (the bias the
        checkbox switches on) and activation ``"relu"`` or ``"erf"``; its width is that of the
        wide network whose first n units give the empirical kernels.
      data: a :class:`~ntk_helpers.data.Dataset` with 2-D inputs and at least 5 training points.
      widths: the widths on the slider, increasing, ≤ ``net.width``; default the powers of two
        from 16 to ``net.width``.
      seed: the seed of the wide network (one network per (activation, bias)).
      width: the slider's initial width (one of ``widths``).
      ridge: the initial ridge ρ, in [10⁻⁶, 10].

    Returns:
      An :class:`~ntk_helpers.widgets.Explorer` with controls ``width``, ``n_train``, ``ridge``,
      ``activation``, ``bias`` and three figures (kernel on the circle, test predictions, filters).
      Its ``kernels`` attribute maps (activation, bias) to (Θ, K by width), rows (x₀, X, X_test),
      columns (circle, X).
    """
    net = _two_layer(net)
    if net.width is None or net.b_std is None or net.activation not in ACTIVATIONS:
        raise ValueError(f"net needs a finite width, b_std set and an activation in {ACTIVATIONS}, "
                         f"got {net.name}")
    if widths is None:
        widths = [w for w in (16 * 2**k for k in range(12)) if w < net.width] + [net.width]
    widths = [check_positive_int("widths", w) for w in widths]
    if width not in widths:
        raise ValueError(f"width must be one of widths {widths}, got {width!r}")
    if not 1e-6 <= check_positive("ridge", ridge) <= 10:
        raise ValueError(f"ridge must be in [1e-6, 10], got {ridge}")
    y_train = np.asarray(check_array("data.y_train", data.y_train, ndim=1), dtype=np.float64)
    y_test = np.asarray(check_array("data.y_test", data.y_test, ndim=1), dtype=np.float64)
    if (len(y_train), len(y_test)) != (len(data.x_train), len(data.x_test)) or len(y_train) < 5:
        raise ValueError("data needs one target per input and at least 5 training points")
    gamma, kernels = _explorer_data(net, data, widths, seed)
    n_all, n_c = len(y_train), N_CIRCLE
    cache = _RidgeCache(y_train)
    circle, scatter, filters = _figures()
    diagonal = np.array([y_test.min(), y_test.max()])

    def update(v):
        m, rho, config = v["n_train"], v["ridge"], (v["activation"], v["bias"])
        theta, empirical = kernels[config]
        k = empirical[widths.index(v["width"])]
        train = (slice(1, 1 + m), slice(n_c, n_c + m))          # first m training points
        test = (slice(1 + n_all, None), slice(n_c, n_c + m))     # test points × first m
        circle.data[0].update(x=gamma, y=theta[0, :n_c])
        circle.data[1].update(x=gamma, y=k[0, :n_c], name=f"K (empirical, n = {v['width']})")
        error = np.linalg.norm(k[train] - theta[train]) / np.linalg.norm(theta[train])
        circle.layout.title.text = f"Θ(x₀, x) on the circle · error of K: {error:.3f}"
        pred_a, lam = cache.predict((*config, None, m), theta[train], theta[test], rho)
        pred_e, _ = cache.predict((*config, v["width"], m), k[train], k[test], rho)
        scatter.data[0].update(x=diagonal, y=diagonal)
        scatter.data[1].update(x=y_test, y=ensure_finite("the analytic prediction", pred_a))
        scatter.data[2].update(x=y_test, y=ensure_finite("the empirical prediction", pred_e),
                               name=f"empirical K, n = {v['width']}")
        mse = [np.mean((p - y_test) ** 2) for p in (pred_a, pred_e)]
        scatter.layout.title.text = f"Test MSE: analytic {mse[0]:.4f}, empirical {mse[1]:.4f}"
        # GD stopped at t = 1/(ηρ) has h = 1 − e^(−λ/ρ) for any η: take η = 1
        filters.data[0].update(x=LAMBDA_GRID, y=spectral_filter(LAMBDA_GRID, np.inf, 1.0, ridge=rho))
        filters.data[1].update(x=LAMBDA_GRID, y=spectral_filter(LAMBDA_GRID, 1.0 / rho, 1.0))
        on_ridge = spectral_filter(lam, np.inf, 1.0, ridge=rho)
        filters.data[2].update(x=np.clip(lam, 1e-12, None), y=on_ridge)   # λ = 0 cannot sit on a log axis

    n_train = list(range(5, n_all + 1, 5))
    controls = {
        "width": log_slider("width n", widths, width),
        "n_train": ipywidgets.SelectionSlider(options=n_train, value=n_train[-1], description="n train"),
        "ridge": float_log_slider("ridge ρ", -6, 1, ridge, step=0.25),
        "activation": ipywidgets.ToggleButtons(options=list(ACTIVATIONS), value=net.activation,
                                               description="activation"),
        "bias": ipywidgets.Checkbox(value=True, description=f"bias (b_std = {net.b_std:g})"),
    }
    explorer = Explorer(controls, [circle, scatter, filters], update, title="The two-layer NTK, live")
    explorer.kernels = kernels
    return explorer


def _figures():
    """The three live figures, with named traces (data arrives with the first update)."""
    circle = _stacked_figure("Θ(x₀, x) on the circle", "angle γ between x₀ and x (radians)", "kernel")
    circle.add_scatter(mode="lines", **role_line("analytic", name="Θ (analytic)"))
    circle.add_scatter(mode="markers", name="K (empirical)", marker=dict(color=COLORS["empirical"], size=7))
    scatter = _stacked_figure("Test predictions", "target y", "prediction")
    scatter.add_scatter(mode="lines", **role_line("target", name="prediction = target"))
    scatter.add_scatter(mode="markers", name="analytic Θ",
                        marker=dict(color=COLORS["analytic"], symbol="circle-open", size=8))
    scatter.add_scatter(mode="markers", name="empirical K",
                        marker=dict(color=COLORS["empirical"], symbol="diamond", size=6))
    filters = _stacked_figure("Spectral filters", "eigenvalue λ of Θ(X, X)", "h(λ)", log_x=True)
    filters.add_scatter(mode="lines", name="ridge λ/(λ + ρ)", line=dict(color=COLORS["analytic"], width=2.5))
    filters.add_scatter(mode="lines", name="GD 1 − e^(−ηλt), t = 1/(ηρ)",
                        line=dict(color=COLORS["network"], dash="dash", width=2.5))
    filters.add_scatter(mode="markers", name="eigenvalues of Θ(X, X)",
                        marker=dict(color=COLORS["data"], size=6))
    return circle, scatter, filters


# --------------------------------------------------------------------------- the static figures


def angle_figure(gamma, curves) -> go.Figure:
    """Kernels Θ(x₀, x(γ)) against the angle γ on the circle (§1); ``curves``: label → (len(gamma),)."""
    return plot_lines(gamma, curves, title="The two-layer ReLU NTK on the circle of radius √2",
                      xlabel="angle γ between x₀ and x (radians)", ylabel="Θ(x₀, x)")


def convergence_figure(widths, rms_error, fit) -> go.Figure:
    """‖K − Θ‖/‖Θ‖ against the width with the fitted power law ``fit`` (a ``stats.loglog_fit``) (§3)."""
    return plot_loglog_fit(widths, rms_error, fit.slope, fit.intercept,
                           label="‖K − Θ‖ / ‖Θ‖ (rms over seeds)",
                           title="The empirical NTK converges to the formula like n^(−1/2)",
                           xlabel="width n", ylabel="relative Frobenius error")


_SYMBOLS = {"analytic": "circle-open", "empirical": "diamond", "network": "x"}


def predictions_figure(y_test, predictions) -> go.Figure:
    """Predictions against the targets (§5); ``predictions``: role of ``plotting.COLORS`` → (label, (M,))."""
    y_test = np.asarray(check_array("y_test", y_test, ndim=1), dtype=np.float64)
    fig = figure("Predictions on the test points", "target y", "prediction")
    line = [y_test.min(), y_test.max()]
    fig.add_scatter(x=line, y=line, mode="lines", **role_line("target", name="prediction = target"))
    for role, (label, pred) in predictions.items():
        if role not in COLORS:
            raise ValueError(f"predictions keys must be roles of plotting.COLORS {tuple(COLORS)}, got {role!r}")
        check_array(f"predictions[{role!r}]", pred, ndim=1, dim=len(y_test))
        fig.add_scatter(x=y_test, y=np.asarray(pred, dtype=np.float64), mode="markers", name=label,
                        marker=dict(color=COLORS[role], symbol=_SYMBOLS.get(role, "circle"), size=7))
    return fig



def spectra_figure(spectra) -> go.Figure:
    """Eigenvalues of the NTK and of the input-gradient "kernel" (§6); ``spectra``: label → (N,)."""
    return plot_spectrum(spectra, title="Two nonzero eigenvalues: the input-gradient kernel has rank 2")


def regularisation_figure(ridges, mse_ridge, mse_gd) -> go.Figure:
    """Test error of ridge regression and of gradient descent stopped at t = 1/(ηρ), against ρ (§8)."""
    paths = {"ridge ρ": mse_ridge, "gradient descent stopped at t = 1/(ηρ)": mse_gd}
    return plot_lines(ridges, paths, colors=[COLORS["analytic"], COLORS["network"]], log_x=True, log_y=True,
                      title="Ridge and early stopping: alike at small ρ, not in between", xlabel="ρ (and 1/(ηt))",
                      ylabel="test MSE")
