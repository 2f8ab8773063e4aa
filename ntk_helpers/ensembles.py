"""Ensembles of networks: the prior (NNGP) and the ensemble trained for t steps (NTK), in closed form and for real.

At infinite width a randomly initialised network is a draw f₀ ~ GP(0, Σ) (Σ the NNGP kernel;
Neal 1996, Lee et al. 2018, arXiv:1711.00165), and gradient descent on ½‖f − y‖² moves it with
the constant NTK Θ (Jacot et al. 2018, arXiv:1806.07572):

    f_t(x) = f₀(x) + A_t(x) (y − f₀(X)),   A_t(x) = Θ(x, X) Θ⁻¹ (I − e^{−ηΘt})   (M, N)

(discrete steps: (I − ηΘ)^t instead of e^{−ηΘt}). The map is affine in the Gaussian f₀, so f_t is
Gaussian over initialisations, with

    mean_t = A_t y,
    cov_t  = Σ(x, x′) − A_t Σ(X, x′) − Σ(x, X) A_tᵀ + A_t Σ(X, X) A_tᵀ

(Lee et al. 2019, arXiv:1902.06720, eqs. 15–16, there at t = ∞; :func:`ensemble_predictor`).
At t = 0 this is the prior; at t = ∞ it is :func:`ntk_helpers.dynamics.trained_ensemble`.
Training only the readout layer trains with the readout's own kernel, whose infinite-width limit
is Σ itself: replace Θ by Σ, and at t = ∞ the ensemble is the Gaussian-process posterior
(:func:`ntk_helpers.dynamics.gp_posterior`), exact Bayesian inference with the NNGP prior.

At finite width :func:`train_ensemble` trains S networks together, every layer or the readout
alone, which is a linear model of random features (:func:`readout_features`), trained exactly at
any t, ∞ included (:func:`readout_ensemble`). :func:`expected_loss` and :func:`ensemble_loss`
split the test loss into squared bias and variance; :func:`z_scores` compares an ensemble with a
Gaussian in units of its Monte-Carlo error.

Introduced in notebook 05.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import numpy as np

from . import dynamics, kernels, models
from .activations import get_activation
from .errors import (
    DivergenceError,
    as_float_array,
    check_bool,
    check_kernel,
    check_positive,
    check_positive_int,
    check_seed,
)
from .network import Network, as_network
from .spectral import check_times, spectral_filter

__all__ = ["EnsembleRun", "LossSplit", "ZScores", "analytic_ensemble", "ensemble_loss", "ensemble_predictor",
           "expected_loss", "readout_ensemble", "readout_features", "train_ensemble", "z_scores"]


class EnsembleRun(NamedTuple):
    """S networks trained side by side: ``steps`` (T,) recorded (``np.inf`` possible for
    :func:`readout_ensemble`), outputs ``f_train`` (T, S, N) and ``f_eval`` (T, S, M) in float64,
    and whether only the readout layers were trained."""

    steps: np.ndarray
    f_train: np.ndarray
    f_eval: np.ndarray
    readout_only: bool

    def moments(self, seeds: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Mean and variance (divided by S, as in :func:`ensemble_loss`) over the first ``seeds``
        networks (all by default), each (T, M)."""
        f = self.f_eval[:, : _count(seeds, self.f_eval.shape[1])]
        return f.mean(axis=1), f.var(axis=1)


class LossSplit(NamedTuple):
    """The mean over test points of E (f(x) − y(x))², split: ``bias2``, the mean of
    (E f(x) − y(x))², and ``variance``, the mean of Var f(x); shape (T,) or ()."""

    bias2: np.ndarray
    variance: np.ndarray

    @property
    def total(self) -> np.ndarray:
        """bias2 + variance: the test mean squared error averaged over the ensemble."""
        return self.bias2 + self.variance


def _count(seeds, available):
    seeds = available if seeds is None else check_positive_int("seeds", seeds)
    if seeds > available:
        raise ValueError(f"seeds must be between 1 and {available} (networks in the run), got {seeds}")
    return seeds


def _gains(lam, t, eta, discrete):
    """g(λ, t) = h(λ, t)/λ of every mode, (T, N): A_t = K_* V diag(g) Vᵀ; 0 for round-off modes."""
    zero = lam <= lam.shape[0] * np.finfo(np.float64).eps * 10 * max(lam.max(), 1e-300)
    h = np.atleast_2d(spectral_filter(np.where(zero, 0.0, lam), t, eta, discrete=discrete))
    return np.where(zero[None, :], 0.0, h / np.where(zero, 1.0, lam)[None, :])


# --------------------------------------------------------------------------- infinite width


def ensemble_predictor(ntk_train_train, nngp_train_train, y_train, learning_rate, *, discrete: bool = False):
    """The Gaussian over initialisations of infinitely wide networks trained for t steps.

    One eigen-decomposition Θ = V diag(λ) Vᵀ, then for every t the mean A_t y and the
    covariance Σ_** − A_t Σ_*ᵀ − Σ_* A_tᵀ + A_t Σ A_tᵀ of the module docstring, with
    A_t = Θ_* V diag(h(λ, t)/λ) Vᵀ and h the learned fraction of
    :func:`~ntk_helpers.spectral.spectral_filter` (1 − e^{−ηλt}, or 1 − (1 − ηλ)^t for discrete
    steps). Passing the NNGP kernel as ``ntk_train_train`` gives readout-only training.

    Args:
      ntk_train_train: (N, N) Θ, the kernel that trains; nngp_train_train: (N, N) Σ, the
        covariance at initialisation; y_train: (N,) targets; learning_rate: η > 0;
      discrete: discrete gradient-descent steps instead of gradient flow.

    Returns:
      ``predict(t, ntk_test_train, nngp_test_train, nngp_test_test) -> Gaussian``, test kernels
      (M, N), (M, N), (M, M), t a scalar or (T,) steps (``np.inf`` allowed, whole when
      ``discrete``): mean (T, M), covariance (T, M, M) (no T for a scalar t). Modes with a zero
      eigenvalue of Θ are never learned. Raises ``DivergenceError`` if ``discrete`` and η ≥ 2/λ_max.

    Example:
      >>> theta, sigma = np.array([[2.0]]), np.array([[1.0]])
      >>> predict = ensemble_predictor(theta, sigma, np.array([1.0]), learning_rate=0.25, discrete=True)
      >>> g = predict([0, 1, np.inf], theta, sigma, sigma)  # at the training point itself
      >>> g.mean[:, 0].tolist(), g.covariance[:, 0, 0].tolist()
      ([0.0, 0.5, 1.0], [1.0, 0.25, 0.0])
    """
    th = check_kernel("ntk_train_train", ntk_train_train)
    n, k = th.shape[0], check_kernel("nngp_train_train", nngp_train_train, th.shape[0])
    y = as_float_array("y_train", y_train, ndim=1)
    if y.shape[0] != n:
        raise ValueError(f"y_train must have {n} entries (one per row of ntk_train_train), got {y.shape[0]}")
    eta = check_positive("learning_rate", learning_rate)
    discrete = check_bool("discrete", discrete)
    lam, v = np.linalg.eigh(th)
    if lam[0] < -1e-5 * max(abs(lam).max(), 1e-300):
        raise ValueError(f"ntk_train_train is not positive semi-definite (smallest eigenvalue {lam[0]:.3g})")
    lam = np.clip(lam, 0.0, None)
    if discrete and eta * lam[-1] >= 2.0:
        raise DivergenceError(f"training diverges: η = {eta:.4g} ≥ 2/λ_max = {2.0 / lam[-1]:.4g} "
                              "(discrete gradient descent)")
    vy, vkv = v.T @ y, v.T @ k @ v  # y and Σ(X, X) in the eigenbasis of Θ

    def predict(t, ntk_test_train, nngp_test_train, nngp_test_test) -> dynamics.Gaussian:
        times = check_times(t, discrete)
        th_t = as_float_array("ntk_test_train", ntk_test_train, ndim=2, dim=n)
        m = th_t.shape[0]
        k_t = as_float_array("nngp_test_train", nngp_test_train, ndim=2, dim=n)
        if k_t.shape[0] != m:
            raise ValueError(f"nngp_test_train must have shape ({m}, {n}) like ntk_test_train, got {k_t.shape}")
        k_tt = check_kernel("nngp_test_test", nngp_test_test, m)
        bg = (th_t @ v)[None] * _gains(lam, times, eta, discrete)[:, None, :]  # A_t V, (T, M, N)
        cross = bg @ (k_t @ v).T  # A_t Σ(X, x′), (T, M, M)
        cov = k_tt[None] - cross - np.swapaxes(cross, 1, 2) + bg @ vkv @ np.swapaxes(bg, 1, 2)
        cov = 0.5 * (cov + np.swapaxes(cov, 1, 2))
        return dynamics.Gaussian(*((bg @ vy)[0], cov[0]) if times.ndim == 0 else (bg @ vy, cov))

    return predict


def analytic_ensemble(net, x_train, y_train, x_test, *, learning_rate, t, readout_only: bool = False,
                      discrete: bool = True) -> dynamics.Gaussian:
    """:func:`ensemble_predictor` with the analytic kernels of ``net`` (at infinite width).

    ``net`` is a :class:`~ntk_helpers.network.Network` (its width is ignored) or a model of one;
    x_train (N, d), y_train (N,), x_test (M, d); η and t as there (``np.inf`` allowed);
    ``readout_only`` trains with Σ (the readout layer's kernel) instead of Θ; ``discrete`` steps
    by default, as networks are trained. Returns the Gaussian, mean (T, M) and covariance (T, M, M).

    Example:
      >>> net, x = Network(width=None, depth=1), np.array([[1.0, 0.0], [0.0, 1.0]])
      >>> g = analytic_ensemble(net, x, np.array([1.0, -1.0]), x, learning_rate=1.0, t=np.inf)
      >>> np.round(g.mean, 12).tolist(), bool(np.allclose(g.covariance, 0.0))
      ([1.0, -1.0], True)
    """
    net = as_network(net)  # kernels.analytic reads the width only in the standard parameterization
    x_train = as_float_array("x_train", x_train, ndim=2)
    x_test = as_float_array("x_test", x_test, ndim=2, dim=x_train.shape[1])
    k_tr, k_te, k_tt = kernels.analytic(net, x_train), kernels.analytic(net, x_test, x_train), kernels.analytic(net, x_test)
    trains = (k_tr.nngp, k_te.nngp) if check_bool("readout_only", readout_only) else (k_tr.ntk, k_te.ntk)
    predict = ensemble_predictor(trains[0], k_tr.nngp, y_train, learning_rate, discrete=discrete)
    return predict(t, trains[1], k_te.nngp, k_tt.nngp)


# --------------------------------------------------------------------------- finite width: the readout alone


def readout_features(net, params, x) -> tuple[np.ndarray, np.ndarray]:
    """The random features of the readout layer and the readout's weights, in float64.

    With the last hidden layer's output h_L(x) (n units) and the readout z = s h_L W + c b
    (:meth:`~ntk_helpers.network.Network.forward_scales`), the features are ψ(x) = [s h_L(x), c]
    (the constant only with a bias) and the weights w = [W, b], so that f₀(x) = ψ(x)·w and the
    readout layer's kernel is ψ(x)·ψ(x′). Trained alone, the readout makes the network the linear
    model w ↦ ψ(x)·w. One forward pass in numpy (no compilation), vectorised over stacked seeds.

    ``net`` is an ``mlp`` :class:`~ntk_helpers.network.Network` with one output (or a model of
    one), ``params`` its parameters, one network or stacked (leading seed axis, from
    :func:`~ntk_helpers.models.init_batch`), ``x`` (N, d_in). Returns ψ (S, N, F) and w (S, F)
    (no S axis for one network), F = n (+1 with a bias).

    Example:
      >>> net = Network(width=8, depth=2, b_std=0.1)
      >>> params = models.init_batch(net, [0, 1], 3)
      >>> psi, w = readout_features(net, params, np.ones((4, 3)))
      >>> psi.shape, w.shape
      ((2, 4, 9), (2, 9))
      >>> one = [{k: v[1] for k, v in layer.items()} for layer in params]
      >>> bool(np.allclose(psi[1] @ w[1], models.build(net).apply(one, np.ones((4, 3))), atol=1e-5))
      True
    """
    net = as_network(net)
    if net.kind != "mlp" or net.out_dim != 1:
        raise ValueError(f"net must be an mlp with one output, got {net.name}")
    if not isinstance(params, list | tuple) or not params or not all(isinstance(p, dict) and "W" in p for p in params):
        raise TypeError("params must be a list of dicts {'W': ..., 'b': ...}, one per layer, as init returns")
    batched = np.ndim(params[0]["W"]) == 3
    models.check_params(net, [{k: v[0] for k, v in p.items()} for p in params] if batched else params)
    dtype = np.result_type(np.asarray(params[0]["W"]).dtype, np.float32)  # float32, or float64 parameters' own
    layers = [{k: np.asarray(v, dtype=dtype) for k, v in p.items()} for p in params]
    if not batched:
        layers = [{k: v[None] for k, v in p.items()} for p in layers]
    h = as_float_array("x", x, ndim=2, dim=layers[0]["W"].shape[1], network=True).astype(dtype)
    act = get_activation(net.activation)
    for i, layer in enumerate(layers[:-1]):
        s, c = net.forward_scales(layer["W"].shape[1])
        if i == 0:  # the inputs are shared by every network: one broadcast product
            z = dtype.type(s) * np.matmul(h, layer["W"])
        else:  # one BLAS call per network (numpy's stacked product is slower on small batches)
            z = np.stack([dtype.type(s) * (h[k] @ layer["W"][k]) for k in range(len(h))])
        h = act.fn(z if "b" not in layer else z + dtype.type(c) * layer["b"][:, None, :])
    s, c = net.forward_scales(h.shape[-1])
    psi, w = s * h.astype(np.float64), layers[-1]["W"][..., 0].astype(np.float64)
    if "b" in layers[-1]:
        psi = np.concatenate([psi, np.full(psi.shape[:-1] + (1,), c)], axis=-1)
        w = np.concatenate([w, layers[-1]["b"].astype(np.float64)], axis=-1)
    return (psi, w) if batched else (psi[0], w[0])


def _init(net, seeds, d_in):
    """(net, the seeds as a list, their stacked initial parameters)."""
    net = as_network(net)
    seeds = [seeds] if isinstance(seeds, int | np.integer) and not isinstance(seeds, bool) else seeds
    try:
        seeds = [check_seed("seeds", s) for s in seeds]
    except TypeError:
        raise TypeError(f"seeds must be an integer or a sequence of integers >= 0, got {seeds!r}") from None
    if not seeds:
        raise ValueError("seeds must be a non-empty sequence of integers >= 0")
    return net, seeds, models.init_batch(net, seeds, d_in)


def _data(x_train, y_train, x_eval):
    x = as_float_array("x_train", x_train, ndim=2, network=True)
    y = as_float_array("y_train", y_train, ndim=1)
    if y.shape[0] != x.shape[0]:
        raise ValueError(f"y_train must have {x.shape[0]} entries (one per row of x_train), got {y.shape[0]}")
    xe = as_float_array("x_eval", x_eval, ndim=2, dim=x.shape[1], network=True)
    return x.astype(np.float32), y, xe.astype(np.float32)


def readout_ensemble(net, seeds, x_train, y_train, x_eval, *, learning_rate, t, discrete: bool = True) -> EnsembleRun:
    """S networks of which only the readout layer is trained, in closed form (exact at any t).

    Network s is the linear model ψ_s(x)·w of :func:`readout_features`, trained by gradient descent
    on ½‖f − y‖² from w₀; with its kernel K_s = ψ_s(X) ψ_s(X)ᵀ = V diag(λ) Vᵀ,

        f_t(x) = f₀(x) + ψ_s(x) ψ_s(X)ᵀ V diag(h(λ, t)/λ) Vᵀ (y − f₀(X)),

    h from :func:`~ntk_helpers.spectral.spectral_filter`; this is what real gradient descent on the
    readout computes (to float32 round-off), and at t = ∞ the minimum-norm change of w that fits y.
    Modes with λ = 0 (fewer features than points) are never learned.

    ``net``: an ``mlp`` Network with a finite width; ``seeds``: ints ≥ 0, one network each;
    x_train (N, d), y_train (N,), x_eval (M, d); η; t a scalar or (T,) steps, ``np.inf`` allowed.
    Returns an :class:`EnsembleRun`; raises :class:`~ntk_helpers.errors.DivergenceError` when
    η ≥ 2/λ_max(K_s) for some network s (with ``discrete``, the default).
    """
    x, y, xe = _data(x_train, y_train, x_eval)
    net, seeds, params = _init(net, seeds, x.shape[1])
    eta, discrete = check_positive("learning_rate", learning_rate), check_bool("discrete", discrete)
    times = np.atleast_1d(check_times(t, discrete))
    psi, w = readout_features(net, params, np.concatenate([xe, x]))  # (S, M + N, F), (S, F)
    m, f0 = len(xe), np.einsum("snf,sf->sn", psi, w)
    out = np.empty((len(times),) + f0.shape)
    for s in range(len(w)):
        k_all = psi[s] @ psi[s, m:].T  # K_s(x, X), (M + N, N)
        lam, v = np.linalg.eigh(0.5 * (k_all[m:] + k_all[m:].T))
        lam = np.clip(lam, 0.0, None)
        try:
            g = _gains(lam, times, eta, discrete)
        except DivergenceError:
            raise DivergenceError(f"the readout of network {s} (seed {seeds[s]}) diverges: "
                                  f"η = {eta:.4g} ≥ 2/λ_max = {2 / lam[-1]:.4g} of its readout kernel") from None
        out[:, s] = f0[s] + (g * (v.T @ (y - f0[s, m:]))) @ (k_all @ v).T
    return EnsembleRun(times, out[:, :, m:], out[:, :, :m], True)


# --------------------------------------------------------------------------- finite width: every layer


@functools.lru_cache(maxsize=32)
def _stacked_apply(net: Network, n_seeds: int):
    """apply(stacked params, x (S·N, d)) -> (S·N,): S networks as one function, whose summed loss
    is S independent losses; cached per (net, S) so that ``dynamics.train`` compiles once."""
    apply = jax.vmap(models.build(net).apply)

    def stacked(params, x):
        return apply(params, x.reshape(n_seeds, -1, x.shape[-1])).reshape(-1)

    return stacked


def train_ensemble(net, seeds, x_train, y_train, x_eval, *, learning_rate, steps: int, record_every: int = 1,
                   readout_only: bool = False, progress=None) -> EnsembleRun:
    """Train one network per seed by full-batch gradient descent on ½‖f − y‖², all together.

    Every parameter is trained (:func:`ntk_helpers.dynamics.train` on the S networks as one function
    of their stacked parameters: one compilation per (net, S, N, M, steps, record_every), the
    learning rate traced), or, with ``readout_only``, only the readout layers, exactly in closed
    form (:func:`readout_ensemble`). Both start from ``models.init_batch(net, seeds, d_in)``.

    ``net``: an ``mlp`` Network with a finite width (or a model of one); ``seeds``: ints ≥ 0;
    x_train (N, d), y_train (N,), x_eval (M, d) whose outputs are recorded every ``record_every``
    steps; ``progress(done, total)`` is called during training. Returns an :class:`EnsembleRun`
    with steps 0, k, 2k, …, ``steps``; raises ``DivergenceError`` if some network's loss blows up.
    """
    steps, every = check_positive_int("steps", steps), check_positive_int("record_every", record_every)
    if steps % every:
        raise ValueError(f"steps ({steps}) must be a multiple of record_every ({every})")
    times = np.arange(0, steps + 1, every)
    if check_bool("readout_only", readout_only):
        run = readout_ensemble(net, seeds, x_train, y_train, x_eval, learning_rate=learning_rate, t=times)
        if progress is not None:
            progress(steps, steps)
        return run
    x, y, xe = _data(x_train, y_train, x_eval)
    net, seeds, params = _init(net, seeds, x.shape[1])
    n_seeds = len(seeds)
    traj = dynamics.train(_stacked_apply(net, n_seeds), params, np.tile(x, (n_seeds, 1)), np.tile(y, n_seeds),
                          learning_rate=learning_rate, steps=steps, record_every=every,
                          x_eval=np.tile(xe, (n_seeds, 1)), progress=progress)
    shape = (len(times), n_seeds, -1)
    return EnsembleRun(times.astype(np.float64), traj.f_train.reshape(shape).astype(np.float64),
                       traj.f_eval.reshape(shape).astype(np.float64), False)


# --------------------------------------------------------------------------- the test loss


def expected_loss(gaussian, y_test) -> LossSplit:
    """The expected test loss of a Gaussian ensemble, mean over x of E(f(x) − y(x))² = bias² + variance.

    ``gaussian``: a :class:`~ntk_helpers.dynamics.Gaussian`, mean (…, M), covariance (…, M, M);
    ``y_test``: (M,). Returns a :class:`LossSplit` of shape (…), e.g. (T,) at T times.

    Example:
      >>> g = dynamics.Gaussian(np.array([1.0, 2.0]), np.diag([0.5, 1.5]))
      >>> split = expected_loss(g, np.array([0.0, 2.0]))
      >>> float(split.bias2), float(split.variance), float(split.total)
      (0.5, 1.0, 1.5)
    """
    mean = as_float_array("gaussian.mean", gaussian.mean, ndim=(1, 2))
    y = as_float_array("y_test", y_test, ndim=1, dim=mean.shape[-1])
    var = np.diagonal(as_float_array("gaussian.covariance", gaussian.covariance, ndim=mean.ndim + 1), axis1=-2, axis2=-1)
    return LossSplit(np.mean((mean - y) ** 2, axis=-1), np.mean(var, axis=-1))


def ensemble_loss(f, y_test) -> LossSplit:
    """The same split for an ensemble of S networks: f of shape (…, S, M), y_test (M,).

    bias² uses the ensemble's mean and the variance divides by S, so bias² + variance equals the
    mean over networks of their test mean squared errors exactly. As an estimate of the
    infinite-ensemble bias², bias² is too large by about variance / S on average.

    Example:
      >>> f = np.array([[0.0, 1.0], [2.0, 1.0]])  # two networks, two test points
      >>> split = ensemble_loss(f, np.array([1.0, 0.0]))
      >>> float(split.bias2), float(split.variance), float(split.total)
      (0.5, 0.5, 1.0)
    """
    f = as_float_array("f", f, ndim=(2, 3))
    y = as_float_array("y_test", y_test, ndim=1, dim=f.shape[-1])
    return LossSplit(np.mean((f.mean(axis=-2) - y) ** 2, axis=-1), np.mean(f.var(axis=-2), axis=-1))


# --------------------------------------------------------------------------- Monte Carlo against the closed form


class ZScores(NamedTuple):
    """How many standard errors an ensemble's mean and variance are from a Gaussian's, (…, M) each."""

    mean: np.ndarray
    variance: np.ndarray


def z_scores(f, gaussian) -> ZScores:
    """Monte-Carlo z-scores of an ensemble's mean and variance against a predicted Gaussian.

    The mean m̂(x) of S networks has the standard error σ̂(x)/√S, their variance
    v̂(x) = mean_s (f_s(x) − m̂(x))² the standard error √(Var_s[(f_s(x) − m̂(x))²] / S), both from
    the same samples (heavy tails widen them). z = (estimate − prediction) / standard error is
    about N(0, 1) where the prediction is right, whatever S; a systematic error grows like √S.
    A point where the ensemble does not vary gets z = 0 if it agrees exactly, ±inf otherwise.

    ``f``: (…, S, M) outputs of S networks at M points (an :class:`EnsembleRun`'s ``f_eval``);
    ``gaussian``: mean (…, M), covariance (…, M, M). Returns :class:`ZScores` of shape (…, M).

    Example:
      >>> rng = np.random.default_rng(0)
      >>> f = rng.standard_normal((4000, 3))  # 4000 draws of 3 independent N(0, 1)
      >>> z = z_scores(f, dynamics.Gaussian(np.zeros(3), np.eye(3)))
      >>> bool(np.all(np.abs(z.mean) < 4) and np.all(np.abs(z.variance) < 4))
      True
      >>> bool(np.all(np.abs(z_scores(f + 0.2, dynamics.Gaussian(np.zeros(3), np.eye(3))).mean) > 4))
      True
    """
    f = as_float_array("f", f, ndim=(2, 3))
    if f.shape[-2] < 2:
        raise ValueError(f"f must hold at least 2 networks (axis -2), got shape {f.shape}")
    mean = as_float_array("gaussian.mean", gaussian.mean, ndim=f.ndim - 1, dim=f.shape[-1])
    cov = as_float_array("gaussian.covariance", gaussian.covariance, ndim=f.ndim, dim=f.shape[-1])
    if mean.shape != f.shape[:-2] + f.shape[-1:] or cov.shape[:-1] != mean.shape:
        raise ValueError(f"gaussian must have mean {f.shape[:-2] + f.shape[-1:]} and covariance "
                         f"{f.shape[:-2] + f.shape[-1:] + f.shape[-1:]} for f of shape {f.shape}, "
                         f"got {mean.shape} and {cov.shape}")
    s, m = f.shape[-2], f.mean(axis=-2)
    dev2 = (f - m[..., None, :]) ** 2
    v = dev2.mean(axis=-2)

    def z(diff, se):
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(se > 0, diff / se, np.where(diff == 0, 0.0, np.sign(diff) * np.inf))

    return ZScores(z(m - mean, np.sqrt(v / s)), z(v - np.diagonal(cov, axis1=-2, axis2=-1), np.sqrt(dev2.var(axis=-2) / s)))
