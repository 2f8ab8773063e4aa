"""Notebook 09's explorer: a learning curve predicted from the kernel's spectrum, and measured.

The notebook derives the eigenlearning equations; the numerics are in
:mod:`ntk_helpers.learning_curves`. Here:

* :class:`CircleCurves` — for one kernel on the uniform grid of m angles of the circle, its exact
  spectrum, and kernel ridge regression measured over random training sets of every size, cached
  per (kernel, ridge) and computed for every target frequency at once;
* :func:`explorer` — sample size N, ridge ρ, noise σ, target frequency k, depth L and activation:
  the predicted test MSE against N with the measured one (figure 0), and the spectrum with the
  learnabilities at the selected N (figure 1).

Noise enters the measured curve exactly, not by drawing it: kernel regression is linear in the
labels, so noise of variance σ² adds σ² ‖A‖²_F/m to the expected test MSE
(:func:`~ntk_helpers.learning_curves.circle_regression`). Nothing here uses JAX: no slider move
compiles. How it stays fast: ``docs/developers.md``, "Notebook 09". Introduced in notebook 09.
"""

from __future__ import annotations

import ipywidgets
import numpy as np

from .. import learning_curves as lc
from .. import plotting, widgets
from ..errors import check_choice, check_positive_int
from ..network import Network

__all__ = ["CircleCurves", "explorer"]

SIZES = (4, 8, 16, 32, 64, 128, 256)
FREQS = (1, 2, 4, 8, 16, 32)
RIDGES = (1e-6, 1e-3, 1e-2, 1e-1, 1.0)
NOISES = (0.0, 0.1, 0.3, 1.0)


class CircleCurves:
    """Spectra and measured learning curves on the circle grid, cached per setting.

    Args:
      base: the network whose depth and activation the explorer changes (its width is ignored:
        the kernels are analytic).
      m: grid size; sizes: the sample sizes N measured; freqs: the target frequencies k (targets
        cos kγ); draws: random training sets per size (seeds 0 … draws − 1).
    """

    def __init__(self, base: Network, *, m: int = 1024, sizes=SIZES, freqs=FREQS, draws: int = 8):
        if not isinstance(base, Network):
            raise TypeError(f"base must be an nh.Network, got {type(base).__name__}")
        self.base, self.m = base, check_positive_int("m", m)
        self.sizes, self.freqs = np.asarray(sizes, dtype=int), np.asarray(freqs, dtype=int)
        if self.sizes.max() >= self.m or self.freqs.max() > self.m // 2:
            raise ValueError(f"sizes must be below m = {m} and freqs at most m/2")
        self.draws = check_positive_int("draws", draws)
        phi = 2 * np.pi * np.arange(self.m) / self.m
        self.targets = np.cos(np.outer(self.freqs, phi))  # (F, m), each with mean square ½
        self._spectra, self._measured = {}, {}

    def spectrum(self, depth: int, activation: str):
        """(freqs (m,), eigenvalues (m,), row (m,)) of the analytic NTK of that depth and activation."""
        key = (depth, activation)
        if key not in self._spectra:
            self._spectra[key] = lc.circle_modes(self.base.replace(depth=depth, activation=activation), self.m)
        return self._spectra[key]

    def measured(self, depth: int, activation: str, ridge: float):
        """(mse (S, D, F), noise_gain (S, D)): kernel regression per size, draw and target."""
        key = (depth, activation, ridge)
        if key not in self._measured:
            row = self.spectrum(depth, activation)[2]
            mse = np.zeros((len(self.sizes), self.draws, len(self.freqs)))
            gain = np.zeros((len(self.sizes), self.draws))
            for i, n in enumerate(self.sizes):
                for s in range(self.draws):
                    idx = np.random.default_rng(s).choice(self.m, size=n, replace=False)
                    mse[i, s], gain[i, s] = lc.circle_regression(row, idx, self.targets, ridge=ridge)
            self._measured[key] = (mse, gain)
        return self._measured[key]

    def coefficients(self, k: int) -> np.ndarray:
        """(m,) squared-coefficient vector of cos kγ on the orthonormal grid modes (all on index k)."""
        v = np.zeros(self.m)
        v[k] = 1.0 if k in (0, self.m // 2) else 0.5**0.5
        return v

    def curves(self, depth, activation, ridge, noise, k):
        """(predicted (S,), measured mean (S,), measured standard error (S,), eigenvalues (m,))."""
        lam = self.spectrum(depth, activation)[1]
        pred = lc.predict(lam, self.coefficients(k), self.sizes, ridge=ridge, noise=noise)
        mse, gain = self.measured(depth, activation, ridge)
        per_draw = mse[:, :, list(self.freqs).index(k)] + noise**2 * gain
        return pred, per_draw.mean(axis=1), per_draw.std(axis=1) / np.sqrt(self.draws), lam


def explorer(base: Network | None = None, *, n: int = 32, ridge: float = 1e-3, noise: float = 0.1, k: int = 4,
             depth: int = 1, activation: str = "relu", curves: CircleCurves | None = None) -> widgets.Explorer:
    """The learning-curve explorer: predicted and measured test MSE against N, and the spectrum.

    Figure 0: the eigenlearning prediction of the test MSE (against the noise-free target cos kγ)
    for N in :data:`SIZES`, the mean over ``draws`` random training sets of kernel ridge regression
    (± 2 standard errors), and the selected N. Figure 1: the eigenvalues λ of the kernel against
    the frequency, the learnabilities ℓ = λ/(λ + ρ_eff) at the selected N, and the target's frequency.

    Args:
      base: the network (default: ReLU, W_std = √2, b_std = 0.5, one hidden layer).
      n, ridge, noise, k, depth, activation: the controls' initial values (from the lists above;
        depth 1–3, activation ``"relu"`` or ``"erf"``).
      curves: a :class:`CircleCurves` to reuse (its caches are shared).
    """
    base = Network("mlp", width=None, depth=1, W_std=2**0.5, b_std=0.5) if base is None else base
    data = CircleCurves(base) if curves is None else curves
    for name, value, options in (("n", n, data.sizes.tolist()), ("ridge", ridge, RIDGES), ("noise", noise, NOISES),
                                 ("k", k, data.freqs.tolist()), ("depth", depth, (1, 2, 3)),
                                 ("activation", activation, ("relu", "erf"))):
        check_choice(name, value, tuple(options))
    curve = widgets.live(plotting.figure("", "training samples N", "test MSE", log_x=True, log_y=True))
    curve.add_scatter(mode="lines", **plotting.role_line("analytic", name="predicted (eigenlearning)"))
    curve.add_scatter(mode="markers", name="kernel regression, mean of draws ± 2 s.e.",
                      marker=dict(color=plotting.COLORS["empirical"], size=9),
                      error_y=dict(type="data", array=[0.0], color=plotting.COLORS["empirical"]))
    curve.add_scatter(mode="markers", name="selected N", marker=dict(color="black", size=14, symbol="circle-open"))
    spec = widgets.live(plotting.figure("", "frequency k", "", log_x=True, log_y=True))
    spec.add_scatter(mode="lines+markers", name="eigenvalue λ_k", line=dict(color=plotting.COLORS["analytic"], width=2))
    spec.add_scatter(mode="lines", name="learnability ℓ_k at the selected N",
                     line=dict(color=plotting.COLORS["network"], width=2.5))
    spec.add_scatter(mode="lines", name="target frequency", line=dict(color="black", dash="dash", width=1.5))
    half = data.m // 2
    freq = np.arange(1, half + 1)

    def update(v):
        pred, mean, se, lam = data.curves(v["depth"], v["activation"], v["ridge"], v["noise"], v["k"])
        i = int(np.flatnonzero(data.sizes == v["n"])[0])
        curve.data[0].update(x=data.sizes, y=pred.test_mse)
        curve.data[1].update(x=data.sizes, y=mean, error_y=dict(type="data", array=2 * se))
        curve.data[2].update(x=[v["n"]], y=[pred.test_mse[i]])
        curve.layout.title.text = (f"L = {v['depth']}, {v['activation']}, ρ = {v['ridge']:g}, σ = {v['noise']:g}, "
                                   f"target cos {v['k']}γ: ρ_eff = {pred.effective_ridge[i]:.3g} at N = {v['n']}")
        ell = pred.learnability[i, 1:half + 1]
        spec.data[0].update(x=freq, y=np.maximum(lam[1:half + 1], 1e-300))
        spec.data[1].update(x=freq, y=np.maximum(ell, 1e-300))
        spec.data[2].update(x=[v["k"]] * 2, y=[max(lam[1:half + 1].min(), 1e-300), 1.0])
        spec.layout.title.text = (f"Spectrum and learnabilities at N = {v['n']}: Σℓ = "
                                  f"{pred.effective_dimension[i]:.1f} = N − ρ/ρ_eff")

    controls = {
        "n": widgets.log_slider("samples N", data.sizes.tolist(), n, labels=str),
        "ridge": widgets.log_slider("ridge ρ", list(RIDGES), ridge),
        "noise": widgets.log_slider("label noise σ", list(NOISES), noise, labels=lambda s: f"{s:g}"),
        "k": widgets.log_slider("target frequency k", data.freqs.tolist(), k, labels=str),
        "depth": widgets.log_slider("depth L", [1, 2, 3], depth, labels=str),
        "activation": ipywidgets.Dropdown(options=["relu", "erf"], value=activation, description="activation"),
    }
    ex = widgets.Explorer(controls, [curve, spec], update, title="Learning curves from the spectrum")
    ex.curves = data
    return ex
