"""Where the kernel picture stops: output scale α, three parameterizations, the catapult, depth.

The networks here are fully connected ReLU networks without bias, written in the "abc" form of
Yang & Hu (2021, arXiv:2011.14522): layer l computes z_l = m_l · h_{l−1} θ_l with trained
parameters θ_l drawn from N(0, s_l²), and gradient descent moves θ with one learning rate η.
Three choices of the multipliers m_l and the initial scales s_l (``"standard"``, ``"ntk"``,
``"mup"``; :func:`layer_scales`) give the same network at initialisation up to the readout's
scale, and very different training as the width n grows:

* ``"ntk"`` is :class:`~ntk_helpers.network.Network`'s NTK parameterization (m = W_std/√n_in, s = 1);
* ``"standard"`` is its standard parameterization (m = 1, s = W_std/√n_in);
* ``"mup"`` is the maximal-update parameterization μP: m = W_std √(n/d_in) and s = 1/√n for the
  first layer, m = W_std and s = 1/√n for hidden layers, m = W_std/√n and s = 1/√n for the readout.

The trained function is the centred network scaled by α (Chizat, Oyallon & Bach 2019,
arXiv:1812.07956), f_α(θ, x) = α (f(θ, x) − f(θ₀, x)), on the loss ½‖f_α(X) − y‖². Its kernel is
α² K, so η = (η/η_max) · 2/(α² λ_max(K₀)) trains every α at the same speed in the kernel regime.

:func:`train` runs full-batch gradient descent for C settings at once (one ``vmap`` over the
initial parameters, η and α inside one jit-compiled ``lax.scan``): η and α are traced, so a new
value never recompiles; a new width or number of settings does. Introduced in notebook 10.
"""

from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .errors import check_choice, check_positive, check_positive_int
from .models import build
from .network import Network

__all__ = ["PARAMETERIZATIONS", "AlphaSweep", "PhaseMap", "Run", "alignment", "alpha_sweep", "catapult_map",
           "classify_phases", "coordinate_check", "depth_fluctuation", "init", "kernel", "kernel_change",
           "layer_scales", "linear_loss", "lr_transfer", "train"]

PARAMETERIZATIONS = ("standard", "ntk", "mup")
_BLOWUP = 1e8  # a run whose loss passes 1e8 · ½‖y‖² is stopped and marked diverged


class Run(NamedTuple):
    """C training runs recorded at T times.

    Attributes:
      steps: (T,) the recorded steps, 0 included.
      loss: (C, T) ½‖f_α(X) − y‖² (NaN once a run has diverged).
      peak: (C, T) the largest loss reached up to each record (every step counts).
      f_eval: (C, T, M) f_α on ``x_eval``.
      features: (C, T, L) the change of each hidden layer's pre-activations, root mean square
        over inputs and units, √mean((z_l(θ_t) − z_l(θ₀))²).
      kernels: (C, T, N, N) the empirical kernel of f_α on the training inputs, or None.
      diverged: (C,) whether the run was stopped.
    """

    steps: np.ndarray
    loss: np.ndarray
    peak: np.ndarray
    f_eval: np.ndarray
    features: np.ndarray
    kernels: np.ndarray | None
    diverged: np.ndarray


def layer_scales(parameterization: str, width: int, depth: int, d_in: int, W_std: float = 2**0.5):
    """The multipliers m_l and initial standard deviations s_l of every layer, input to readout.

    Args:
      parameterization: ``"standard"``, ``"ntk"`` or ``"mup"``.
      width: n; depth: L hidden layers; d_in: the input dimension; W_std: the weight scale.

    Returns:
      (m, s), two float arrays of shape (L + 1,); layer l computes z_l = m_l · h_{l−1} θ_l with
      θ_l ~ N(0, s_l²) at initialisation, so its effective weights m_l θ_l have standard deviation
      m_l s_l: W_std/√n_in for every layer and parameterization, except μP's readout, W_std/n.

    Example:
      >>> m, s = layer_scales("mup", width=100, depth=1, d_in=4, W_std=1.0)
      >>> m.round(3).tolist(), s.round(3).tolist(), (m * s).round(3).tolist()
      ([5.0, 0.1], [0.1, 0.1], [0.5, 0.01])
    """
    check_choice("parameterization", parameterization, PARAMETERIZATIONS)
    n, depth, d_in = (check_positive_int(k, v) for k, v in (("width", width), ("depth", depth), ("d_in", d_in)))
    W_std = check_positive("W_std", W_std)
    fan_in = np.array([d_in] + [n] * depth, dtype=np.float64)
    if parameterization == "ntk":
        return W_std / np.sqrt(fan_in), np.ones(depth + 1)
    if parameterization == "standard":
        return np.ones(depth + 1), W_std / np.sqrt(fan_in)
    m = np.full(depth + 1, W_std)
    m[0], m[-1] = W_std * np.sqrt(n / d_in), W_std / np.sqrt(n)
    return m, np.full(depth + 1, 1 / np.sqrt(n))


def init(parameterization: str, width: int, depth: int, d_in: int, seed: int = 0, W_std: float = 2**0.5):
    """θ₀ of one network: the NTK-parameterized draw of ``models.build`` (same seed), scaled by s_l.

    For ``"ntk"`` and ``"standard"`` these are exactly the parameters (the ``"W"`` entries) of
    ``models.build(Network("mlp", width, depth, W_std=W_std, parameterization=...)).init(seed, d_in)``.

    Returns:
      (weights, m): a list of L + 1 float32 arrays of shapes (d_in, n), (n, n), …, (n, 1), and the
      multipliers (L + 1,) of :func:`layer_scales`.
    """
    m, s = layer_scales(parameterization, width, depth, d_in, W_std)
    raw = build(Network("mlp", width=width, depth=depth, W_std=W_std)).init(seed, d_in)
    return [jnp.float32(s_l) * layer["W"] for s_l, layer in zip(s, raw, strict=True)], m


ACTIVATIONS = {"relu": jax.nn.relu, "erf": jax.scipy.special.erf}


def _forward(weights, m, x, activation="relu"):
    """f (N,) and the pre-activations [z_1, …, z_L] of every hidden layer."""
    h, zs = x, []
    for layer, w in enumerate(weights[:-1]):
        z = m[layer] * (h @ w)
        zs.append(z)
        h = ACTIVATIONS[activation](z)
    return m[-1] * (h @ weights[-1])[:, 0], zs


def _ntk(fn, weights):
    """J Jᵀ of ``fn(weights) -> (N,)``, summed over the layers."""
    jac = jax.jacrev(fn)(weights)
    return sum(j.reshape(j.shape[0], -1) @ j.reshape(j.shape[0], -1).T for j in jac)


@partial(jax.jit, static_argnames="activation")
def _kernel(weights, m, x1, x2, activation):
    j1 = jax.jacrev(lambda w: _forward(w, m, x1, activation)[0])(weights)
    j2 = jax.jacrev(lambda w: _forward(w, m, x2, activation)[0])(weights)
    return sum(a.reshape(a.shape[0], -1) @ b.reshape(b.shape[0], -1).T for a, b in zip(j1, j2, strict=True))


def kernel(weights, m, x1, x2=None, activation: str = "relu") -> np.ndarray:
    """The empirical NTK K(x1, x2) = J(x1) J(x2)ᵀ of the network at ``weights`` (α = 1), float64 (N1, N2)."""
    check_choice("activation", activation, tuple(ACTIVATIONS))
    x1 = jnp.asarray(x1, jnp.float32)
    x2 = x1 if x2 is None else jnp.asarray(x2, jnp.float32)
    return np.asarray(_kernel(weights, jnp.asarray(m, jnp.float32), x1, x2, activation), np.float64)


@partial(jax.jit, static_argnames=("steps", "every", "with_kernel", "activation"))
def _run(weights0, m, x, y, x_eval, etas, alphas, *, steps, every, with_kernel, activation):
    def fwd(w, xx):
        return _forward(w, m, xx, activation)

    limit = _BLOWUP * 0.5 * jnp.sum(y**2)

    def one(w0, eta, alpha):
        fx0, z0 = fwd(w0, x)
        fe0 = fwd(w0, x_eval)[0]

        def loss(w):
            r = alpha * (fwd(w, x)[0] - fx0) - y
            return 0.5 * r @ r

        def record(w, bad, peak):
            z = fwd(w, x)[1]
            feats = jnp.stack([jnp.sqrt(jnp.mean((a - b) ** 2)) for a, b in zip(z, z0, strict=True)])
            k = _ntk(lambda v: alpha * fwd(v, x)[0], w) if with_kernel else jnp.zeros(())
            return (jnp.where(bad, jnp.nan, loss(w)), peak, alpha * (fwd(w, x_eval)[0] - fe0), feats, k)

        def step(carry, _):
            w, bad, peak = carry
            value, grad = jax.value_and_grad(loss)(w)
            bad = bad | ~jnp.isfinite(value) | (value > limit)
            new = [jnp.where(bad, a, a - eta * g) for a, g in zip(w, grad, strict=True)]
            return (new, bad, jnp.where(bad, peak, jnp.maximum(peak, value))), None

        def chunk(carry, _):
            out = record(*carry)
            return jax.lax.scan(step, carry, None, length=every)[0], out

        start = (w0, jnp.bool_(False), loss(w0))
        end, recs = jax.lax.scan(chunk, start, None, length=steps // every)
        last = record(*end)
        return tuple(jnp.concatenate([r, e[None]]) for r, e in zip(recs, last, strict=True)) + (end[1],)

    return jax.vmap(one)(weights0, etas, alphas)


def train(weights, m, x, y, *, etas, alphas=1.0, steps: int, record_every: int = 1, x_eval=None,
          with_kernel: bool = False, activation: str = "relu") -> Run:
    """Gradient descent on ½‖f_α(X) − y‖² for C settings side by side, θ ← θ − η ∇_θ ℒ.

    Args:
      weights: θ₀, as from :func:`init` (one network, shared by the C settings) or stacked with a
        leading axis of length C (e.g. one seed per setting).
      m: the multipliers (L + 1,) of :func:`layer_scales`.
      x: (N, d_in) training inputs; y: (N,) targets.
      etas: (C,) learning rates η > 0; alphas: a number or (C,) output scales α > 0.
      steps: the number of steps, a multiple of ``record_every``; x_eval: (M, d_in), default x.
      with_kernel: also record the empirical kernel of f_α on x at every record (costs C · T
        Jacobians: keep it for one-hidden-layer networks).
      activation: φ, ``"relu"`` or ``"erf"`` (smooth: its Hessian is bounded).

    Returns:
      A :class:`Run` with T = steps/record_every + 1 records.
    """
    steps, every = check_positive_int("steps", steps), check_positive_int("record_every", record_every)
    check_choice("activation", activation, tuple(ACTIVATIONS))
    if steps % every:
        raise ValueError(f"steps must be a multiple of record_every, got {steps} and {every}")
    etas = np.atleast_1d(np.asarray(etas, np.float64))
    alphas = np.broadcast_to(np.asarray(alphas, np.float64), etas.shape)
    if etas.ndim != 1 or not np.all(np.isfinite(etas) & (etas > 0)) or not np.all(alphas > 0):
        raise ValueError("etas must be a 1-D array of positive learning rates and alphas positive")
    c = len(etas)
    if np.ndim(weights[0]) == 2:
        weights = [jnp.broadcast_to(w, (c, *w.shape)) for w in weights]
    if any(w.shape[0] != c for w in weights):
        raise ValueError(f"stacked weights must have a leading axis of length len(etas) = {c}")
    x = jnp.asarray(x, jnp.float32)
    x_eval = x if x_eval is None else jnp.asarray(x_eval, jnp.float32)
    out = _run([jnp.asarray(w, jnp.float32) for w in weights], jnp.asarray(m, jnp.float32), x,
               jnp.asarray(y, jnp.float32), x_eval, jnp.asarray(etas, jnp.float32), jnp.asarray(alphas, jnp.float32),
               steps=steps, every=every, with_kernel=with_kernel, activation=activation)
    loss, peak, f_eval, feats, k, bad = (np.asarray(a, np.float64) for a in out)
    return Run(np.arange(0, steps + 1, every), loss, peak, f_eval, feats, k if with_kernel else None, bad.astype(bool))


def kernel_change(kernels) -> np.ndarray:
    """‖K_t − K₀‖_F / ‖K₀‖_F for kernels (…, T, N, N): shape (…, T)."""
    k = np.asarray(kernels, np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        return np.linalg.norm(k - k[..., :1, :, :], axis=(-2, -1)) / np.linalg.norm(k[..., :1, :, :], axis=(-2, -1))


def alignment(kernels, y) -> np.ndarray:
    """Kernel–target alignment yᵀKy / (‖K‖_F ‖y‖²) ∈ [0, 1] of kernels (…, N, N) with targets (N,).

    Example:
      >>> y = np.array([1.0, -1.0])
      >>> float(alignment(np.outer(y, y), y)), float(alignment(np.eye(2), y).round(3))
      (1.0, 0.707)
    """
    k, y = np.asarray(kernels, np.float64), np.asarray(y, np.float64)
    with np.errstate(invalid="ignore", over="ignore"):  # a diverged run's kernel gives NaN, not a warning
        return np.einsum("i,...ij,j->...", y, k, y) / (np.linalg.norm(k, axis=(-2, -1)) * (y @ y))


def linear_loss(k0, y, eta: float, steps, alpha: float = 1.0) -> np.ndarray:
    """The loss of the fixed-kernel (linearised) model from f = 0: ½‖(I − ηα²K₀)^t y‖² at every t in ``steps``.

    Valid for any η (above η_max = 2/λ_max(α²K₀) it grows without bound; inf where it overflows).
    """
    lam, v = np.linalg.eigh(np.asarray(k0, np.float64))
    c = v.T @ np.asarray(y, np.float64)
    t = np.asarray(steps, np.float64)[:, None]
    with np.errstate(over="ignore", invalid="ignore"):
        return 0.5 * np.sum(c**2 * (1 - eta * alpha**2 * lam) ** (2 * t), axis=1)


def classify_phases(run: Run, etas, lam_max_0: float, *, tol: float = 1e-3) -> list[str]:
    """``"lazy"``, ``"catapult"`` or ``"divergent"`` for each of a run's C learning rates.

    A run is divergent if it was stopped or ends above its initial loss; lazy if its loss never
    rose above the start by more than ``tol`` (relative); a catapult if it rose, then ended below
    its start, with λ_max of its final kernel below 2/η (needs ``with_kernel=True`` runs).
    """
    if run.kernels is None:
        raise ValueError("run must be recorded with with_kernel=True")
    out = []
    for i, eta in enumerate(np.asarray(etas, np.float64)):
        start, end = run.loss[i, 0], run.loss[i, -1]
        if run.diverged[i] or not np.isfinite(end) or end >= start:
            out.append("divergent")
        elif run.peak[i, -1] <= start * (1 + tol):
            out.append("lazy")
        else:
            lam_end = np.linalg.eigvalsh(run.kernels[i, -1])[-1]
            out.append("catapult" if lam_end < 2 / eta else "divergent")
    return out


# ---------------------------------------------------------------------- the notebook's sweeps


class AlphaSweep(NamedTuple):
    """:func:`alpha_sweep`'s result: the output scales (A,), the runs (C = A · seeds settings,
    seed-major), the fixed-kernel model's loss (T,) for seed 0, and the targets."""

    alphas: np.ndarray
    run: Run
    linear: np.ndarray
    y: np.ndarray

    def per_seed(self, values) -> np.ndarray:
        """Reshape (C, …) values to (seeds, A, …)."""
        values = np.asarray(values)
        return values.reshape(-1, len(self.alphas), *values.shape[1:])


def alpha_sweep(x, y, *, alphas, width: int = 1024, seeds=(0,), eta_fraction: float = 0.5, steps: int = 400,
                record_every: int = 20, activation: str = "relu", x_eval=None) -> AlphaSweep:
    """Train f_α for every α and seed (one hidden layer, NTK parameterization) at η = η_fraction · 2/λ_max(α²K₀).

    K₀ is each seed's own empirical kernel at initialisation, so the kernel regime is the same
    trajectory for every α: the fixed-kernel model ½‖(I − η α² K₀)^t y‖² does not depend on α.
    """
    alphas = np.asarray(alphas, np.float64)
    nets = [init("ntk", width, 1, np.shape(x)[1], seed=s) for s in seeds]
    m = nets[0][1]
    lams = [np.linalg.eigvalsh(kernel(w, m, x, activation=activation))[-1] for w, _ in nets]
    weights = [jnp.stack([w[i] for w, _ in nets for _ in alphas]) for i in range(2)]
    a = np.tile(alphas, len(seeds))
    etas = eta_fraction * 2 / (a**2 * np.repeat(lams, len(alphas)))
    run = train(weights, m, x, y, etas=etas, alphas=a, steps=steps, record_every=record_every, x_eval=x_eval,
                with_kernel=True, activation=activation)
    k0 = kernel(nets[0][0], m, x, activation=activation)
    return AlphaSweep(alphas, run, linear_loss(k0, y, etas[0] * alphas[0] ** 2, run.steps), np.asarray(y))


def coordinate_check(x, y, *, widths, depth: int = 2, steps: int = 4, eta_fraction: float = 0.5, seed: int = 0):
    """The change of every hidden layer's pre-activations after 1 … ``steps`` steps, per parameterization.

    The learning rate of each parameterization is tuned once, at the narrowest width
    (η = η_fraction · 2/λ_max(K₀) of that network), and kept for every width.

    Returns:
      A dict parameterization → (etas, changes), changes of shape (len(widths), steps + 1, depth):
      root mean square over inputs and units of z_l(θ_t) − z_l(θ₀).
    """
    out = {}
    for p in PARAMETERIZATIONS:
        w, m = init(p, widths[0], depth, np.shape(x)[1], seed=seed)
        eta = eta_fraction * 2 / np.linalg.eigvalsh(kernel(w, m, x))[-1]
        out[p] = eta, np.array([train(*init(p, n, depth, np.shape(x)[1], seed=seed), x, y, etas=[eta],
                                      steps=steps).features[0] for n in widths])
    return out


def lr_transfer(x, y, *, widths, etas, parameterizations=("standard", "mup"), steps: int = 100, seed: int = 0):
    """Final training loss on a grid of fixed learning rates η, at several widths (one hidden layer).

    The learning-rate transfer of Yang et al. (2022, arXiv:2203.03466): in μP the η with the lowest
    loss does not depend on the width; in the standard parameterization it shrinks like 1/n. Every
    η of the grid trains side by side in one compiled loop per width (η is traced).

    Args:
      x: (N, d_in) training inputs; y: (N,) targets.
      widths: the widths n; etas: (E,) learning rates η > 0, the same for every width.
      parameterizations: names from :data:`PARAMETERIZATIONS`; steps: gradient-descent steps.

    Returns:
      A dict parameterization → (len(widths), E) final loss over ½‖y‖², ``inf`` where a run diverged.
    """
    for p in parameterizations:
        check_choice("parameterization", p, PARAMETERIZATIONS)
    out = {}
    for p in parameterizations:
        finals = []
        for n in widths:
            run = train(*init(p, n, 1, np.shape(x)[1], seed=seed), x, y, etas=etas, steps=steps, record_every=steps)
            finals.append(np.where(run.diverged | ~np.isfinite(run.loss[:, -1]), np.inf, run.loss[:, -1]))
        out[p] = np.array(finals) / (0.5 * np.sum(np.square(np.asarray(y, np.float64))))
    return out


class PhaseMap(NamedTuple):
    """:func:`catapult_map`'s result for one width: η/η_max (C,), λ_max(K₀), the run, and the phases."""

    fractions: np.ndarray
    lam0: float
    run: Run
    phases: list


def catapult_map(x, y, *, width: int, fractions, steps: int = 300, record_every: int = 10, seed: int = 0,
                 parameterization: str = "ntk") -> PhaseMap:
    """Train one network (one hidden layer) at η = fraction · 2/λ_max(K₀) for every fraction; classify each run."""
    w, m = init(parameterization, width, 1, np.shape(x)[1], seed=seed)
    lam0 = float(np.linalg.eigvalsh(kernel(w, m, x))[-1])
    fractions = np.asarray(fractions, np.float64)
    etas = fractions * 2 / lam0
    run = train(w, m, x, y, etas=etas, steps=steps, record_every=record_every, with_kernel=True)
    return PhaseMap(fractions, lam0, run, classify_phases(run, etas, lam0))


def depth_fluctuation(x, *, widths, depths, seeds: int = 256, W_std: float = 2**0.5) -> np.ndarray:
    """Var K(x, x) / (E K(x, x))² at initialisation over ``seeds`` networks, averaged over the inputs.

    Uses the package's structured ``empirical.layer_ntk`` (numpy, no compilation) on ``mlp``
    networks in NTK parameterization without bias. Returns shape (len(widths), len(depths)).
    """
    from .empirical import layer_ntk
    from .models import init_batch

    out = np.zeros((len(widths), len(depths)))
    for i, n in enumerate(widths):
        for j, depth in enumerate(depths):
            net = Network("mlp", width=n, depth=depth, W_std=W_std)
            diag = np.diagonal(layer_ntk(net, init_batch(net, range(seeds), np.shape(x)[1]), x).total, axis1=1, axis2=2)
            out[i, j] = np.mean(diag.var(axis=0) / diag.mean(axis=0) ** 2)
    return out
