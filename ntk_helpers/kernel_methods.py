"""Kernel methods at scale: the GP marginal likelihood, and what the exact and the Nyström method cost.

Introduced in notebook 11. Everything here is numpy and scipy (no JAX, no compilation):

* :func:`log_marginal_likelihood` — log p(y) of targets under the Gaussian process with covariance
  K + σ²I (the NNGP Σ is the prior of a network at initialisation), from one Cholesky
  factorisation; optionally with the output scale that maximises it;
* :func:`tuning_scores` — a network setting scored through its kernels alone: the validation
  accuracy of its NTK predictor after t steps, and the NNGP's marginal likelihood;
* :func:`resample` — N inputs drawn from a data set's training pool with Gaussian jitter, for
  training sets larger than the data set;
* :func:`exact_cost` and :func:`nystrom_cost` — time and peak memory of kernel ridge regression
  with the analytic NTK, exact (the N × N kernel, its Cholesky factor, the prediction) and with
  the Nyström approximation of rank m (Williams & Seeger 2001);
* :func:`memory_limit` and :func:`largest_n` — the memory the exact method may use here, and the
  largest N that fits it, from the measured bytes per kernel entry.
"""

from __future__ import annotations

import os
import time
import tracemalloc
from typing import NamedTuple

import numpy as np

from .errors import check_positive, check_positive_int, check_seed
from .kernels import analytic as _analytic
from .network import Network
from .realdata import accuracy, coefficients, nystrom_projection

__all__ = ["log_marginal_likelihood", "tuning_scores", "resample", "Cost", "exact_cost", "nystrom_cost", "memory_limit", "largest_n"]


def _square(name, k, n):
    k = np.asarray(k, dtype=np.float64)
    if k.ndim != 2 or k.shape != (n, n):
        raise ValueError(f"{name} must be square with one row per target ({n}), got shape {k.shape}")
    if not np.all(np.isfinite(k)):
        raise ValueError(f"{name} holds NaN or infinite values")
    return k


def log_marginal_likelihood(k, y, *, noise: float, fit_scale: bool = False) -> float:
    """log p(y) = −½ yᵀ(K + σ²I)⁻¹y − ½ log det(K + σ²I) − (N/2) log 2π for y ~ N(0, K + σ²I).

    With ``fit_scale=True`` the covariance is c (K + σ²I) with the output scale c that maximises
    the likelihood, c* = yᵀ(K + σ²I)⁻¹y / N, which gives −(N/2)(log(2π c*) + 1) − ½ log det(K + σ²I):
    the kernel's shape is scored, not its overall size (Rasmussen & Williams 2006, § 5.4).

    Args:
      k: (N, N) the prior covariance of the outputs, e.g. the NNGP Σ on the training inputs.
      y: (N,) targets.
      noise: σ² > 0, the variance of the observation noise (the ridge ρ of kernel regression).
      fit_scale: maximise over the output scale c.

    Returns:
      The log marginal likelihood, a float.

    Example:
      >>> round(log_marginal_likelihood(np.eye(2), [1.0, -1.0], noise=1.0), 6)  # −½ − log 2 − log 2π
      -3.031024
    """
    y = np.asarray(y, dtype=np.float64)
    if y.ndim != 1 or not np.all(np.isfinite(y)):
        raise ValueError(f"y must be a finite vector (N,), got shape {y.shape}")
    k = _square("k", k, y.shape[0])
    noise = check_positive("noise", noise)
    from scipy.linalg import LinAlgError, cho_factor, cho_solve

    try:
        chol = cho_factor(k + noise * np.eye(len(y)), lower=True)
    except LinAlgError:
        raise ValueError("k + noise·I is not positive definite: is k a covariance (symmetric PSD)?") from None
    fit = float(y @ cho_solve(chol, y))
    logdet = 2.0 * float(np.sum(np.log(np.diag(chol[0]))))
    n = len(y)
    if fit_scale:
        return float(-0.5 * n * (np.log(2 * np.pi * fit / n) + 1.0) - 0.5 * logdet)
    return float(-0.5 * fit - 0.5 * logdet - 0.5 * n * np.log(2 * np.pi))


def tuning_scores(net: Network, x, y, x_val, y_val, *, steps: int, noises=(1e-3, 1e-2, 1e-1, 1.0)):
    """Score a network setting by its kernels alone, without training a network.

    * η = η_max/2 with η_max = 2/λ_max(Θ) of the analytic NTK on the training inputs, and the
      validation accuracy of the kernel predictor Θ(x, X) α_t after ``steps`` steps at that η
      (``realdata.coefficients``);
    * the NNGP's log marginal likelihood with the fitted output scale (:func:`log_marginal_likelihood`),
      the best over the noise variances σ² = ``noises`` × the mean diagonal of Σ.

    Args:
      net: the setting; x: (N, d), y: (N,) training data; x_val: (M, d), y_val: (M,) validation data.
      steps: the gradient-descent steps t; noises: candidate σ² relative to the mean diagonal.

    Returns:
      ``(eta, validation_accuracy, log_likelihood)``.
    """
    from .dynamics import max_learning_rate

    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    k = _analytic(net, x)
    eta = 0.5 * max_learning_rate(k.ntk)
    alpha = coefficients(k.ntk, y, learning_rate=eta, t=check_positive_int("steps", steps))
    val = accuracy(_analytic(net, x_val, x).ntk @ alpha, y_val)
    scale = float(np.mean(np.diag(k.nngp)))
    lml = max(log_marginal_likelihood(k.nngp, y, noise=r * scale, fit_scale=True) for r in noises)
    return eta, val, lml


def resample(x, y, n: int, *, noise: float = 0.5, seed: int = 0):
    """n inputs drawn with replacement from (x, y), each plus N(0, noise²) on every feature.

    A stand-in for a larger data set of the same kind, to measure how a method scales with N.

    Args:
      x: (N₀, d) inputs; y: (N₀,) targets; n: the number of points wanted (any size).
      noise: the standard deviation of the jitter, in the units of x (≥ 0).

    Returns:
      ``(x_new, y_new)`` of shapes (n, d) and (n,).
    """
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if x.ndim != 2 or y.shape != (x.shape[0],):
        raise ValueError(f"x (N, d) and y (N,) must agree, got {x.shape} and {y.shape}")
    if not float(noise) >= 0:
        raise ValueError(f"noise must be ≥ 0, got {noise!r}")
    rng = np.random.default_rng(check_seed("seed", seed))
    pick = rng.integers(0, x.shape[0], size=check_positive_int("n", n))
    return x[pick] + float(noise) * rng.standard_normal((n, x.shape[1])), y[pick]


class Cost(NamedTuple):
    """Seconds (wall clock, best of the repeats) of each stage and the peak memory of one run.

    Attributes:
      kernel: computing the kernel matrices on the training inputs (exact: N × N; Nyström: N × m
        and m × m, and the features).
      solve: the linear solve (exact: Cholesky of the N × N matrix; Nyström: an m × m system).
      predict: the test kernel (M × N, or M × m) and its product with the coefficients.
      peak_bytes: the most memory numpy held at once during the first run (``tracemalloc``).
      f_test: (M,) the predictions on the test inputs.
    """

    kernel: float
    solve: float
    predict: float
    peak_bytes: int
    f_test: np.ndarray

    @property
    def total(self) -> float:
        """The seconds of the three stages together."""
        return self.kernel + self.solve + self.predict

    def summary(self, y_test=None) -> str:
        """One line: the seconds of each stage, the peak memory, and the test accuracy given ±1 targets."""
        out = (f"{self.kernel:.3f} s kernel + {self.solve:.3f} s solve + {self.predict:.3f} s predict, "
               f"{self.peak_bytes / 2**20:.0f} MiB")
        if y_test is None:
            return out
        return out + f", accuracy {accuracy(self.f_test, y_test):.3f}"


def _timed(stages, repeat, memory):
    """Run the stages (each a function of the previous stage's result) ``repeat`` times.

    Returns the best time of each stage, the peak memory traced during the first run (0 when
    ``memory`` is false; tracing numpy's allocations barely slows large array work) and the last output.
    """
    best = [np.inf] * len(stages)
    peak = 0
    for run in range(check_positive_int("repeat", repeat)):
        trace = memory and run == 0
        if trace:
            tracemalloc.start()
        out = None
        for i, stage in enumerate(stages):
            start = time.perf_counter()
            out = stage(out)
            best[i] = min(best[i], time.perf_counter() - start)
        if trace:
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
    return best, peak, out


def _check(net, x, y, x_test, ridge):
    if not isinstance(net, Network):
        raise TypeError(f"net must be an nh.Network, got {type(net).__name__}")
    x, xt, y = (np.asarray(a, dtype=np.float64) for a in (x, x_test, y))
    if x.ndim != 2 or xt.ndim != 2 or x.shape[1] != xt.shape[1] or y.shape != (x.shape[0],):
        raise ValueError(f"x (N, d), y (N,) and x_test (M, d) must agree, got {x.shape}, {y.shape}, {xt.shape}")
    return x, y, xt, check_positive("ridge", ridge)


def exact_cost(net: Network, x, y, x_test, *, ridge: float = 1e-3, repeat: int = 1, memory: bool = True) -> Cost:
    """Time and memory of exact kernel ridge regression with the analytic NTK Θ of ``net``.

    Stages: Θ(X, X) (N × N; the recursion computes Σ alongside), the Cholesky factorisation of
    Θ + ρ·mean(diag Θ)·I and the solve for α (scipy's ``cho_factor``/``cho_solve``), then
    Θ(X_test, X) α. Memory grows like N², time like N² (kernel) and N³ (solve).

    Args:
      net: the network whose analytic NTK is the kernel; x: (N, d); y: (N,); x_test: (M, d).
      ridge: ρ relative to the mean diagonal; repeat: runs timed (best kept);
      memory: trace the first run with ``tracemalloc`` for the peak memory (0 otherwise).

    Returns:
      A :class:`Cost`.
    """
    from scipy.linalg import cho_factor, cho_solve

    x, y, xt, ridge = _check(net, x, y, x_test, ridge)

    def solve(k):
        k[np.diag_indices_from(k)] += ridge * np.mean(np.diag(k))
        return cho_solve(cho_factor(k, lower=True, overwrite_a=True), y)

    stages = (lambda _: _analytic(net, x).ntk, solve, lambda a: _analytic(net, xt, x).ntk @ a)
    (t_k, t_s, t_p), peak, f = _timed(stages, repeat, memory)
    return Cost(t_k, t_s, t_p, peak, f)


def nystrom_cost(net: Network, x, y, x_test, *, m: int = 200, ridge: float = 1e-3, seed: int = 0, repeat: int = 1,
                 memory: bool = True) -> Cost:
    """Time and memory of Nyström kernel ridge regression with the analytic NTK Θ of ``net``, rank m.

    Stages: m landmarks drawn from the training inputs; Θ(X, X_I) (N × m) and Θ(X_I, X_I) (m × m)
    and the features F = Θ(X, X_I) V Λ^(−1/2) (N × r, r ≤ m, ``realdata.nystrom``); the ridge
    regression w = (FᵀF + ρ·mean(diag Θ)·I)⁻¹ Fᵀ y (an r × r system); Θ(X_test, X_I) V Λ^(−1/2) w.
    Time and memory grow like N for a fixed m.

    Args:
      net, x, y, x_test, ridge, repeat, memory: as in :func:`exact_cost`.
      m: the number of landmarks (≤ N); seed: the seed of their draw.

    Returns:
      A :class:`Cost`.
    """
    from scipy.linalg import cho_factor, cho_solve

    x, y, xt, ridge = _check(net, x, y, x_test, ridge)
    m = check_positive_int("m", m)
    if m > x.shape[0]:
        raise ValueError(f"m must be at most the number of training points {x.shape[0]}, got {m}")
    land = x[np.sort(np.random.default_rng(check_seed("seed", seed)).choice(x.shape[0], m, replace=False))]

    def features(_):
        w = _analytic(net, land).ntk
        proj = nystrom_projection(w)  # (m, r)
        return _analytic(net, x, land).ntk @ proj, proj, float(np.mean(np.diag(w)))

    def solve(state):
        feats, proj, scale = state
        gram = feats.T @ feats
        gram[np.diag_indices_from(gram)] += ridge * scale
        return proj @ cho_solve(cho_factor(gram, lower=True), feats.T @ y)  # (m,): f = Θ(x, X_I) · this

    stages = (features, solve, lambda a: _analytic(net, xt, land).ntk @ a)
    (t_k, t_s, t_p), peak, f = _timed(stages, repeat, memory)
    return Cost(t_k, t_s, t_p, peak, f)


def largest_n(bytes_per_entry: float, limit_bytes: float) -> int:
    """The largest N with bytes_per_entry · N² ≤ limit_bytes (the exact method's memory rule).

    Example:
      >>> largest_n(8.0, 8 * 1000**2)
      1000
    """
    per = check_positive("bytes_per_entry", bytes_per_entry)
    return int(np.floor(np.sqrt(check_positive("limit_bytes", limit_bytes) / per) + 1e-9))


def memory_limit() -> float:
    """Bytes the exact method may use: min(the package's limit, half of this machine's memory).

    The package's limit is ``ntk_helpers.budget.LIMITS["bytes"]`` (raise it with
    ``ntk_helpers.budget.limits(bytes=...)``); half of the physical memory leaves room for the
    rest of the machine. Where the physical memory cannot be read, the package's limit alone.
    """
    from .budget import LIMITS

    try:
        ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, OSError, ValueError):
        ram = float("inf")
    return float(min(LIMITS["bytes"], ram / 2))
