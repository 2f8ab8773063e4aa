"""Notebook 04 (spectral bias): Fourier features on the circle, cached runs and the two explorers.

The notebook derives the maths: the NTK of a fully connected network on a uniform grid of the
circle is a circulant matrix, its eigenvectors are Fourier modes and its eigenvalues λ_k the
discrete Fourier transform of one kernel row; under gradient descent the residual at frequency k
shrinks by (1 − ηλ_k) per step. This module holds what the notebook and its explorers reuse:

* :func:`feature_weights` and :func:`features` — the Fourier feature map ψ of scale s;
* :func:`circle_spectrum` — λ_0 … λ_{N/2} of a network's analytic NTK from one kernel row;
  :func:`sphere_spectrum` — its eigenvalues on the sphere S^{d−1} (Funk–Hecke);
* :func:`rotation_change`, :func:`density_angles`, :func:`fourier_purity` — what breaks the
  Fourier picture: one finite network, and data of non-uniform density;
* :class:`KernelFits`, :func:`kernel_explorer` — closed-form gradient descent with the NTK;
* :class:`CircleRuns`, :func:`network_explorer` — real networks trained on the circle, cached,
  with the linearised network's loss beside them (:func:`linear_losses`, :func:`outcome`);
* :func:`residual_figure`, :func:`filter_figure`, :func:`spectrum_figure`, :func:`loss_figure`,
  :func:`density_figure` — the notebook's static figures.

Every network is one :class:`~ntk_helpers.network.Network`: its analytic kernel (``width=None``)
and its finite model (the same description with a width) come from it. The numerics and the runs
live in ``_spectral_bias_numerics`` and ``_spectral_bias_runs`` (re-exported here, so the notebook
and the tests see one module). How the explorers stay fast: ``docs/developers.md`` (notebook 04).
"""

from __future__ import annotations

import ipywidgets
import numpy as np
import plotly.graph_objects as go

from .. import data, dynamics, kernels, plotting, spectral, widgets
from ..errors import check_array, check_nonneg, check_positive_int
from ..network import Network, as_network
from ._spectral_bias_numerics import (
    N_FREQS,
    circle_spectrum,
    density_angles,
    feature_weights,
    features,
    fourier_purity,
    rotation_change,
    sphere_spectrum,
)
from ._spectral_bias_runs import CircleRuns, Run, decay_rates, linear_losses, outcome

__all__ = [
    "ETA_RATIOS", "FLOOR", "MIXES", "N_FREQS", "CircleRuns", "KernelFits", "Run", "circle_spectrum", "decay_rates",
    "density_angles", "density_figure", "feature_weights", "features", "filter_figure", "fourier_purity",
    "kernel_explorer", "linear_losses", "loss_figure", "network_explorer", "outcome", "residual_figure",
    "rotation_change", "sphere_spectrum", "spectrum_figure",
]

#: Residual ratios are drawn down to this floor on a log axis.
FLOOR = 1e-6
#: Target mixes of the network explorer: label → three frequencies.
MIXES = {"1, 4, 10": (1, 4, 10), "1, 2, 3": (1, 2, 3), "2, 8, 16": (2, 8, 16), "5, 10, 15": (5, 10, 15)}
_ZERO = 1e-12  # λ_k below this fraction of λ_max is an exact zero (round-off of the arc-cosines)


# --------------------------------------------------------------------------- the kernel side


class KernelFits:
    """Gradient descent with the analytic NTK on the circle, in closed form, cached per kernel.

    Training inputs: the uniform grid of N = len(y_train) angles; test inputs: the grid of
    M = len(target_test) angles (M a multiple of N, so every training angle is a test angle).
    A kernel depends on γ − γ′ only, so one row on the test grid gives every entry of
    Θ(train, train) and Θ(test, train). Training starts from f_0 = 0 with η = 1/λ_max (half the
    stability bound η_max = 2/λ_max) and ``dynamics.gradient_descent_mse`` (discrete steps).

    Args:
      y_train: (N,) targets on the training grid.
      target_test: (M,) the clean target function on the test grid (drawn, not fitted).
      n_freqs: m, the number of frequencies of ψ.

    Example:
      >>> fits = KernelFits(np.cos(data.circle(8)[0]), np.cos(data.circle(16)[0]))
      >>> relu = Network(width=None, depth=1)
      >>> bool(np.allclose(fits.fit(relu, 0, 10**6)[::2], fits.y_train, atol=1e-6))
      True
    """

    def __init__(self, y_train, target_test, *, n_freqs: int = N_FREQS):
        self.y_train = np.asarray(check_array("y_train", y_train, ndim=1), dtype=np.float64)
        self.target_test = np.asarray(check_array("target_test", target_test, ndim=1), dtype=np.float64)
        n, m = self.y_train.size, self.target_test.size
        if n < 4 or m % n:
            raise ValueError(f"target_test must sample a grid whose size is a multiple of len(y_train) = {n} "
                             f"(and y_train at least 4 points), got {m} points")
        self.n_freqs = check_positive_int("n_freqs", n_freqs)
        self.gamma_train, self.gamma_test = data.circle(n)[0], data.circle(m)[0]
        self._cache = {}

    def _setting(self, net, scale):
        net = as_network(net).replace(width=None, parameterization="ntk")
        if net.kind != "mlp":
            raise ValueError(f"net must be a fully connected network (kind 'mlp'), got {net.name}")
        key = (net, check_nonneg("scale", scale))
        if key not in self._cache:
            n, m = self.y_train.size, self.target_test.size
            psi = features(self.gamma_test, scale, self.n_freqs)
            kappa = kernels.analytic(net, psi[:1], psi).ntk[0]  # Θ(x_0, x_j) = κ(γ_j)
            i_train, i_test = np.arange(0, m, m // n), np.arange(m)
            k_train = kappa[(i_train[None, :] - i_train[:, None]) % m]  # Θ(x_i, x_j) = κ(γ_j − γ_i)
            k_test = kappa[(i_train[None, :] - i_test[:, None]) % m]
            lam = spectral.circulant_eigenvalues(k_train[0])
            predict = dynamics.gradient_descent_mse(k_train, self.y_train, 1.0 / lam.max(), discrete=True)
            self._cache[key] = (lam[: n // 2 + 1] / lam.max(), predict, k_test)
        return self._cache[key]

    def spectrum(self, net, scale) -> np.ndarray:
        """λ_k / λ_max for k = 0 … N/2 of ``net``'s NTK fed with ψ of scale s, shape (N//2 + 1,)."""
        return self._setting(net, scale)[0]

    def fit(self, net, scale, t) -> np.ndarray:
        """The kernel's prediction on the test grid after t steps, shape (M,) (or (T, M))."""
        _, predict, k_test = self._setting(net, scale)
        n, m = self.y_train.size, self.target_test.size
        return predict(t, np.zeros(n), np.zeros(m), k_test).test


def kernel_explorer(fits: KernelFits) -> widgets.Explorer:
    """Spectrum and closed-form fit of the analytic NTK: activation, b_std, depth L, scale s, step t.

    The first figure shows λ_k/λ_max on the training grid (grey: the bias-free one-layer ReLU
    reference; crosses at the bottom: exact zeros), the second the fit after t steps.
    """
    if not isinstance(fits, KernelFits):
        raise TypeError(f"fits must be a KernelFits, got {type(fits).__name__}")
    k = np.arange(fits.y_train.size // 2 + 1)
    reference = fits.spectrum(Network(width=None, depth=1), 0)
    ref = reference > _ZERO
    # traces are created empty and every update writes x and y of every trace
    spec = widgets.live(plotting.figure("NTK eigenvalues on the circle", "frequency k", "λ_k / λ_max",
                                         log_y=True))
    spec.add_scatter(name="ReLU, L = 1, no bias", mode="markers", marker=dict(color="#BBBBBB", size=7))
    spec.add_scatter(name="this kernel", mode="lines+markers", line=dict(color=plotting.COLORS["analytic"]))
    spec.add_scatter(name="λ_k = 0 (never learned)", mode="markers",
                     marker=dict(color=plotting.COLORS["analytic"], symbol="x", size=8))
    spec.update_yaxes(range=[-12.5, 0.3])
    fit = widgets.live(plotting.figure("Fit of the noisy target after t steps", "angle γ", "f(γ)"))
    fit.add_scatter(mode="lines", **plotting.role_line("target"))
    fit.add_scatter(name="data", mode="markers", marker=dict(color=plotting.COLORS["data"], size=6))
    fit.add_scatter(mode="lines", **plotting.role_line("analytic", name="NTK, step t"))

    def update(v):
        net = Network(width=None, depth=v["depth"], activation=v["activation"], b_std=v["b_std"] or None)
        rel = fits.spectrum(net, v["scale"])
        keep = rel > _ZERO  # exact zeros cannot be drawn on a log axis
        spec.data[0].update(x=k[ref], y=reference[ref])
        spec.data[1].update(x=k[keep], y=rel[keep])
        spec.data[2].update(x=k[~keep], y=np.full((~keep).sum(), _ZERO), visible=bool((~keep).any()))
        fit.data[0].update(x=fits.gamma_test, y=fits.target_test)
        fit.data[1].update(x=fits.gamma_train, y=fits.y_train)
        fit.data[2].update(x=fits.gamma_test, y=fits.fit(net, v["scale"], v["t"]))

    controls = {
        "activation": ipywidgets.ToggleButtons(options=["relu", "erf"], description="activation"),
        "b_std": widgets.log_slider("bias b_std", [0.0, 0.25, 0.5, 1.0]),
        "depth": widgets.log_slider("depth L", [1, 2, 3, 4], labels=str),
        "scale": widgets.log_slider("feature scale s", [0, 1, 2, 4, 8], labels=str),
        "t": widgets.log_slider("step t", [0, 1, 3, 10, 30, 100, 300, 1000, 3000, 10000, 100000], 100,
                                labels=str),
    }
    return widgets.Explorer(controls, [spec, fit], update)


def _residual_axes(title):
    fig = plotting.figure(title, "step t", "|r̂_k(t)| / |r̂_k(0)|", log_y=True, legend="right")
    return fig.update_yaxes(range=[-4, 0.1])


def _residual_line(color, measured):
    return dict(mode="lines", line=dict(color=color, width=2.5, dash="solid" if measured else "dot"))


def residual_figure(steps, measured, predicted, freqs, *, title: str = "Residual per frequency") -> go.Figure:
    """|r̂_k(t)|/|r̂_k(0)| of a network (solid) against the kernel's (1 − ηλ_k)^t (dotted), log scale.

    Args:
      steps: (T,) steps; measured, predicted: (T, K) ratios; freqs: (K,) the frequencies k.

    Example:
      >>> fig = residual_figure([0, 1], np.ones((2, 1)), np.ones((2, 1)), [4])
      >>> [trace.name for trace in fig.data]
      ['k = 4, network', 'k = 4, NTK']
    """
    freqs = np.asarray(check_array("freqs", freqs, ndim=1))
    steps = np.asarray(check_array("steps", steps, ndim=1), dtype=np.float64)
    shape = (steps.size, freqs.size)
    arrays = [np.asarray(check_array(name, a, ndim=2), dtype=np.float64)
              for name, a in (("measured", measured), ("predicted", predicted))]
    for name, a in zip(("measured", "predicted"), arrays):
        if a.shape != shape:
            raise ValueError(f"{name} must have shape {shape} (steps × freqs), got {a.shape}")
    colors = plotting.sequential(freqs.size)
    fig = _residual_axes(title)
    for j, k in enumerate(freqs):
        for a, role in zip(arrays, ("network", "NTK")):
            fig.add_scatter(x=steps, y=np.maximum(a[:, j], FLOOR), name=f"k = {k}, {role}",
                            **_residual_line(colors[j], role == "network"))
    return fig


def filter_figure(freqs, filters, zero) -> go.Figure:
    """The learned fraction h_k(t) against frequency k, one line per t; exact zeros apart.

    Frequencies with λ_k = 0 (``zero``) have h_k(t) = 0 for every t: they are drawn as separate
    markers, so that no line zig-zags between them and their neighbours.

    Args:
      freqs: (K,) frequencies; filters: label → (K,) h_k(t); zero: (K,) bool, λ_k = 0 exactly.

    Example:
      >>> fig = filter_figure([0, 1, 2, 3], {"t = 1": [1.0, 0.5, 0.2, 0.0]}, [False, False, False, True])
      >>> [(t.name, t.x.tolist()) for t in fig.data]
      [('t = 1', [0.0, 1.0, 2.0]), ('λ_k = 0: never learned', [3.0])]
    """
    k = np.asarray(check_array("freqs", freqs, ndim=1), dtype=np.float64)
    zero = np.asarray(zero, dtype=bool)
    if zero.shape != k.shape:
        raise ValueError(f"zero must have shape {k.shape} like freqs, got {zero.shape}")
    fig = plotting.plot_lines(k[~zero], {name: np.asarray(h, dtype=np.float64)[~zero] for name, h in filters.items()},
                              title="Learned fraction h_k(t) = 1 − (1 − ηλ_k)^t", xlabel="frequency k",
                              ylabel="h_k(t)", mode="lines+markers", legend="right")
    if zero.any():
        fig.add_scatter(x=k[zero], y=np.zeros(zero.sum()), name="λ_k = 0: never learned", mode="markers",
                        marker=dict(color="#888888", symbol="x", size=8))
    return fig


def spectrum_figure(spectra, freqs, title: str) -> go.Figure:
    """λ_k/λ_max against the frequency k on a log scale, one line per entry of ``spectra``
    (label → (K,)); exact zeros (below 1e-12) are left out. The legend sits beside the plot."""
    fig = plotting.plot_spectrum(spectra, x=freqs, title=title, xlabel="frequency k", ylabel="λ_k / λ_max",
                                 rel_floor=_ZERO)
    return plotting.style(fig, legend="right")


def density_figure(angles, residual, density, t: int) -> go.Figure:
    """|r(γ)| after t steps at each (non-uniform) training angle, with the density 2πp(γ)."""
    return plotting.plot_lines(angles, {f"|r(γ)| at t = {t}": np.abs(residual), "density 2πp(γ)": density},
                               mode="lines+markers", xlabel="angle γ",
                               title="Non-uniform data: a frequency is learned first where points are dense")

def loss_figure(runs: dict) -> go.Figure:
    """Losses of runs against the step, log scale: label → :class:`Run`; each run adds its
    network's loss (solid) and, where it diverges, its linearised network's (dashed)."""
    curves = {}
    for label, run in runs.items():
        curves[f"network, {label}"] = run.trajectory.loss
        if run.linear_loss[-1] > run.linear_loss[0]:
            curves[f"linearised network, {label}"] = run.linear_loss
    fig = plotting.plot_lines(next(iter(runs.values())).trajectory.steps, curves, title="Loss: network and linearised network",
                              xlabel="step t", ylabel="½‖f − y‖²", log_y=True, legend="right")
    for trace in fig.data:
        trace.line.dash = "dash" if trace.name.startswith("linearised") else "solid"
    return fig.update_yaxes(range=[-3, 6])  # a diverging linear loss leaves the plot at the top

#: The η/η_max values of the network explorer: 2/λ_max bounds the linearised network only.
ETA_RATIOS = (0.125, 0.25, 0.5, 0.75, 0.95, 1.05, 1.25, 1.5, 1.9, 2.2)


def network_explorer(runs: CircleRuns, *, widths=(256, 1024, 2048), scales=(0, 2, 4, 8)) -> widgets.Explorer:
    """Real training on the circle: frequency mix, amplitude a, η/η_max, width n, scale s, step t.

    Trains one run per width first (each width compiles once), so no later move compiles.
    Three figures: the function at step t (network and the NTK's prediction); the residual per
    frequency with a marker at step t; the loss of the network and of its linearised model, titled
    with :func:`outcome` (above η_max the linearised network diverges, the network may catapult).
    A network that does not converge is shown as a message.
    """
    if not isinstance(runs, CircleRuns):
        raise TypeError(f"runs must be a CircleRuns, got {type(runs).__name__}")
    widths = [check_positive_int("widths", w) for w in widths]
    for w in widths:
        runs.run(MIXES["1, 4, 10"], 0.1, 0.5, w, 0)
    gamma = runs.gamma
    func = widgets.live(plotting.figure("Function at step t", "angle γ", "f(γ)"))
    func.add_scatter(mode="lines", **plotting.role_line("target"))
    func.add_scatter(mode="lines+markers", **plotting.role_line("network"))
    func.add_scatter(mode="lines", **plotting.role_line("analytic", name="NTK (constant Θ)"))
    resid = widgets.live(_residual_axes("Residual per frequency"))
    for color, k in zip(plotting.sequential(3), MIXES["1, 4, 10"]):
        resid.add_scatter(name=f"k = {k}, network", **_residual_line(color, True))
        resid.add_scatter(name=f"k = {k}, NTK", **_residual_line(color, False))
    resid.add_scatter(name="step t", mode="lines", showlegend=False, line=dict(color="#888888", width=1))
    loss = widgets.live(plotting.figure("Loss", "step t", "½‖f − y‖²", log_y=True, legend="right"))
    loss.update_layout(margin=dict(t=95), title_font_size=14).update_yaxes(range=[-6, 6])
    loss.add_scatter(mode="lines", **plotting.role_line("network"))
    loss.add_scatter(mode="lines", **plotting.role_line("linearized", name="linearised network (K₀ fixed)"))
    loss.add_scatter(name="step t", mode="lines", showlegend=False, line=dict(color="#888888", width=1))

    def update(v):
        mix = np.array(MIXES[v["mix"]])
        run = runs.run(mix, v["amplitude"], v["eta_ratio"], v["width"], v["scale"])
        traj, t, a = run.trajectory, v["t"], v["amplitude"]
        target = a * data.fourier_target(gamma, mix)
        decay = dynamics.mode_decay(run.eigenvalues[mix], run.learning_rate, traj.steps, discrete=True)
        ratio = spectral.fourier_amplitudes(traj.f_train - target, mix) / a
        func.data[0].update(x=gamma, y=target)
        func.data[1].update(x=gamma, y=traj.f_train[t])
        func.data[2].update(x=gamma, y=a * np.cos(np.outer(gamma, mix)) @ (1 - decay[t]))
        func.update_yaxes(range=[-3.6 * a, 3.6 * a])  # above η_max a curve may leave the plot
        for j, k in enumerate(mix):
            resid.data[2 * j].update(x=traj.steps, y=np.maximum(ratio[:, j], FLOOR), name=f"k = {k}, network")
            resid.data[2 * j + 1].update(x=traj.steps, y=np.maximum(decay[:, j], FLOOR), name=f"k = {k}, NTK")
        resid.data[6].update(x=[t, t], y=[1e-4, 1e4])
        resid.update_yaxes(range=[-4, min(4.0, np.log10(max(ratio.max(), decay.max(), 1.0)) + 0.1)])
        loss.data[0].update(x=traj.steps, y=traj.loss)
        loss.data[1].update(x=traj.steps, y=run.linear_loss)
        loss.data[2].update(x=[t, t], y=[1e-6, 1e6])
        loss.layout.title.text = "Loss<br><sup>" + "<br>".join(outcome(run).split("; ")) + "</sup>"

    controls = {
        "mix": ipywidgets.Dropdown(options=list(MIXES), description="frequencies"),
        "amplitude": widgets.log_slider("amplitude a", [0.1, 0.3, 1.0], continuous_update=False),
        "eta_ratio": widgets.log_slider("η / η_max", list(ETA_RATIOS), 0.5, labels=str, continuous_update=False),
        "width": widgets.log_slider("width n", widths, widths[-1], continuous_update=False),
        "scale": widgets.log_slider("feature scale s", list(scales), scales[0], labels=str,
                                    continuous_update=False),
        "t": ipywidgets.IntSlider(value=runs.steps, min=0, max=runs.steps, step=5, description="step t"),
    }
    return widgets.Explorer(controls, [func, resid, loss], update)
