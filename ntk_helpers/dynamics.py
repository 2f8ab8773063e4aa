"""Gradient-descent dynamics for the squared loss: closed forms and real training.

Conventions (see CONVENTIONS.md): the loss is L = ½‖f − y‖² (summed), η is the learning rate
and t counts steps. With a constant kernel K, gradient flow gives

    f_t = y + e^{−ηKt} (f_0 − y)                      (training points)
    f_t(x) = f_0(x) + K(x, X) K⁻¹ (I − e^{−ηKt}) (y − f_0)   (any point)

(Jacot et al. 2018, arXiv:1806.07572; Lee et al. 2019, arXiv:1902.06720), and discrete
gradient descent replaces e^{−ηKt} by (I − ηK)^t, which converges only for η < 2/λ_max.
Every kernel argument must be symmetric and positive semi-definite to round-off
(:func:`~ntk_helpers.errors.check_kernel`); inputs are promoted to float64, never truncated.
Real training (:func:`train`, :func:`train_linearized`, :func:`linearize`) lives in
:mod:`ntk_helpers._training` and is re-exported here. Introduced in notebook 01; notebook 02
uses the t = ∞ limit (kernel regression).
"""

from __future__ import annotations

import warnings
from typing import NamedTuple

import numpy as np

from . import _factor
from ._training import Trajectory, linearize, train, train_linearized
from .errors import (
    DivergenceError,
    as_float_array,
    check_bool,
    check_kernel,
    check_nonneg,
    check_positive,
)
from .spectral import _check_eigenvalues, check_times, decay_and_learned, spectral_filter

__all__ = [
    "Predictions", "Gaussian", "Trajectory", "gradient_descent_mse", "kernel_regression", "gp_posterior",
    "trained_ensemble", "max_learning_rate", "mode_decay", "spectral_filter", "train", "train_linearized",
    "linearize",
]


class Predictions(NamedTuple):
    """Outputs on the training points (T, N) and on test points (T, M) or None."""

    train: np.ndarray
    test: np.ndarray | None


class Gaussian(NamedTuple):
    """A Gaussian over function values: mean (M,), covariance (M, M)."""

    mean: np.ndarray
    covariance: np.ndarray


def _eigh_psd(name, k):
    """(λ ascending clipped at 0, V, tol) of a symmetric PSD matrix, cached by content; see :mod:`._factor`."""
    return _factor.eigensystem(name, k)


def _targets(y_train, k, name="k_train_train"):
    y = as_float_array("y_train", y_train, ndim=1, nonempty=False)
    if y.shape[0] != k.shape[0]:
        raise ValueError(f"y_train must have {k.shape[0]} entries (one per row of {name}), got {y.shape[0]}")
    return y


def _cross(name, k, n, like=None):
    """A cross kernel (M, N) between test and training points, as float64; M that of ``like`` if given."""
    k = as_float_array(name, k, ndim=2, dim=n, nonempty=False)
    if like is not None and k.shape[0] != like[1].shape[0]:
        raise ValueError(f"{name} must have shape {like[1].shape} like {like[0]}, got {k.shape}")
    return k


def _test_test(name, k, like):
    """The (M, M) kernel between test points, M the number of rows of the cross kernel ``like``."""
    m = like[1].shape[0]
    a = as_float_array(name, k, ndim=2, nonempty=False)
    if a.shape != (m, m):
        raise ValueError(f"{name} must have shape ({m}, {m}) (one row per row of {like[0]}), got {a.shape}")
    return check_kernel(name, a) if m else a


def max_learning_rate(k_train_train) -> float:
    """The stability bound of discrete gradient descent on ½‖f − y‖²: η_max = 2 / λ_max(K).

    Raises:
      ValueError: K is not symmetric PSD, or is zero (every learning rate is then stable).

    Example:
      >>> max_learning_rate([[2.0, 0.0], [0.0, 1.0]])
      1.0
    """
    lam, _, _ = _eigh_psd("k_train_train", check_kernel("k_train_train", k_train_train))
    if lam[-1] <= 0:
        raise ValueError("k_train_train is zero: it has no positive eigenvalue, so no learning rate is too large")
    return 2.0 / float(lam[-1])


def gradient_descent_mse(k_train_train, y_train, learning_rate, *, ridge: float = 0.0, discrete: bool = False):
    """Closed-form predictions of gradient descent on ½‖f − y‖² with a constant kernel.

    One eigen-decomposition K = V diag(λ) Vᵀ (μ = λ + ρ), then for every time t

        f_t(X) = f_0(X) + V diag(h(t)) Vᵀ (y − f_0(X)),   f_t(x) = f_0(x) + K(x, X) V diag(h(t)/λ) Vᵀ (y − f_0(X)),

    with h the learned fraction of :func:`~ntk_helpers.spectral.spectral_filter` (the same code):
    d = e^{−ημt} (gradient flow) or (1 − ημ)^t (``discrete=True``, exact for a linear model, t whole).
    With ρ = 0 this gives f_t(X) = y + e^{−ηKt}(f_0 − y) on the training points.

    Args:
      k_train_train: (N, N) symmetric PSD kernel on the training inputs.
      y_train: (N,) targets.
      learning_rate: η > 0.
      ridge: ρ ≥ 0 added to the diagonal (absolute, in kernel units).
      discrete: discrete steps instead of gradient flow.

    Returns:
      ``predict(t, fx_train_0, fx_test_0=None, k_test_train=None) -> Predictions`` where t is a
      scalar or a 1-D array of steps (np.inf allowed; whole numbers when ``discrete``), fx_train_0
      (N,) the outputs at t = 0, fx_test_0 (M,) and k_test_train (M, N) for test points. Arrays
      are (T, ·), or (·) for scalar t. Modes with a zero eigenvalue are never learned: at t = ∞
      they are left out with a ``RuntimeWarning`` (pseudo-inverse).

    Cost: the eigen-decomposition is cached by the kernel's content (:mod:`ntk_helpers._factor`),
    so calling this again with another ridge or η, or ``predict`` with other times, does not
    factorise again. For gradient flow, the first call for a kernel makes one Cholesky
    factorisation of K + ρI (N³/3 flops; it also proves K + ρI positive definite) and t = ∞ is one
    solve with it; the eigen-decomposition (~4N³) is made at the first finite t, or when a second
    ridge is asked for, and then serves every t and ρ (the Cholesky factor is let go). When K + ρI
    is singular or ill-conditioned, everything goes through the eigen-decomposition.

    Raises:
      DivergenceError: ``discrete=True`` and η ≥ 2/λ_max.
      ValueError: K is not symmetric or not positive semi-definite (−10⁻⁵ λ_max is round-off).

    Example:
      >>> import numpy as np
      >>> k = np.array([[2.0, 0.5], [0.5, 1.0]])
      >>> predict = gradient_descent_mse(k, np.array([1.0, -1.0]), learning_rate=0.1)
      >>> np.round(predict(np.inf, np.zeros(2)).train, 6)
      array([ 1., -1.])
    """
    k = check_kernel("k_train_train", k_train_train)
    y = _targets(y_train, k)
    eta = check_positive("learning_rate", learning_rate)
    ridge = check_nonneg("ridge", ridge)
    discrete = check_bool("discrete", discrete)
    key = _factor.fingerprint(k)
    cache = {"eig": _factor.cached_eigensystem(key), "chol": None}
    if cache["eig"] is None and not discrete and not _factor.has_cholesky(key):
        # K + ρI clearly positive definite: t = ∞ needs no more. (A second ρ for the same K — a ridge
        # slider — goes to the eigensystem instead, which serves every ρ.)
        cache["chol"] = _factor.cholesky(k, ridge, key)
    if cache["eig"] is None and cache["chol"] is None:
        cache["eig"] = _factor.eigensystem("k_train_train", k, key, overwrite=True)  # k (our copy) is used up
    cache["k"] = None if cache["eig"] is not None else k  # kept only until the eigensystem is made
    del k
    if discrete and eta * (cache["eig"].lam[-1] + ridge) >= 2.0:
        mu_max = cache["eig"].lam[-1] + ridge
        bound = "2/λ_max" if ridge == 0 else f"2/(λ_max + ridge) with ridge = {ridge:.4g}"
        raise DivergenceError(
            f"training diverges: η = {eta:.4g} ≥ {bound} = {2.0 / mu_max:.4g} (discrete gradient descent)"
        )

    def spectrum():
        if cache["eig"] is None:  # first finite time: the eigen-decomposition, once (cached by content),
            cache["chol"] = None  # which serves t = ∞ as well: the Cholesky factor is let go
            _factor.forget_cholesky(key, ridge)
            cache["eig"] = _factor.eigensystem("k_train_train", cache.pop("k"), key, overwrite=True)
        lam, v, _ = cache["eig"]
        mu = lam + ridge
        return lam, mu, v, mu <= _factor.zero_tol(mu)  # zero: round-off modes of a singular K (ρ = 0)

    def predict(t, fx_train_0, fx_test_0=None, k_test_train=None) -> Predictions:
        times = check_times(t, discrete)
        f0 = as_float_array("fx_train_0", fx_train_0, ndim=1, dim=y.shape[0])
        if (fx_test_0 is None) != (k_test_train is None):
            raise ValueError("fx_test_0 and k_test_train must be given together")
        kt = ft0 = None
        if k_test_train is not None:
            kt = _cross("k_test_train", k_test_train, y.shape[0])
            ft0 = as_float_array("fx_test_0", fx_test_0, ndim=1, nonempty=False)
            if ft0.shape[0] != kt.shape[0]:
                raise ValueError(f"fx_test_0 must have {kt.shape[0]} entries (one per row of k_test_train), "
                                 f"got {ft0.shape[0]}")
        if cache["chol"] is not None and np.all(np.isinf(times)):
            # t = ∞ by one Cholesky solve: a = (K + ρI)⁻¹ (y − f_0); K a = (y − f_0) − ρ a
            a = _factor.cho_solve(cache["chol"], y - f0)
            count = np.atleast_1d(times).shape[0]
            train = np.repeat((y - ridge * a)[None, :], count, axis=0)
            test = None if kt is None else np.repeat((ft0 + kt @ a)[None, :], count, axis=0)
        else:
            train, test = _in_eigenbasis(times, f0, kt, ft0)
        if times.ndim == 0:
            return Predictions(train[0], None if test is None else test[0])
        return Predictions(train, test)

    def _in_eigenbasis(times, f0, kt, ft0):
        lam, mu, v, zero = spectrum()
        _, learned = decay_and_learned(mu, times, eta, discrete)  # (T, N)
        finite = np.isfinite(np.atleast_1d(times))[:, None]
        if np.any(zero) and not np.all(finite):
            warnings.warn(
                f"k_train_train is singular ({int(zero.sum())} eigenvalue(s) <= {_factor.zero_tol(mu):.2g}): at "
                "t = inf those modes are never learned and are left out (pseudo-inverse)", RuntimeWarning,
                stacklevel=3)
        with np.errstate(divide="ignore", invalid="ignore"):
            gain = np.where(zero, np.where(finite, eta * np.atleast_1d(times)[:, None], 0.0), learned / mu)
        h = np.where(zero, lam * gain, learned * np.divide(lam, mu, out=np.zeros_like(mu), where=mu > 0))
        r = v.T @ (y - f0)
        train = f0[None, :] + (h * r[None, :]) @ v.T
        # K(x, X) V diag(g) Vᵀ r, multiplied right to left: T·N² + T·M·N, never M·N² (no kt @ V)
        test = None if kt is None else ft0[None, :] + ((gain * r[None, :]) @ v.T) @ kt.T
        return train, test

    return predict


def _solve_psd(name, k, b):
    """K⁻¹ b: one Cholesky solve when K is clearly positive definite, else a pseudo-inverse (warning)."""
    factor = _factor.cholesky(k)
    if factor is not None:
        return _factor.cho_solve(factor, b)
    lam, v, tol = _eigh_psd(name, k)
    inv = np.where(lam > tol, 1.0 / np.where(lam > tol, lam, 1.0), 0.0)
    if np.any(lam <= tol):
        warnings.warn(f"{name} is singular: using a pseudo-inverse", RuntimeWarning, stacklevel=3)
    return v @ (inv[:, None] * (v.T @ b))


def kernel_regression(k_test_train, k_train_train, y_train, *, ridge: float = 0.0) -> np.ndarray:
    """Kernel (ridge) regression f(x) = K(x, X) (K + ρI)⁻¹ y: the t = ∞ limit from f_0 = 0, shape (M,).

    A singular K (ρ = 0) is handled by a pseudo-inverse with a ``RuntimeWarning``.

    Example:
      >>> import numpy as np
      >>> k = np.array([[1.0, 0.5], [0.5, 1.0]])
      >>> np.round(kernel_regression(k, k, np.array([1.0, 2.0])), 6)
      array([1., 2.])
    """
    k = check_kernel("k_train_train", k_train_train)
    y = _targets(y_train, k)
    ridge = check_nonneg("ridge", ridge)
    kt = _cross("k_test_train", k_test_train, y.shape[0])
    return kt @ _solve_psd("k_train_train", k + ridge * np.eye(y.shape[0]), y[:, None])[:, 0]


def gp_posterior(k_test_train, k_train_train, k_test_test, y_train, *, ridge: float = 0.0) -> Gaussian:
    """The Gaussian-process posterior given exact (ρ = 0) or noisy (ρ = noise variance) observations.

    mean = K_* (K + ρI)⁻¹ y (M,),  covariance = K_** − K_* (K + ρI)⁻¹ K_*ᵀ (M, M) (Rasmussen &
    Williams 2006, §2.2). The joint kernel of training and test points must be PSD; the covariance
    is computed as a Gram matrix, so it is PSD too and its variances are ≥ 0 (a square root never
    gives NaN), also for an ill-conditioned or singular K (pseudo-inverse). With the NNGP kernel this is Bayesian inference with an infinitely wide network as
    the prior (Lee et al. 2018, arXiv:1711.00165).
    """
    k = check_kernel("k_train_train", k_train_train)
    y = _targets(y_train, k)
    ridge = check_nonneg("ridge", ridge)
    kt = _cross("k_test_train", k_test_train, y.shape[0])
    ktt = _test_test("k_test_test", k_test_test, ("k_test_train", kt))
    n = y.shape[0]
    _, _, tol = _eigh_psd("k_train_train", k + ridge * np.eye(n))
    mean = kt @ _solve_psd("k_train_train", k + ridge * np.eye(n), y[:, None])[:, 0]
    # The covariance as a Gram matrix, PSD to the last bit however ill-conditioned K is: with the
    # joint prior kernel J = F Fᵀ, F = [F_X; F_*], and A = [F_X, √ρ I] (so that A Aᵀ = K + ρI), the
    # posterior covariance is G Gᵀ with G = [F_*, 0] minus its projection on the row space of A.
    lam, v, _ = _eigh_psd("the joint kernel [[k_train_train, k_test_trainᵀ], [k_test_train, k_test_test]]",
                          np.block([[k, kt.T], [kt, ktt]]))
    root = v * np.sqrt(lam)
    a = np.hstack([root[:n], np.sqrt(ridge) * np.eye(n)])
    b = np.hstack([root[n:], np.zeros((kt.shape[0], n))])
    _, sv, vt = np.linalg.svd(a, full_matrices=False)
    basis = vt[sv**2 > tol]
    g = b - (b @ basis.T) @ basis
    return Gaussian(mean, g @ g.T)


def trained_ensemble(ntk_test_train, ntk_train_train, nngp_test_train, nngp_train_train, nngp_test_test, y_train):
    """Mean (M,) and covariance (M, M) over initialisations of infinitely wide networks trained to t = ∞.

    mean = Θ_* Θ⁻¹ y;  cov = K_** + Θ_* Θ⁻¹ K Θ⁻¹ Θ_*ᵀ − (Θ_* Θ⁻¹ K_*ᵀ + K_* Θ⁻¹ Θ_*ᵀ)
    (Lee et al. 2019, arXiv:1902.06720, eq. 16), Θ the NTK and K the NNGP kernel; the training
    kernels are (N, N), the test-train ones (M, N) and K_** (M, M). The joint NNGP kernel must be
    PSD; the covariance is computed as a Gram matrix, so it is PSD too (no negative variances).
    """
    th = check_kernel("ntk_train_train", ntk_train_train)
    y = _targets(y_train, th, "ntk_train_train")
    n = y.shape[0]
    k = check_kernel("nngp_train_train", nngp_train_train, n)
    th_t = _cross("ntk_test_train", ntk_test_train, n)
    k_t = _cross("nngp_test_train", nngp_test_train, n, like=("ntk_test_train", th_t))
    k_tt = _test_test("nngp_test_test", nngp_test_test, ("ntk_test_train", th_t))
    a = _solve_psd("ntk_train_train", th, np.column_stack([y, th_t.T]))  # Θ⁻¹ [y, Θ_*ᵀ]
    proj = a[:, 1:].T  # Θ_* Θ⁻¹, (M, N)
    # cov = B J Bᵀ with B = [−Θ_*Θ⁻¹, I] and J the joint NNGP kernel: as the Gram matrix of B J^{1/2}
    # it is positive semi-definite to the last bit, however ill-conditioned Θ is.
    joint = np.block([[k, k_t.T], [k_t, k_tt]])
    lam, v, _ = _eigh_psd("the joint NNGP kernel [[nngp_train_train, nngp_test_trainᵀ], [nngp_test_train, "
                          "nngp_test_test]]", joint)
    root = v * np.sqrt(lam)
    g = root[n:] - proj @ root[:n]
    return Gaussian(th_t @ a[:, 0], g @ g.T)


def mode_decay(eigenvalues, learning_rate, t, *, discrete: bool = False) -> np.ndarray:
    """Predicted residual factor of each eigen-mode, e^{−ηλt} or (1 − ηλ)^t, shape (T, K).

    A mode with λ = 0 keeps its residual (factor 1, also at t = ∞). Discrete steps take whole
    numbers of steps; with ηλ > 2 the factor grows, and at t = ∞ that raises.

    Raises:
      DivergenceError: ``discrete`` with ηλ_max ≥ 2 and t = ∞, or a factor that overflows.

    Example:
      >>> import numpy as np
      >>> mode_decay(np.array([1.0, 0.1]), 0.5, np.array([0, 2]), discrete=True)
      array([[1.    , 1.    ],
             [0.25  , 0.9025]])
    """
    lam = _check_eigenvalues(eigenvalues)
    eta = check_positive("learning_rate", learning_rate)
    discrete = check_bool("discrete", discrete)
    times = check_times(t, discrete)
    if discrete and eta * lam.max() >= 2.0 and np.any(np.isinf(times)):
        raise DivergenceError(f"the largest mode never decays: η = {eta:.4g} ≥ 2/λ_max = {2.0 / lam.max():.4g}")
    with np.errstate(over="ignore"):
        decay, _ = decay_and_learned(lam, times, eta, discrete)
    if not np.all(np.isfinite(decay)):
        raise DivergenceError(f"the residual factor |1 − ηλ|^t overflows: η = {eta:.4g} ≥ 2/λ_max = "
                              f"{2.0 / lam.max():.4g}, so the largest mode grows without bound")
    return decay
