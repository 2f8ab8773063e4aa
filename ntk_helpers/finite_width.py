"""Finite-width corrections to the kernel regime, and a task where they help.

Two measurements on networks with one hidden layer and no bias, trained by full-batch gradient
descent from their centred start f(θ) − f(θ₀) with :func:`ntk_helpers.regimes.train`:

* :func:`width_sweep`: at a fixed learning rate and time t, how far the trained network's
  predictions are from those of its own linearisation (kernel regression with its own empirical
  kernel K₀, trained to the same t) and from the infinite-width prediction (the same with the
  analytic Θ). The first gap is the correction from the kernel moving during training, which for
  a smooth activation is O(1/n) (Lee et al. 2019, arXiv:1902.06720; Dyer & Gur-Ari 2020,
  arXiv:1909.11304); the second also holds K₀ − Θ, the O(n^(−1/2)) fluctuation of the initial kernel.
* :func:`rich_vs_kernel`: the test error of a network trained in the rich regime (a small output
  scale α) against its own initial kernel's and the infinite-width kernel's, on
  :func:`single_index`, a target that depends on one direction of a higher-dimensional input
  (Ghorbani et al. 2020, arXiv:2006.13409).

Introduced in notebook 10.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from . import regimes as rg
from .data import Dataset, sphere
from .dynamics import gradient_descent_mse, max_learning_rate
from .empirical import layer_ntk
from .errors import as_float_array, check_choice, check_positive, check_positive_int, check_seed
from .kernels import analytic
from .models import astype, init_batch
from .network import Network

__all__ = ["RichComparison", "WidthSweep", "rich_vs_kernel", "single_index", "width_sweep"]


def _seeds(seeds) -> list[int]:
    out = [check_seed("seeds", s) for s in (seeds if np.iterable(seeds) else [seeds])]
    if not out:
        raise ValueError("seeds must hold at least one seed")
    return out


def _kernel_predictions(k_train, k_eval_train, y, eta, steps):
    """Discrete gradient descent from f = 0 with a constant kernel: f_t on the evaluation points, (T, M)."""
    predict = gradient_descent_mse(k_train, y, eta, discrete=True)
    return predict(np.asarray(steps), np.zeros(len(y)), np.zeros(len(k_eval_train)), k_eval_train).test


class WidthSweep(NamedTuple):
    """:func:`width_sweep`'s result: W widths, S seeds, M evaluation points, all at step t.

    Attributes:
      widths: (W,) the widths n; seeds: (S,) the seeds; steps: t; eta: the learning rate η.
      network: (W, S, M) the trained centred network f(θ_t) − f(θ₀).
      linearized: (W, S, M) its linearisation: gradient descent with its own K₀, from 0, to step t.
      infinite: (M,) the same with the analytic NTK Θ: the infinite-width prediction.
    """

    widths: np.ndarray
    seeds: np.ndarray
    steps: int
    eta: float
    network: np.ndarray
    linearized: np.ndarray
    infinite: np.ndarray

    def deviation(self, reference: str = "linearized") -> np.ndarray:
        """Root mean square over the M points of the network minus ``reference``, shape (W, S).

        ``reference`` is ``"linearized"`` (each network's own linearisation) or ``"infinite"``.
        """
        check_choice("reference", reference, ("linearized", "infinite"))
        ref = self.linearized if reference == "linearized" else self.infinite
        return np.sqrt(np.mean((self.network - ref) ** 2, axis=-1))


def width_sweep(x, y, x_eval, *, widths, seeds=range(8), steps: int = 200, eta_fraction: float = 0.5,
                activation: str = "erf", W_std: float = 2**0.5) -> WidthSweep:
    """Train one-hidden-layer networks (NTK parameterization) of several widths, S seeds each, to step t.

    Every width uses the same η = eta_fraction · 2/λ_max(Θ), with Θ the analytic NTK on ``x``, so
    all of them follow the same infinite-width trajectory. All widths and seeds train side by side
    in one compiled loop: a network of width n is padded with n_max − n units whose weights are
    zero (φ(0) = 0 for erf and ReLU, so they have zero gradient and stay zero), and its readout
    multiplier W_std/√n is the padded network's W_std/√n_max times the output scale α = √(n_max/n)
    of :func:`ntk_helpers.regimes.train`; the centred function, its loss and its gradient
    descent are then exactly those of the width-n network.

    Args:
      x: (N, d_in) training inputs; y: (N,) targets; x_eval: (M, d_in) points to predict at.
      widths: the widths n; seeds: the seeds of the initial parameters (``models.init_batch``).
      steps: t, the number of gradient-descent steps; eta_fraction: η/η_max of Θ, in (0, 1).
      activation: ``"erf"`` or ``"relu"``; W_std: the weight scale.

    Returns:
      A :class:`WidthSweep`.
    """
    x = as_float_array("x", x, ndim=2)
    y = as_float_array("y", y, ndim=1, dim=x.shape[0])
    x_eval = as_float_array("x_eval", x_eval, ndim=2, dim=x.shape[1])
    widths = [check_positive_int("widths", n) for n in np.atleast_1d(widths)]
    seeds, steps = _seeds(seeds), check_positive_int("steps", steps)
    check_choice("activation", activation, tuple(rg.ACTIVATIONS))
    if not 0 < check_positive("eta_fraction", eta_fraction) < 1:
        raise ValueError(f"eta_fraction must lie in (0, 1) (below the stability bound of Θ), got {eta_fraction}")
    both, n_train = np.vstack([x, x_eval]), x.shape[0]
    theta = analytic(Network("mlp", width=None, depth=1, activation=activation, W_std=W_std), both, x).ntk
    eta = eta_fraction * max_learning_rate(theta[:n_train])
    infinite = _kernel_predictions(theta[:n_train], theta[n_train:], y, eta, steps)
    weights, alphas, linearized = [[], []], [], []
    n_max = max(widths)
    for n in widths:
        net = Network("mlp", width=n, depth=1, activation=activation, W_std=W_std)
        params = init_batch(net, seeds, x.shape[1])
        k0 = layer_ntk(net, astype(params, np.float64), both, x).total  # (S, N + M, N)
        linearized.append([_kernel_predictions(k[:n_train], k[n_train:], y, eta, steps) for k in k0])
        weights[0].append(np.pad(params[0]["W"], ((0, 0), (0, 0), (0, n_max - n))))  # zero units: never move
        weights[1].append(np.pad(params[1]["W"], ((0, 0), (0, n_max - n), (0, 0))))
        alphas += [np.sqrt(n_max / n)] * len(seeds)  # α · W_std/√n_max = W_std/√n, the width-n readout
    run = rg.train([np.concatenate(w) for w in weights], rg.layer_scales("ntk", n_max, 1, x.shape[1], W_std)[0], x, y,
                   etas=np.full(len(alphas), eta), alphas=alphas, steps=steps, record_every=steps, x_eval=x_eval,
                   activation=activation)
    network = run.f_eval[:, -1].reshape(len(widths), len(seeds), -1)
    return WidthSweep(np.asarray(widths), np.asarray(seeds), steps, float(eta), network, np.asarray(linearized), infinite)


def single_index(n_train: int, n_test: int, d: int, seed: int = 0) -> Dataset:
    """A target that depends on one direction of a d-dimensional input: y = He₂(x₁) = (x₁² − 1)/√2.

    Inputs are drawn uniformly on the sphere of radius √d (so x·x/d = 1 and x₁ is nearly a standard
    Gaussian); the second Hermite polynomial has no linear part, so a kernel needs of the order
    of d² examples to learn it, a network that finds the direction x₁ far fewer (Ghorbani et al.
    2020, arXiv:2006.13409).

    Example:
      >>> data = single_index(8, 4, d=5, seed=1)
      >>> data.x_train.shape, data.y_test.shape, bool(np.allclose((data.x_train**2).sum(axis=1), 5, rtol=1e-5))
      ((8, 5), (4,), True)
    """
    n_train, n_test, d = (check_positive_int(k, v) for k, v in (("n_train", n_train), ("n_test", n_test), ("d", d)))
    x = sphere(n_train + n_test, d, seed=seed) * np.sqrt(d)
    y = (x[:, 0] ** 2 - 1) / np.sqrt(2)
    x, y = x.astype(np.float32), y.astype(np.float32)
    return Dataset(x[:n_train], y[:n_train], x[n_train:], y[n_train:])


class RichComparison(NamedTuple):
    """:func:`rich_vs_kernel`'s result: test mean squared errors at T recorded steps.

    Attributes:
      steps: (T,) the recorded steps, 0 included.
      alphas: (A,) the output scales α.
      network: (A, S, T) the trained network f_α = α (f(θ_t) − f(θ₀)).
      own_kernel: (S, T) its own initial kernel K₀ trained to the same step (its linearisation;
        the same for every α at η/η_max fixed); own_limit: (S,) K₀'s kernel regression (t = ∞).
      infinite: (T,) the analytic Θ trained to the same step; infinite_limit: Θ's kernel regression (t = ∞).
      train_loss: (A, S) the network's final training loss ½‖f_α(X) − y‖².
    """

    steps: np.ndarray
    alphas: np.ndarray
    network: np.ndarray
    own_kernel: np.ndarray
    own_limit: np.ndarray
    infinite: np.ndarray
    infinite_limit: float
    train_loss: np.ndarray


def rich_vs_kernel(data: Dataset, *, width: int = 256, alphas=(1.0, 0.1), seeds=range(6), steps: int = 400,
                   record_every: int = 40, eta_fraction: float = 0.5) -> RichComparison:
    """Test error of the scaled network f_α against its own initial kernel's and Θ's, at equal η/η_max and t.

    One hidden ReLU layer (NTK parameterization, W_std = √2, no bias), centred and scaled by α,
    trained at η = eta_fraction · 2/λ_max(α² K₀) of each seed's own K₀; the kernels are trained at
    η = eta_fraction · 2/λ_max of their own matrix, so every model runs at the same η/η_max.
    All α and seeds train side by side in one compiled loop.

    Args:
      data: training and test sets, as from :func:`single_index`.
      width: n; alphas: (A,) output scales α > 0; seeds: the seeds of θ₀.
      steps: the number of steps, a multiple of ``record_every``; eta_fraction: in (0, 1).

    Returns:
      A :class:`RichComparison`.
    """
    if not isinstance(data, Dataset):
        raise TypeError(f"data must be an ntk_helpers.data.Dataset (as from single_index), got {type(data).__name__}")
    x, y, xt, yt = (np.asarray(a, np.float64) for a in data)
    width, seeds = check_positive_int("width", width), _seeds(seeds)
    steps, record_every = check_positive_int("steps", steps), check_positive_int("record_every", record_every)
    if steps % record_every:
        raise ValueError(f"steps must be a multiple of record_every, got {steps} and {record_every}")
    alphas = np.atleast_1d(np.asarray(alphas, np.float64))
    if alphas.ndim != 1 or not np.all(np.isfinite(alphas) & (alphas > 0)):
        raise ValueError(f"alphas must be a 1-D array of positive output scales, got {alphas}")
    if not 0 < check_positive("eta_fraction", eta_fraction) < 1:
        raise ValueError(f"eta_fraction must lie in (0, 1), got {eta_fraction}")
    net = Network("mlp", width=width, depth=1, W_std=2**0.5)
    params = init_batch(net, seeds, x.shape[1])
    k0 = layer_ntk(net, astype(params, np.float64), np.vstack([x, xt]), x).total  # (S, N + M, N)
    n_train, times = x.shape[0], np.arange(0, steps + 1, record_every)
    lam = np.array([np.linalg.eigvalsh(k[:n_train])[-1] for k in k0])  # (S,)
    mse = lambda f: np.mean((f - yt) ** 2, axis=-1)  # noqa: E731
    own = np.array([mse(_kernel_predictions(k[:n_train], k[n_train:], y, eta_fraction * 2 / top, np.append(times, np.inf)))
                    for k, top in zip(k0, lam, strict=True)])  # (S, T + 1): the last column is t = ∞
    theta = analytic(Network("mlp", width=None, depth=1, W_std=2**0.5), np.vstack([x, xt]), x).ntk
    eta_inf = eta_fraction * 2 / np.linalg.eigvalsh(theta[:n_train])[-1]
    infinite = mse(_kernel_predictions(theta[:n_train], theta[n_train:], y, eta_inf, np.append(times, np.inf)))
    a = np.repeat(alphas, len(seeds))  # α-major: C = A · S settings
    weights = [np.tile(p["W"], (len(alphas), 1, 1)) for p in params]
    run = rg.train(weights, rg.layer_scales("ntk", width, 1, x.shape[1])[0], x, y,
                   etas=eta_fraction * 2 / (a**2 * np.tile(lam, len(alphas))), alphas=a, steps=steps,
                   record_every=record_every, x_eval=xt)
    shape = (len(alphas), len(seeds))
    return RichComparison(times, alphas, mse(run.f_eval).reshape(*shape, -1), own[:, :-1], own[:, -1], infinite[:-1], float(infinite[-1]),
                          run.loss[:, -1].reshape(shape))
