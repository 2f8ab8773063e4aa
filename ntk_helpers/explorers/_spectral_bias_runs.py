"""Notebook 04's real networks on the circle: :class:`CircleRuns` trains and caches them, with the
linearised network's loss beside each (:func:`linear_losses`, :func:`outcome`). Used by
:mod:`.spectral_bias`, which re-exports every public name here (split off to keep both modules
under 400 lines).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .. import data, dynamics, empirical, models, spectral, stats
from ..errors import (
    DivergenceError,
    check_array,
    check_nonneg,
    check_positive,
    check_positive_int,
    check_seed,
)
from ..network import as_network
from ._spectral_bias_numerics import N_FREQS, circle_spectrum, features

__all__ = ["CircleRuns", "Run", "decay_rates", "linear_losses", "outcome"]


class Run(NamedTuple):
    """One recorded training run (:meth:`CircleRuns.run`).

    ``trajectory`` of the network; ``eigenvalues`` λ_k (N//2 + 1,) of the analytic Θ; η;
    ``linear_loss`` (T,), the loss of the linearised network (its kernel K₀ held fixed) at the same
    steps (:func:`linear_losses`); ``kernel_max``, λ_max of the network's empirical NTK at t = 0
    and at the last step; ``target`` (N,), y on the grid.
    """

    trajectory: dynamics.Trajectory
    eigenvalues: np.ndarray
    learning_rate: float
    linear_loss: np.ndarray
    kernel_max: tuple[float, float]
    target: np.ndarray


def decay_rates(run: Run, freqs, *, t_max: int = 100, floor: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    """Measured and predicted decay rates per step of the residual's Fourier amplitudes in ``run``.

    Measured: ``stats.decay_rate`` of |r̂_k(t)| over the first ``t_max`` steps while above ``floor``
    times its start; predicted: −log(1 − ηλ_k) of the analytic Θ. Returns two (K,) arrays.
    """
    freqs = np.atleast_1d(np.asarray(freqs))
    amp = spectral.fourier_amplitudes(run.trajectory.f_train - run.target, freqs)
    measured = stats.decay_rate(run.trajectory.steps, amp, t_max=t_max, floor=floor)
    return np.atleast_1d(measured), -np.log(1 - run.learning_rate * run.eigenvalues[freqs])


def linear_losses(k0, y, learning_rate, steps) -> np.ndarray:
    """Loss ½‖r_t‖² of gradient descent with a constant kernel K₀ from f₀ = 0: r_t = (I − ηK₀)^t (−y).

    The exact loss of the linearised (centred) network at any η: in K₀'s eigenbasis each component
    of the residual is multiplied by (1 − ηλᵢ) per step, so above η = 2/λ_max(K₀) the top one grows
    for ever. Exponents are capped at e^600, so a diverging loss stays finite (≈ 1e260).

    Args:
      k0: (N, N) symmetric kernel; y: (N,) targets; learning_rate: η > 0; steps: (T,) steps ≥ 0.

    Returns:
      (T,) losses.

    Example:
      >>> linear_losses(np.diag([1.0, 3.0]), np.ones(2), 1.0, [0, 1, 2]).tolist()  # 1 − ηλ = 0 and −2
      [1.0, 2.0, 8.0]
    """
    k0 = np.asarray(check_array("k0", k0, ndim=2), dtype=np.float64)
    y = np.asarray(check_array("y", y, ndim=1, dim=k0.shape[0]), dtype=np.float64)
    t = np.asarray(check_array("steps", steps, ndim=1), dtype=np.float64)
    if k0.shape[0] != k0.shape[1] or np.any(t < 0):
        raise ValueError(f"k0 must be square and steps ≥ 0, got k0 {k0.shape}, steps from {t.min()}")
    lam, vecs = np.linalg.eigh((k0 + k0.T) / 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        exponent = np.minimum(2.0 * t[:, None] * np.log(np.abs(1.0 - check_positive("learning_rate", learning_rate)
                                                                   * lam))[None, :], 600.0)
    exponent[t == 0] = 0.0
    return 0.5 * np.exp(exponent) @ (vecs.T @ y) ** 2


def outcome(run: Run) -> str:
    """What the linearised network and the network did in ``run``, in one line (figure titles)."""
    loss, lin, steps = run.trajectory.loss, run.linear_loss, run.trajectory.steps
    peak = int(np.argmax(loss))
    text = f"η/η_max = {run.learning_rate * run.eigenvalues.max() / 2:.3g}: the linearised network "
    size = f"{lin[-1]:.1e}" if lin[-1] < 1e100 else "above 1e100"  # (linear_losses caps it near 1e260)
    text += f"diverges (loss {size} at step {steps[-1]}); " if lin[-1] > lin[0] else "converges; "
    if loss[peak] > 2 * loss[0]:
        text += (f"the network catapults, loss {loss[0]:.2g} → {loss[peak]:.2g} (step {steps[peak]}) → "
                 f"{loss[-1]:.2g}{'' if loss[-1] < loss[0] else ', not yet back below its start'}")
    else:
        text += f"the network's loss {loss[0]:.2g} → {loss[-1]:.2g}"
    k0, k_end = run.kernel_max
    return text + f"; λ_max(K) {k0:.3g} → {k_end:.3g}, 2/η = {2 / run.learning_rate:.3g}"


class CircleRuns:
    """Real networks trained on the N-point grid of the circle, cached per setting.

    Each run trains the centred network f(ψ(γ); θ) − f(ψ(γ); θ₀) (``models.centered``) of the
    description ``net`` at a given width on the target a Σ_{k ∈ mix} cos kγ, by full-batch gradient
    descent for ``steps`` steps with η = (η/η_max) · 2/λ_max, λ_max that of the analytic NTK of
    ``net`` fed with ψ of scale s. Any η/η_max is trained: 2/λ_max bounds the linearised network
    only, and above it a network can catapult and converge (Lewkowycz et al. 2020,
    arXiv:2003.02218); each run also holds the linearised network's loss and λ_max of the empirical
    kernel before and after. One initialisation (and one compiled training function) per width:
    the learning rate, the target and the features are data, not shapes.

    Args:
      net: the network description (its width is replaced by each run's width).
      n_points: N, the grid size; steps: gradient-descent steps per run; seed: θ₀'s seed.
      n_freqs: m, the number of frequencies of ψ (the network's input has 2m features).

    Example:
      >>> from ntk_helpers.network import Network
      >>> runs = CircleRuns(Network(width=None, depth=1), n_points=8, steps=4)
      >>> run = runs.run((1, 2), 0.1, 0.5, width=16, scale=0)
      >>> run.trajectory.f_train.shape, run.linear_loss.shape, runs.run((1, 2), 0.1, 0.5, 16, 0) is run
      ((5, 8), (5,), True)
    """

    def __init__(self, net, *, n_points: int = 64, steps: int = 400, seed: int = 0, n_freqs: int = N_FREQS):
        self.net = as_network(net)
        self.gamma = data.circle(check_positive_int("n_points", n_points))[0]
        self.steps = check_positive_int("steps", steps)
        self.seed = check_seed("seed", seed)
        self.n_freqs = check_positive_int("n_freqs", n_freqs)
        self._models, self._spectra, self._runs, self._k0 = {}, {}, {}, {}

    def eigenvalues(self, scale) -> np.ndarray:
        """λ_0 … λ_{N/2} of the analytic NTK of ``net`` on ψ(γ) of scale s (cached)."""
        key = check_nonneg("scale", scale)
        if key not in self._spectra:
            self._spectra[key] = circle_spectrum(self.net, features(self.gamma, key, self.n_freqs))
        return self._spectra[key]

    def _centred(self, width):
        if width not in self._models:
            net = self.net.replace(width=width)
            model = models.build(net)
            params0 = model.init(self.seed, 2 * self.n_freqs)
            self._models[width] = (models.centered(model, params0), params0, net)
        return self._models[width]

    def run(self, mix, amplitude, eta_ratio, width, scale) -> Run:
        """Train (or fetch) one run; ``eta_ratio`` is η/η_max.

        Raises:
          DivergenceError: the network does not converge (its loss blows up, or is above its start
            and growing at the last step); the message says what the linearised network does.
        """
        mix = tuple(int(k) for k in np.atleast_1d(np.asarray(mix)))
        if not mix or any(k < 1 or 2 * k >= self.gamma.size for k in mix):
            raise ValueError(f"mix must hold frequencies between 1 and {(self.gamma.size - 1) // 2}, got {mix}")
        key = (mix, check_positive("amplitude", amplitude), check_positive("eta_ratio", eta_ratio),
               check_positive_int("width", width), check_nonneg("scale", scale))
        if key not in self._runs:
            lam = self.eigenvalues(scale)
            eta = eta_ratio * 2.0 / lam.max()
            apply_c, params0, net = self._centred(width)
            psi = features(self.gamma, scale, self.n_freqs)
            y = amplitude * data.fourier_target(self.gamma, mix)
            if (width, key[-1]) not in self._k0:
                self._k0[width, key[-1]] = empirical.layer_ntk(net, models.astype(params0, np.float64), psi).total
            k0 = self._k0[width, key[-1]]
            linear = linear_losses(k0, y, eta, np.arange(self.steps + 1))
            try:
                traj = dynamics.train(apply_c, params0, psi.astype(np.float32), y.astype(np.float32),
                                      learning_rate=eta, steps=self.steps)
            except DivergenceError as exc:
                verdict = "diverges" if linear[-1] > linear[0] else "converges"
                raise DivergenceError(f"η/η_max = {eta_ratio:g}: the linearised network {verdict}; the network "
                                      f"does not converge: {exc}", step=exc.step) from None
            k_end = empirical.layer_ntk(net, models.astype(traj.params, np.float64), psi).total
            self._runs[key] = Run(traj, lam, eta, linear, (float(np.linalg.eigvalsh(k0)[-1]),
                                                           float(np.linalg.eigvalsh(k_end)[-1])), y)
        return self._runs[key]
