"""Gradient-descent dynamics for the squared loss: closed forms and real training.

Conventions (see CONVENTIONS.md): the loss is L = ½‖f − y‖² (summed), η is the learning rate
and t counts steps. With a constant kernel K, gradient flow gives

    f_t = y + e^{−ηKt} (f_0 − y)                      (training points)
    f_t(x) = f_0(x) + K(x, X) K⁻¹ (I − e^{−ηKt}) (y − f_0)   (any point)

(Jacot et al. 2018, arXiv:1806.07572; Lee et al. 2019, arXiv:1902.06720), and discrete
gradient descent replaces e^{−ηKt} by (I − ηK)^t, which converges only for η < 2/λ_max.
Introduced in notebook 01; notebook 02 uses the t = ∞ limit (kernel regression).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .errors import DivergenceError, check_array, check_nonneg, check_positive, check_positive_int

__all__ = [
    "Predictions",
    "Gaussian",
    "Trajectory",
    "gradient_descent_mse",
    "kernel_regression",
    "gp_posterior",
    "trained_ensemble",
    "max_learning_rate",
    "mode_decay",
    "train",
    "train_linearized",
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


class Trajectory(NamedTuple):
    """A recorded training run.

    Attributes:
      steps: (T,) the step counts at which the state was recorded (starting at 0).
      loss: (T,) ½‖f − y‖² on the training set.
      f_train: (T, N) outputs on the training inputs.
      f_eval: (T, M) outputs on ``x_eval`` (None when not requested).
      params: the final parameters.
    """

    steps: np.ndarray
    loss: np.ndarray
    f_train: np.ndarray
    f_eval: np.ndarray | None
    params: object


def _kernel(name, k, n=None):
    k = np.asarray(check_array(name, k, ndim=2), dtype=np.float64)
    if k.shape[0] != k.shape[1]:
        raise ValueError(f"{name} must be square (N, N), got shape {k.shape}")
    if n is not None and k.shape[0] != n:
        raise ValueError(f"{name} must have shape ({n}, {n}), got {k.shape}")
    return 0.5 * (k + k.T)


def _eigh_psd(name, k):
    """Eigen-decomposition of a symmetric PSD matrix; rejects clearly indefinite input.

    Eigenvalues down to −10⁻⁵ λ_max are taken for round-off (a kernel computed in float32 has
    relative errors of that order) and clipped to 0; anything more negative is an error.
    """
    lam, v = np.linalg.eigh(k)
    tol = k.shape[0] * np.finfo(np.float64).eps * max(abs(lam).max(), 1e-300) * 10
    if lam.min() < -max(tol, 1e-5 * abs(lam).max()):
        raise ValueError(f"{name} is not positive semi-definite (smallest eigenvalue {lam.min():.3g})")
    return np.clip(lam, 0.0, None), v, tol


def _times(t):
    t = np.asarray(t, dtype=np.float64)
    if t.ndim > 1:
        raise ValueError(f"t must be a scalar or a 1-D array of steps, got shape {t.shape}")
    if np.any(np.isnan(t)) or np.any(t < 0):
        raise ValueError("t must be >= 0 (steps), got negative or NaN values")
    return t


def _gain(lam, t, learning_rate, discrete, tol, name):
    """g(λ, t) = (1 − decay(λ, t)) / λ with its λ → 0 limit; shape (T, N)."""
    t = np.atleast_1d(t)[:, None]
    lam = lam[None, :]
    eta = learning_rate
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if discrete:
            decay = np.where(np.isinf(t), 0.0, np.power(1.0 - eta * lam, np.where(np.isinf(t), 0.0, t)))
        else:
            decay = np.exp(-eta * lam * t)
        g = (1.0 - decay) / lam
    small = lam <= tol
    if np.any(small):
        finite = np.isfinite(t)
        if np.any(~finite):
            warnings.warn(
                f"{name} is singular ({int(small.sum())} eigenvalue(s) <= {tol:.2g}): at t = inf those "
                "modes are never learned and are left out (pseudo-inverse)",
                RuntimeWarning,
                stacklevel=3,
            )
        g = np.where(small, np.where(finite, eta * t, 0.0), g)
    return g


def max_learning_rate(k_train_train) -> float:
    """The stability bound of discrete gradient descent on ½‖f − y‖²: η_max = 2 / λ_max(K).

    Example:
      >>> max_learning_rate([[2.0, 0.0], [0.0, 1.0]])
      1.0
    """
    k = _kernel("k_train_train", k_train_train)
    lam_max = float(np.linalg.eigvalsh(k)[-1])
    if lam_max <= 0:
        raise ValueError("k_train_train has no positive eigenvalue")
    return 2.0 / lam_max


def gradient_descent_mse(k_train_train, y_train, learning_rate, *, ridge: float = 0.0, discrete: bool = False):
    """Closed-form predictions of gradient descent on ½‖f − y‖² with a constant kernel.

    One eigen-decomposition K + ρI = V diag(λ) Vᵀ, then for every time t

        f_t(x) = f_0(x) + K(x, X) V diag((1 − d(λ, t)) / λ) Vᵀ (y − f_0(X)),

    with d = e^{−ηλt} (gradient flow) or (1 − ηλ)^t (``discrete=True``, exact for a linear model).
    With ridge ρ = 0 this gives f_t(X) = y + e^{−ηKt}(f_0 − y) on the training points.

    Args:
      k_train_train: (N, N) kernel on the training inputs.
      y_train: (N,) targets.
      learning_rate: η > 0.
      ridge: ρ ≥ 0 added to the diagonal (absolute, in kernel units).
      discrete: discrete steps instead of gradient flow.

    Returns:
      ``predict(t, fx_train_0, fx_test_0=None, k_test_train=None) -> Predictions`` where t is a
      scalar or a 1-D array of steps (np.inf allowed), fx_train_0 (N,) the outputs at t = 0,
      fx_test_0 (M,) and k_test_train (M, N) for test points. Arrays are (T, ·), or (·) for scalar t.

    Raises:
      DivergenceError: ``discrete=True`` and η ≥ 2/λ_max.

    Example:
      >>> import numpy as np
      >>> k = np.array([[2.0, 0.5], [0.5, 1.0]])
      >>> predict = gradient_descent_mse(k, np.array([1.0, -1.0]), learning_rate=0.1)
      >>> np.round(predict(np.inf, np.zeros(2)).train, 6)
      array([ 1., -1.])
    """
    y = np.asarray(check_array("y_train", y_train, ndim=1), dtype=np.float64)
    k = _kernel("k_train_train", k_train_train, y.shape[0])
    eta = check_positive("learning_rate", learning_rate)
    ridge = check_nonneg("ridge", ridge)
    lam, v, tol = _eigh_psd("k_train_train", k + ridge * np.eye(k.shape[0]))
    if discrete and eta * lam[-1] >= 2.0:
        raise DivergenceError(
            f"training diverges: η = {eta:.4g} ≥ 2/λ_max = {2.0 / lam[-1]:.4g} (discrete gradient descent)"
        )
    k_lam = v.T @ k @ v  # K in the eigenbasis of K + ρI (diagonal when ρ = 0)

    def predict(t, fx_train_0, fx_test_0=None, k_test_train=None) -> Predictions:
        times = _times(t)
        f0 = np.asarray(check_array("fx_train_0", fx_train_0, ndim=1, dim=y.shape[0]), dtype=np.float64)
        coef = _gain(lam, times, eta, discrete, tol, "k_train_train") * (v.T @ (y - f0))[None, :]  # (T, N)
        train = f0[None, :] + coef @ k_lam.T @ v.T
        test = None
        if (fx_test_0 is None) != (k_test_train is None):
            raise ValueError("fx_test_0 and k_test_train must be given together")
        if k_test_train is not None:
            kt = np.asarray(check_array("k_test_train", k_test_train, ndim=2, dim=y.shape[0]), dtype=np.float64)
            ft0 = np.asarray(check_array("fx_test_0", fx_test_0, ndim=1, dim=kt.shape[0]), dtype=np.float64)
            test = ft0[None, :] + coef @ (kt @ v).T
        if times.ndim == 0:
            return Predictions(train[0], None if test is None else test[0])
        return Predictions(train, test)

    return predict


def kernel_regression(k_test_train, k_train_train, y_train, *, ridge: float = 0.0) -> np.ndarray:
    """Kernel (ridge) regression f(x) = K(x, X) (K + ρI)⁻¹ y: the t = ∞ limit from f_0 = 0.

    A singular K (ρ = 0) is handled by a pseudo-inverse with a ``RuntimeWarning``.

    Example:
      >>> import numpy as np
      >>> k = np.array([[1.0, 0.5], [0.5, 1.0]])
      >>> np.round(kernel_regression(k, k, np.array([1.0, 2.0])), 6)
      array([1., 2.])
    """
    y = np.asarray(check_array("y_train", y_train, ndim=1), dtype=np.float64)
    k = _kernel("k_train_train", k_train_train, y.shape[0])
    ridge = check_nonneg("ridge", ridge)
    kt = np.asarray(check_array("k_test_train", k_test_train, ndim=2, dim=y.shape[0]), dtype=np.float64)
    return kt @ _solve_psd("k_train_train", k + ridge * np.eye(y.shape[0]), y[:, None])[:, 0]


def _solve_psd(name, k, b):
    lam, v, tol = _eigh_psd(name, k)
    inv = np.where(lam > tol, 1.0 / np.where(lam > tol, lam, 1.0), 0.0)
    if np.any(lam <= tol):
        warnings.warn(f"{name} is singular: using a pseudo-inverse", RuntimeWarning, stacklevel=3)
    return v @ (inv[:, None] * (v.T @ b))


def gp_posterior(k_test_train, k_train_train, k_test_test, y_train, *, ridge: float = 0.0) -> Gaussian:
    """The Gaussian-process posterior given exact (ρ = 0) or noisy (ρ = noise variance) observations.

    mean = K_*ᵀ (K + ρI)⁻¹ y,  covariance = K_** − K_* (K + ρI)⁻¹ K_*ᵀ (Rasmussen & Williams 2006, §2.2).
    With the NNGP kernel this is Bayesian inference with an infinitely wide network as the prior
    (Lee et al. 2018, arXiv:1711.00165).
    """
    y = np.asarray(check_array("y_train", y_train, ndim=1), dtype=np.float64)
    k = _kernel("k_train_train", k_train_train, y.shape[0])
    ridge = check_nonneg("ridge", ridge)
    kt = np.asarray(check_array("k_test_train", k_test_train, ndim=2, dim=y.shape[0]), dtype=np.float64)
    ktt = _kernel("k_test_test", k_test_test, kt.shape[0])
    solved = _solve_psd("k_train_train", k + ridge * np.eye(y.shape[0]), np.column_stack([y, kt.T]))
    return Gaussian(kt @ solved[:, 0], ktt - kt @ solved[:, 1:])


def trained_ensemble(ntk_test_train, ntk_train_train, nngp_test_train, nngp_train_train, nngp_test_test, y_train):
    """Mean and covariance over initialisations of infinitely wide networks trained to t = ∞.

    mean = Θ_* Θ⁻¹ y;  cov = K_** + Θ_* Θ⁻¹ K Θ⁻¹ Θ_*ᵀ − (Θ_* Θ⁻¹ K_*ᵀ + K_* Θ⁻¹ Θ_*ᵀ)
    (Lee et al. 2019, arXiv:1902.06720, eq. 16), Θ the NTK and K the NNGP kernel.
    """
    y = np.asarray(check_array("y_train", y_train, ndim=1), dtype=np.float64)
    n = y.shape[0]
    th = _kernel("ntk_train_train", ntk_train_train, n)
    k = _kernel("nngp_train_train", nngp_train_train, n)
    th_t = np.asarray(check_array("ntk_test_train", ntk_test_train, ndim=2, dim=n), dtype=np.float64)
    k_t = np.asarray(check_array("nngp_test_train", nngp_test_train, ndim=2, dim=n), dtype=np.float64)
    k_tt = _kernel("nngp_test_test", nngp_test_test, th_t.shape[0])
    a = _solve_psd("ntk_train_train", th, np.column_stack([y, th_t.T]))  # Θ⁻¹ [y, Θ_*ᵀ]
    mean = th_t @ a[:, 0]
    proj = a[:, 1:].T  # Θ_* Θ⁻¹, (M, N)
    cross = proj @ k_t.T
    return Gaussian(mean, k_tt + proj @ k @ proj.T - cross - cross.T)


def mode_decay(eigenvalues, learning_rate, t, *, discrete: bool = False) -> np.ndarray:
    """Predicted residual factor of each eigen-mode: e^{−ηλt} or (1 − ηλ)^t, shape (T, K).

    Example:
      >>> import numpy as np
      >>> mode_decay(np.array([1.0, 0.1]), 0.5, np.array([0, 2]), discrete=True)
      array([[1.    , 1.    ],
             [0.25  , 0.9025]])
    """
    lam = np.asarray(check_array("eigenvalues", eigenvalues, ndim=1), dtype=np.float64)
    eta = check_positive("learning_rate", learning_rate)
    times = np.atleast_1d(_times(t))[:, None]
    if discrete:
        return np.power(1.0 - eta * lam[None, :], times)
    return np.exp(-eta * lam[None, :] * times)


def linearize(apply_fn: Callable, params0) -> Callable:
    """The first-order Taylor model f_lin(θ, x) = f(θ₀, x) + J(x)(θ − θ₀), via one JVP.

    Example:
      >>> import jax.numpy as jnp
      >>> from ntk_helpers.models import mlp
      >>> net = mlp(width=8, depth=1)
      >>> p0 = net.init(0, 2)
      >>> f_lin = linearize(net.apply, p0)
      >>> bool(jnp.allclose(f_lin(p0, jnp.ones((3, 2))), net.apply(p0, jnp.ones((3, 2)))))
      True
    """

    def apply_lin(params, x):
        return _linear_apply(apply_fn, params0, params, x)

    return apply_lin


def _linear_apply(apply_fn, params0, params, x):
    delta = jax.tree_util.tree_map(lambda a, b: a - b, params, params0)
    f0, df = jax.jvp(lambda p: apply_fn(p, x), (params0,), (delta,))
    return f0 + df


@partial(jax.jit, static_argnums=(0, 6, 7, 8))
def _train_scan(apply_fn, params, x, y, learning_rate, x_eval, steps, every, linear):
    params0 = params

    def f(p, inp):
        return _linear_apply(apply_fn, params0, p, inp) if linear else apply_fn(p, inp)

    def loss_fn(p):
        r = f(p, x) - y
        return 0.5 * jnp.sum(r * r)

    grad = jax.grad(loss_fn)

    def step(p, _):
        g = grad(p)
        return jax.tree_util.tree_map(lambda a, b: a - learning_rate * b, p, g), None

    def record(p):
        fx = f(p, x)
        r = fx - y
        fe = f(p, x_eval) if x_eval is not None else None
        return 0.5 * jnp.sum(r * r), fx, fe

    def chunk(p, _):
        p, _ = jax.lax.scan(step, p, None, length=every)
        return p, record(p)

    first = record(params)
    params, (loss, fx, fe) = jax.lax.scan(chunk, params, None, length=steps // every)
    cat = lambda a, b: None if a is None else jnp.concatenate([a[None], b])  # noqa: E731
    return params, cat(first[0], loss), cat(first[1], fx), cat(first[2], fe)


def _train(apply_fn, params, x_train, y_train, learning_rate, steps, record_every, x_eval, linear):
    steps = check_positive_int("steps", steps)
    record_every = check_positive_int("record_every", record_every)
    if steps % record_every:
        raise ValueError(f"steps ({steps}) must be a multiple of record_every ({record_every})")
    eta = check_positive("learning_rate", learning_rate)
    x = jnp.asarray(check_array("x_train", x_train, ndim=(2, 3)))
    y = jnp.asarray(check_array("y_train", y_train, ndim=1), dtype=x.dtype)
    if y.shape[0] != x.shape[0]:
        raise ValueError(f"y_train must have {x.shape[0]} entries (one per row of x_train), got {y.shape[0]}")
    xe = None
    if x_eval is not None:
        xe = jnp.asarray(check_array("x_eval", x_eval, ndim=x.ndim))
        if xe.shape[1:] != x.shape[1:]:
            raise ValueError(f"x_eval must have feature shape {x.shape[1:]}, got {xe.shape[1:]}")
    lr = jnp.asarray(eta, dtype=x.dtype)
    params, loss, fx, fe = _train_scan(apply_fn, params, x, y, lr, xe, steps, record_every, linear)
    loss = np.asarray(loss)
    # Non-finite, or grown by a factor 1e8: gradient descent is running away, not learning.
    bad = ~np.isfinite(loss) | (loss > 1e8 * max(float(loss[0]), 1.0))
    if bad.any():
        at = int(np.argmax(bad)) * record_every
        raise DivergenceError(f"training diverges: the loss blows up by step {at} (η = {eta:.4g} is too large)")
    return Trajectory(
        np.arange(0, steps + 1, record_every), loss, np.asarray(fx), None if fe is None else np.asarray(fe), params
    )


def train(apply_fn, params, x_train, y_train, *, learning_rate, steps, record_every=1, x_eval=None) -> Trajectory:
    """Full-batch gradient descent on ½‖f − y‖², θ ← θ − η ∇L, as one jit-compiled ``lax.scan``.

    Compiled once per (apply_fn, shapes, steps, record_every): the learning rate is a traced
    argument, so changing it does not recompile.

    Args:
      apply_fn: ``apply(params, x) -> (N,)``; params: the initial parameters.
      x_train: (N, d) (or (N, length, c) for a CNN); y_train: (N,).
      learning_rate: η; steps: number of steps; record_every: record the state every k steps.
      x_eval: optional (M, d) inputs whose outputs are recorded too.

    Returns:
      A :class:`Trajectory` with steps//record_every + 1 records (step 0 included).

    Raises:
      DivergenceError: the loss became non-finite or grew by a factor 10⁸.
    """
    return _train(apply_fn, params, x_train, y_train, learning_rate, steps, record_every, x_eval, False)


def train_linearized(apply_fn, params, x_train, y_train, *, learning_rate, steps, record_every=1, x_eval=None):
    """Gradient descent on the linearisation of ``apply_fn`` around ``params``; see :func:`train`.

    The trajectory's ``params`` are θ of the linear model f_lin(θ, x) = f(θ₀, x) + J(x)(θ − θ₀).
    """
    return _train(apply_fn, params, x_train, y_train, learning_rate, steps, record_every, x_eval, True)
