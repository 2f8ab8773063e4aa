"""Optimizers as preconditioners: closed forms in function space, and the optimizers themselves.

A preconditioned step θ ← θ − η D⁻¹ ∇ℒ moves a linear model's outputs by f ← f − η K_D (f − y),
K_D = J D⁻¹ Jᵀ (the seed's "effective kernel"). This module holds what notebook 08 derives:

* :func:`preconditioned_kernel` — K_D = J₁ diag(d) J₂ᵀ from two Jacobians and the diagonal d of D⁻¹;
  :func:`layer_preconditioner` and :func:`adam_preconditioner` build d from per-layer learning rates
  and from Adam's second-moment estimate;
* :func:`kernel_change` — how far the empirical kernel J Jᵀ moved between two parameter sets;
* :func:`heavy_ball_decay`, :func:`heavy_ball_rate` — each eigenmode of heavy-ball momentum in closed
  form, r_{t+1} = (1 + β − ηλ) r_t − β r_{t−1}, stable exactly for 0 < ηλ < 2(1 + β);
* :func:`linear_dynamics` — a linear model in function space trained by gradient descent or
  momentum, on the squared loss or on softmax cross-entropy (several outputs, kernel K ⊗ I);
* :func:`sgd_moments` — the exact mean and variance of the residual of a linear model under
  mini-batch SGD (batches drawn without replacement, the batch loss scaled by N/B);
* :func:`train` — GD, momentum, mini-batch SGD, Adam and a fixed preconditioner in one jit-compiled
  ``lax.scan`` whose hyper-parameters (η, β, the batch size, D⁻¹) are traced: changing them never
  recompiles.

Conventions as in CONVENTIONS.md: ℒ = ½‖f − y‖² summed (cross-entropy: summed over the points),
t counts steps. Introduced in notebook 08.
"""

from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .errors import (
    DivergenceError,
    as_float_array,
    check_choice,
    check_kernel,
    check_positive,
    check_positive_int,
)
from .spectral import check_times

__all__ = ["OPTIMIZERS", "LOSSES", "OptState", "Run", "preconditioned_kernel", "dense_jacobian", "kernel_change", "layer_preconditioner",
           "adam_preconditioner", "heavy_ball_decay", "heavy_ball_rate", "linear_dynamics", "sgd_moments", "train"]

OPTIMIZERS = ("gd", "momentum", "sgd", "adam", "preconditioned")
LOSSES = ("mse", "cross_entropy")


def _check_beta(beta, name="beta"):
    beta = float(beta)
    if not 0.0 <= beta < 1.0:
        raise ValueError(f"{name} must be in [0, 1), got {beta}")
    return beta


# ---------------------------------------------------------------- kernels of a preconditioner

def preconditioned_kernel(jac1, dinv, jac2=None) -> np.ndarray:
    """K_D = J₁ diag(d) J₂ᵀ, the kernel of the step θ ← θ − η D⁻¹ ∇ℒ with D⁻¹ = diag(d).

    Args:
      jac1: (N1, P) Jacobian ∂f/∂θ (as :func:`ntk_helpers.empirical.jacobian` returns it).
      dinv: the diagonal of D⁻¹, (P,) or a pytree like the parameters (flattened in
        ``ravel_pytree`` order, the Jacobian's column order); entries ≥ 0.
      jac2: (N2, P) or None for ``jac1``.

    Returns:
      (N1, N2) float64 kernel.

    Example:
      >>> preconditioned_kernel(np.eye(2), np.array([2.0, 3.0]))
      array([[2., 0.],
             [0., 3.]])
    """
    j1 = as_float_array("jac1", np.asarray(jac1, np.float64), ndim=2)
    j2 = j1 if jac2 is None else as_float_array("jac2", np.asarray(jac2, np.float64), ndim=2)
    leaves = [dinv] if isinstance(dinv, np.ndarray) and dinv.ndim == 1 else jax.tree_util.tree_leaves(dinv)
    d = np.concatenate([np.ravel(np.asarray(leaf, np.float64)) for leaf in leaves])  # ravel_pytree's order, in numpy
    if d.shape != (j1.shape[1],) or j2.shape[1] != j1.shape[1]:
        raise ValueError(f"dinv must have {j1.shape[1]} entries (one per column of jac1, like jac2), got {d.shape}")
    if np.any(d < 0) or not np.all(np.isfinite(d)):
        raise ValueError("dinv must hold finite entries ≥ 0 (D⁻¹ is positive semi-definite)")
    return (j1 * d) @ j2.T


def dense_jacobian(net, params, x) -> np.ndarray:
    """J = ∂f/∂θ of a one-hidden-layer ``mlp`` without bias, in numpy float64 (no compilation), (N, P).

    f = s₂ Σᵢ vᵢ φ(zᵢ), zᵢ = s₁ wᵢ·x (s₁, s₂ the forward multipliers): ∂f/∂W₁[j, i] = s₂ vᵢ φ′(zᵢ) s₁ x_j,
    ∂f/∂vᵢ = s₂ φ(zᵢ). Columns in ``ravel_pytree(params)`` order, like
    :func:`ntk_helpers.empirical.jacobian`.
    """
    from .activations import get_activation
    from .models import check_params
    from .network import as_network

    net = as_network(net)
    if net.kind != "mlp" or net.depth != 1 or net.b_std is not None or net.out_dim != 1:
        raise ValueError(f"net must be a one-hidden-layer mlp without bias and one output, got {net.name}")
    check_params(net, params)
    w, v = (np.asarray(p["W"], np.float64) for p in params)
    x = as_float_array("x", x, ndim=2, dim=w.shape[0])
    (s1, _), (s2, _) = net.forward_scales(w.shape[0]), net.forward_scales(w.shape[1])
    act = get_activation(net.activation)
    z = s1 * (x @ w)
    dw = (s2 * s1) * x[:, :, None] * (np.asarray(act.dfn(z)) * v[:, 0])[:, None, :]
    return np.concatenate([dw.reshape(len(x), -1), s2 * np.asarray(act.fn(z))], axis=1)


def kernel_change(net, params0, params, x) -> float:
    """‖K − K₀‖_F / ‖K₀‖_F, K = J Jᵀ at ``params`` and K₀ at ``params0`` on x (N, d_in); float64, no compilation.

    Same networks as :func:`dense_jacobian` (one hidden layer, no bias, one output); it does the checks.
    """
    j0, j = dense_jacobian(net, params0, x), dense_jacobian(net, params, x)
    k0 = j0 @ j0.T
    return float(np.linalg.norm(j @ j.T - k0) / np.linalg.norm(k0))


def layer_preconditioner(params, rates):
    """D⁻¹ as a pytree like ``params``: every array of layer l filled with ``rates[l]``.

    A per-layer learning rate η c_l is the preconditioner D⁻¹ = diag(c_l on layer l).

    Example:
      >>> d = layer_preconditioner([{"W": np.ones((2, 3))}, {"W": np.ones((3, 1))}], [1.0, 4.0])
      >>> float(d[1]["W"].sum())
      12.0
    """
    if not isinstance(params, (list, tuple)) or len(rates) != len(params):
        raise ValueError(f"rates must have one entry per layer ({len(params)}), got {len(rates)}")
    if any(not np.isfinite(c) or c < 0 for c in rates):
        raise ValueError(f"rates must be finite and ≥ 0, got {list(rates)}")
    return [{k: np.full(np.shape(v), c, np.asarray(v).dtype) for k, v in layer.items()} for layer, c in zip(params, rates)]


def adam_preconditioner(state: OptState, *, betas=(0.9, 0.999), eps: float = 1e-8):
    """Adam's D⁻¹ after ``state.t`` steps, 1/(√v̂ + ε) with v̂ = v/(1 − β₂ᵗ), a pytree like the parameters."""
    if int(state.t) < 1:
        raise ValueError("state must come from at least one Adam step (state.t ≥ 1)")
    scale = 1.0 - betas[1] ** int(state.t)
    return jax.tree_util.tree_map(lambda v: 1.0 / (np.sqrt(np.asarray(v) / scale) + eps), state.v)


# ---------------------------------------------------------------- momentum, one mode at a time

def heavy_ball_rate(eigenvalues, learning_rate, beta) -> np.ndarray:
    """The spectral radius max|z| of each mode's recurrence, z² − (1 + β − ηλ) z + β = 0.

    A mode decays iff its rate is < 1, i.e. iff 0 < ηλ < 2(1 + β) (for 0 ≤ β < 1); when the roots
    are complex, (1 − √β)² < ηλ < (1 + √β)², the rate is √β.

    Example:
      >>> heavy_ball_rate(np.array([1.0, 3.7, 3.9]), 1.0, 0.9).round(3)  # 2(1 + β) = 3.8
      array([0.949, 0.949, 1.316])
    """
    lam = as_float_array("eigenvalues", eigenvalues, ndim=1)
    eta, beta = check_positive("learning_rate", learning_rate), _check_beta(beta)
    b = 1.0 + beta - eta * lam
    disc = np.sqrt((b * b - 4.0 * beta).astype(complex))
    return np.maximum(abs(0.5 * (b + disc)), abs(0.5 * (b - disc)))


def heavy_ball_decay(eigenvalues, learning_rate, beta, t) -> np.ndarray:
    """Residual factor r_t / r_0 of each eigenmode under heavy-ball momentum, shape (T, K).

    The step v ← βv + ∇ℒ, θ ← θ − ηv (v₀ = 0) on a linear model moves each eigenmode of its kernel
    by r_{t+1} = (1 + β − ηλ) r_t − β r_{t−1} with r₁ = (1 − ηλ) r₀. With z₁, z₂ the roots of
    z² − (1 + β − ηλ)z + β and s_t = (z₁ᵗ − z₂ᵗ)/(z₁ − z₂) (t z^{t−1} for a double root),
    r_t = r₁ s_t − β r₀ s_{t−1} (Polyak 1964). β = 0 gives (1 − ηλ)ᵗ.

    Args:
      eigenvalues: (K,) λ ≥ 0; learning_rate: η > 0; beta: 0 ≤ β < 1; t: whole steps, scalar or (T,).

    Example:
      >>> heavy_ball_decay(np.array([1.0]), 0.5, 0.0, [0, 1, 2])[:, 0].tolist()
      [1.0, 0.5, 0.25]
    """
    lam = as_float_array("eigenvalues", eigenvalues, ndim=1)
    eta, beta = check_positive("learning_rate", learning_rate), _check_beta(beta)
    times = np.atleast_1d(check_times(t, discrete=True))
    if np.any(np.isinf(times)):
        raise ValueError("t must be finite for heavy_ball_decay")
    b = 1.0 + beta - eta * lam
    disc = np.sqrt((b * b - 4.0 * beta).astype(complex))
    z1, z2 = 0.5 * (b + disc), 0.5 * (b - disc)
    r1 = 1.0 - eta * lam
    tt = times[:, None]

    def s(k):  # (z1^k − z2^k)/(z1 − z2), k ≥ 0
        near = abs(z1 - z2) < 1e-7 * np.maximum(abs(z1), 1e-300)
        with np.errstate(invalid="ignore", divide="ignore"):
            exact = (z1**k - z2**k) / np.where(near, 1.0, z1 - z2)
        return np.where(near, k * z1 ** np.maximum(k - 1, 0), exact)

    with np.errstate(over="ignore", invalid="ignore"):
        out = r1 * s(tt) - beta * s(np.maximum(tt - 1, 0))
    out = np.where(tt == 0, 1.0 + 0j, out)
    return np.real(out)


# ---------------------------------------------------------------- a linear model in function space

def _softmax(f):
    e = np.exp(f - f.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def linear_dynamics(k_train_train, y_train, f0_train, *, learning_rate, steps: int, record_every: int = 1,
                    beta: float = 0.0, loss: str = "mse", k_test_train=None, f0_test=None):
    """A linear model trained by gradient descent or heavy-ball momentum, simulated in function space.

    For a model linear in θ with kernel K, the step v ← βv + ∇ℒ, θ ← θ − ηv moves the outputs by
    u ← βu + g, f ← f − η K u (test points: f_* ← f_* − η K_* u), with g = ∂ℒ/∂f: the residual
    f − y for the squared loss, softmax(f) − y for cross-entropy with one-hot y of shape (N, k)
    (then K acts on the points, K ⊗ I: each output has the same kernel, the infinite-width case).
    Exact for the linear model; the squared loss with β = 0 is (I − ηK)ᵗ.

    Returns:
      ``(f_train, f_test)``: (T, N[, k]) and (T, M[, k]) or None, T = steps // record_every + 1.
    """
    k = check_kernel("k_train_train", k_train_train)
    check_choice("loss", loss, LOSSES)
    y = np.asarray(y_train, np.float64)
    f = np.array(f0_train, np.float64)
    if f.shape != y.shape or f.shape[0] != k.shape[0]:
        raise ValueError(f"f0_train and y_train must have the same shape with {k.shape[0]} rows, got {f.shape}, {y.shape}")
    if loss == "cross_entropy" and f.ndim != 2:
        raise ValueError("cross_entropy needs one-hot y_train and f0_train of shape (N, k)")
    eta, beta = check_positive("learning_rate", learning_rate), _check_beta(beta)
    steps, every = check_positive_int("steps", steps), check_positive_int("record_every", record_every)
    if (k_test_train is None) != (f0_test is None):
        raise ValueError("k_test_train and f0_test must be given together")
    kt = None if k_test_train is None else as_float_array("k_test_train", k_test_train, ndim=2, dim=k.shape[0])
    ft = None if f0_test is None else np.array(f0_test, np.float64)
    u = np.zeros_like(f)
    rec, rec_t = [f.copy()], [None if ft is None else ft.copy()]
    with np.errstate(over="ignore", invalid="ignore"):
        for step in range(1, steps + 1):
            g = f - y if loss == "mse" else _softmax(f) - y
            u = beta * u + g
            f = f - eta * (k @ u)
            if ft is not None:
                ft = ft - eta * (kt @ u)
            if step % every == 0:
                rec.append(f.copy())
                rec_t.append(None if ft is None else ft.copy())
    return np.array(rec), None if ft is None else np.array(rec_t)


def sgd_moments(k_train_train, r0, *, learning_rate, batch_size: int, steps: int, record_every: int = 1):
    """Exact mean and variance of a linear model's residual under mini-batch SGD, each (T, N).

    Each step draws B of the N points without replacement and descends (N/B)·½‖r_B‖², so
    r ← (I − ηKP) r with P = (N/B)·diag(mask) and E[P] = I. Hence the mean follows full-batch
    gradient descent exactly, m ← (I − ηK) m, and the second moment M = E[r rᵀ] follows
    M ← M − η(KM + MK) + η² K (C ∘ M) K with C_ii = N/B, C_ij = N(B − 1)/(B(N − 1)). The noise,
    C − 11ᵀ, is proportional to N/B − 1: zero for the full batch.
    """
    k = check_kernel("k_train_train", k_train_train)
    n = k.shape[0]
    r = as_float_array("r0", r0, ndim=1, dim=n)
    b = check_positive_int("batch_size", batch_size)
    if b > n:
        raise ValueError(f"batch_size must be ≤ N = {n}, got {b}")
    eta = check_positive("learning_rate", learning_rate)
    steps, every = check_positive_int("steps", steps), check_positive_int("record_every", record_every)
    c = np.full((n, n), n * (b - 1) / (b * (n - 1)) if n > 1 else 1.0)
    np.fill_diagonal(c, n / b)
    m, mm = r.copy(), np.outer(r, r)
    means, variances = [m.copy()], [np.zeros(n)]
    a = np.eye(n) - eta * k
    for step in range(1, steps + 1):
        m = a @ m
        mm = a @ mm @ a.T + eta**2 * k @ ((c - 1.0) * mm) @ k
        if step % every == 0:
            means.append(m.copy())
            variances.append(np.clip(np.diag(mm) - m * m, 0.0, None))
    return np.array(means), np.array(variances)


# ---------------------------------------------------------------- the optimizers, trained for real

class OptState(NamedTuple):
    """An optimizer's state: parameters, first moment m (momentum), second moment v (Adam), step t."""

    params: object
    m: object
    v: object
    t: object


class Run(NamedTuple):
    """A recorded run: steps (T,), full-batch loss (T,), f_train (T, N[, k]), f_eval (T, M[, k]) or
    None, and the final :class:`OptState`."""

    steps: np.ndarray
    loss: np.ndarray
    f_train: np.ndarray
    f_eval: np.ndarray | None
    state: OptState


def _loss(kind, f, y, w):
    if kind == "mse":
        r = f - y
        return 0.5 * jnp.sum(w * r * r)
    return jnp.sum(w * (jax.nn.logsumexp(f, axis=-1) - jnp.sum(f * y, axis=-1)))


@partial(jax.jit, static_argnames=("apply_fn", "loss", "every"))
def _chunk(apply_fn, state, x, y, x_eval, hyper, dinv, key, *, loss, every):
    """``every`` steps of the unified optimizer, then one record; every hyper-parameter is traced.

    m ← β m + a g; v ← β₂ v + (1 − β₂) g²; step = m̂ · (adam ? 1/(√v̂ + ε) : D⁻¹), m̂ = m/(1 − βᵗ)
    for Adam, m otherwise. GD: β = 0, a = 1; momentum: a = 1; Adam: a = 1 − β₁. A run is a Python
    loop over chunks, so any number of steps (a multiple of ``every``) reuses one compilation.
    """
    n = x.shape[0]
    tree = jax.tree_util.tree_map

    def step(carry, k):
        p, m, v, t = carry
        rank = jnp.argsort(jnp.argsort(jax.random.uniform(k, (n,))))
        w = jnp.where(rank < hyper["batch"], n / hyper["batch"], 0.0).astype(y.dtype)  # 1 for the full batch
        g = jax.grad(lambda q: _loss(loss, apply_fn(q, x), y, w))(p)
        t = t + 1
        m = tree(lambda mi, gi: hyper["beta"] * mi + hyper["a"] * gi, m, g)
        v = tree(lambda vi, gi: hyper["beta2"] * vi + (1.0 - hyper["beta2"]) * gi * gi, v, g)
        debias = jnp.where(hyper["adam"] > 0, 1.0 - hyper["beta"] ** t, 1.0)
        vscale = 1.0 - hyper["beta2"] ** t

        def move(pi, mi, vi, di):
            pre = jnp.where(hyper["adam"] > 0, 1.0 / (jnp.sqrt(vi / vscale) + hyper["eps"]), di)
            return pi - hyper["eta"] * pre * mi / debias

        return OptState(tree(move, p, m, v, dinv), m, v, t), None

    state, _ = jax.lax.scan(step, state, jax.random.split(key, every))
    return state, _record(apply_fn, loss, state.params, x, y, x_eval)


@partial(jax.jit, static_argnames=("apply_fn", "loss"))
def _record(apply_fn, loss, p, x, y, x_eval):
    fx = apply_fn(p, x)
    return _loss(loss, fx, y, jnp.ones(x.shape[0], y.dtype)), fx, None if x_eval is None else apply_fn(p, x_eval)


def train(model_or_apply, params, x_train, y_train, *, optimizer: str, learning_rate: float, steps: int,
          record_every: int = 1, beta: float | None = None, batch_size: int | None = None, seed: int = 0,
          preconditioner=None, loss: str = "mse", x_eval=None, betas=(0.9, 0.999), eps: float = 1e-8,
          allow_divergence: bool = False, state: OptState | None = None) -> Run:
    """Train with GD, heavy-ball momentum, mini-batch SGD, Adam or a fixed preconditioner D⁻¹.

    One compiled ``lax.scan`` serves every optimizer: η, β, the batch size, Adam's β₂ and ε and
    D⁻¹ are traced, so a new value never recompiles (a new shape, number of steps or loss does).

    Args:
      model_or_apply: a :class:`~ntk_helpers.models.Model` or ``apply(params, x)``.
      params: initial parameters (float32 or float64).
      x_train: (N, d_in); y_train: (N,) targets, or (N, k) one-hot labels for ``loss="cross_entropy"``.
      optimizer: ``"gd"``; ``"momentum"`` (v ← βv + g, θ ← θ − ηv; β default 0.9); ``"sgd"`` (batches
        of ``batch_size`` drawn without replacement, the batch loss scaled by N/B, ``beta`` optional);
        ``"adam"`` (Kingma & Ba 2015, ``betas``, ``eps``); ``"preconditioned"`` (θ ← θ − η D⁻¹ ∇ℒ with
        ``preconditioner`` a pytree like params holding the diagonal of D⁻¹).
      learning_rate: η > 0; steps, record_every: whole numbers, record_every dividing steps.
      seed: the seed of the batches (SGD).
      x_eval: (M, d_in) inputs also recorded, or None.
      allow_divergence: return a diverging run (loss recorded as it grows) instead of raising.
      state: continue from this :class:`OptState` (a previous run's ``state``) instead of ``params``
        with zero moments; its step count continues too (Adam's bias corrections).

    Returns:
      :class:`Run`.

    Raises:
      DivergenceError: the loss became non-finite or grew over 10⁸ times its start.
    """
    check_choice("optimizer", optimizer, OPTIMIZERS)
    check_choice("loss", loss, LOSSES)
    apply_fn = getattr(model_or_apply, "apply", model_or_apply)
    if not callable(apply_fn):
        raise TypeError(f"model_or_apply must be a Model or apply(params, x), got {model_or_apply!r}")
    eta = check_positive("learning_rate", learning_rate)
    steps, every = check_positive_int("steps", steps), check_positive_int("record_every", record_every)
    if steps % every:
        raise ValueError(f"steps ({steps}) must be a multiple of record_every ({every})")
    # numpy conversions only: an eager jnp operation on a new shape would compile
    dtype = np.asarray(jax.tree_util.tree_leaves(params)[0]).dtype
    x = np.asarray(as_float_array("x_train", x_train, ndim=2), dtype)
    y = np.asarray(as_float_array("y_train", y_train, ndim=(1, 2)), dtype)
    n = x.shape[0]
    if y.shape[0] != n or (loss == "cross_entropy") != (y.ndim == 2):
        raise ValueError(f"y_train must have {n} rows, shape (N,) for mse and (N, k) for cross_entropy, got {y.shape}")
    xe = None if x_eval is None else np.asarray(as_float_array("x_eval", x_eval, ndim=2), dtype)
    batch = n if batch_size is None else check_positive_int("batch_size", batch_size)
    if batch > n or (optimizer == "sgd") != (batch < n):
        raise ValueError(f"batch_size must be < N = {n} for optimizer='sgd' and N (or None) otherwise, got {batch_size}")
    if (optimizer == "preconditioned") != (preconditioner is not None):
        raise ValueError("preconditioner must be given with optimizer='preconditioned', and only then")
    adam = optimizer == "adam"
    b = _check_beta(betas[0] if adam else (beta if beta is not None else (0.9 if optimizer == "momentum" else 0.0)))
    if optimizer in ("gd", "preconditioned") and b:
        raise ValueError(f"beta must be 0 or None for optimizer={optimizer!r}; use 'momentum'")
    zeros = jax.tree_util.tree_map(lambda a: np.zeros(np.shape(a), dtype), params)
    dinv = preconditioner
    if preconditioner is None:
        dinv = jax.tree_util.tree_map(lambda a: np.ones(np.shape(a), dtype), params)
    elif jax.tree_util.tree_structure(dinv) != jax.tree_util.tree_structure(params):
        raise ValueError("preconditioner must be a pytree like params (see layer_preconditioner)")
    hyper = {"eta": eta, "beta": b, "a": 1.0 - b if adam else 1.0, "adam": float(adam), "beta2": _check_beta(betas[1], "betas[1]"),
             "eps": eps, "batch": float(batch)}
    hyper = {k: np.asarray(v, dtype) for k, v in hyper.items()}
    if state is None:
        state = OptState(params, zeros, zeros, np.asarray(0, np.int32))
    elif not isinstance(state, OptState):
        raise TypeError(f"state must be an OptState (a run's .state), got {type(state).__name__}")
    keys = np.random.default_rng(seed).integers(0, 2**32, size=(steps // every, 2), dtype=np.uint32)  # raw keys
    first, recs = _record(apply_fn, loss, state.params, x, y, xe), []
    for key in keys:
        state, rec = _chunk(apply_fn, state, x, y, xe, hyper, dinv, key, loss=loss, every=every)
        recs.append(rec)
        if not np.isfinite(float(rec[0])):
            break
    recs = recs + [jax.tree_util.tree_map(lambda a: np.full(np.shape(a), np.nan), rec)] * (steps // every - len(recs))
    recs = [np.stack([np.asarray(r[i]) for r in recs]) if recs[0][i] is not None else None for i in range(3)]
    loss_t = np.concatenate([[float(first[0])], np.asarray(recs[0], np.float64)])
    if not allow_divergence and (not np.all(np.isfinite(loss_t)) or loss_t.max() > 1e8 * max(loss_t[0], 1e-30)):
        bad = int(np.argmax(~np.isfinite(loss_t) | (loss_t > 1e8 * max(loss_t[0], 1e-30)))) * every
        raise DivergenceError(f"training diverges ({optimizer}, η = {eta:.4g}): the loss blows up by step {bad}", step=bad)
    stack = [np.concatenate([np.asarray(a)[None], np.asarray(b_)]) for a, b_ in zip(first[1:], recs[1:]) if a is not None]
    return Run(np.arange(0, steps + 1, every), loss_t, stack[0], stack[1] if xe is not None else None, state)
