"""Kernels at work on real data: scikit-learn's bundled data sets, model selection, attacks, scale.

Introduced in notebook 11. Everything here is numpy and scikit-learn (no JAX, no compilation),
except :func:`network_curve`, which trains networks:

* :func:`load` and :func:`subsample` — a bundled data set (nothing is downloaded), a stratified
  split into a training pool and a test set, features standardised with the pool's statistics,
  binary targets ±1;
* :func:`select_ridge` and :func:`rbf_svc` — model selection on scikit-learn's stratified folds:
  the ridge of kernel regression with a precomputed kernel (all ridges from one eigendecomposition
  per fold), and an RBF support-vector machine tuned by ``GridSearchCV``;
* :func:`coefficients` — α of the kernel predictor f(x) = K(x, X) α after ridge regression or
  after t steps of gradient descent;
* :func:`relu_input_gradient` and :func:`fgsm` — the closed-form input gradient ∇ₓ f(x) of a ReLU
  network's NNGP/NTK predictor, and the fast-gradient-sign attack;
* :func:`sketch` and :func:`nystrom` — cheaper kernels: a Gaussian sketch of the Jacobian, J S
  with m columns, and the Nyström approximation of rank m;
* :func:`few_shot` — ridge regression with a given kernel on a few labels, over seeds;
* :func:`kernel_curves` and :func:`network_curve` — learning curves: kernels and a tuned RBF SVM
  with model selection, and trained networks against their kernel predictors.

The marginal likelihood and the cost of the exact and Nyström methods: :mod:`ntk_helpers.kernel_methods`.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .errors import check_choice, check_nonneg, check_positive, check_positive_int, check_seed
from .kernels import analytic as _analytic
from .network import Network

__all__ = ["DATASETS", "Split", "load", "subsample", "select_ridge", "rbf_svc", "coefficients",
           "relu_input_gradient", "fgsm", "sketch", "nystrom", "nystrom_projection", "accuracy", "few_shot", "kernel_curves",
           "network_curve"]

DATASETS = ("digits", "breast_cancer", "wine")


class Split(NamedTuple):
    """A standardised split of a data set.

    Attributes:
      x_pool: (N_pool, d) the training pool, each feature with mean 0 and standard deviation 1
        (a constant feature stays 0); y_pool: (N_pool,) targets ±1.
      x_test: (M, d) test inputs, standardised with the pool's mean and deviation; y_test: (M,).
      labels_pool, labels_test: the original class labels.
      name: the data set's name.
    """

    x_pool: np.ndarray
    y_pool: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    labels_pool: np.ndarray
    labels_test: np.ndarray
    name: str


def load(name: str, *, seed: int = 0, test_fraction: float = 0.3, classes=None) -> Split:
    """One of scikit-learn's bundled data sets as a binary task with targets ±1.

    * ``"digits"``: 8 × 8 images of handwritten digits (1797, d = 64); target +1 for an even digit;
    * ``"breast_cancer"``: 30 measurements of a breast mass (569); target +1 for malignant;
    * ``"wine"``: 13 chemical measurements of wines from 3 cultivars (178); target +1 for cultivar 0.

    Args:
      name: one of :data:`DATASETS`.
      seed: the seed of the stratified split (``sklearn.model_selection.train_test_split``).
      test_fraction: the share of the data kept for testing, in (0, 1).
      classes: optional original labels to keep (e.g. digits 0–4), before splitting.

    Returns:
      A :class:`Split`.
    """
    from sklearn import datasets
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    check_choice("name", name, DATASETS)
    seed = check_seed("seed", seed)
    if not 0 < float(test_fraction) < 1:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction!r}")
    x, labels = getattr(datasets, f"load_{name}")(return_X_y=True)
    if classes is not None:
        keep = np.isin(labels, np.asarray(classes))
        if not keep.any():
            raise ValueError(f"classes {classes!r} holds none of {name}'s labels {np.unique(labels).tolist()}")
        x, labels = x[keep], labels[keep]
    target = {"digits": labels % 2 == 0, "breast_cancer": labels == 0, "wine": labels == 0}[name]
    y = np.where(target, 1.0, -1.0)
    if np.unique(y).size < 2:
        raise ValueError(f"classes {classes!r} leave a single target value: the task needs both")
    xp, xt, yp, yt, lp, lt = train_test_split(x.astype(np.float64), y, labels, test_size=float(test_fraction),
                                              random_state=seed, stratify=y)
    scaler = StandardScaler().fit(xp)
    return Split(scaler.transform(xp), yp, scaler.transform(xt), yt, lp, lt, name)


def subsample(split: Split, n: int, seed: int = 0) -> np.ndarray:
    """Indices (n,) of a stratified random subset of the training pool (all of it for n = N_pool)."""
    from sklearn.model_selection import train_test_split

    n, seed = check_positive_int("n", n), check_seed("seed", seed)
    total = split.y_pool.shape[0]
    if n > total:
        raise ValueError(f"n must be at most the pool's size {total}, got {n}")
    if n == total:
        return np.arange(total)
    idx, _ = train_test_split(np.arange(total), train_size=n, random_state=seed, stratify=split.y_pool)
    return np.sort(idx)


def accuracy(f, y) -> float:
    """The share of points where sign f(x) is the target y = ±1 (a zero output counts as wrong)."""
    f, y = np.asarray(f, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if f.shape != y.shape:
        raise ValueError(f"f and y must have the same shape, got {f.shape} and {y.shape}")
    return float(np.mean(np.sign(f) == y))


def few_shot(split: Split, k, n: int, seeds, *, ridge: float = 1e-3) -> np.ndarray:
    """Test accuracies (len(seeds),) of ridge regression with kernel k on n training points per seed.

    ``k`` is (N_pool + M, N_pool + M), on the pool and the test inputs stacked; ρ is ``ridge`` times
    the mean diagonal of the training block; the training points are ``subsample(split, n, seed)``.
    """
    k, pool = np.asarray(k, dtype=np.float64), split.y_pool.shape[0]
    if k.shape != (pool + len(split.y_test),) * 2:
        raise ValueError(f"k must be the kernel on the pool and test inputs, ({pool + len(split.y_test)},) * 2, got {k.shape}")
    out = []
    for seed in seeds:
        i = subsample(split, n, seed)
        g = k[np.ix_(i, i)]
        alpha = coefficients(g, split.y_pool[i], ridge=ridge * float(np.mean(np.diag(g))))
        out.append(accuracy(k[pool:, i] @ alpha, split.y_test))
    return np.array(out)


def select_ridge(gram, y, ridges, *, folds: int = 3, seed: int = 0):
    """The ridge ρ of kernel regression with the best cross-validated accuracy.

    The folds are scikit-learn's ``StratifiedKFold``; the scores are those of
    ``GridSearchCV(KernelRidge(kernel="precomputed"), {"alpha": ridges})`` with the same folds (the
    tests check this), computed from one eigendecomposition K_tr = V diag(λ) Vᵀ per fold for all
    ridges at once: α(ρ) = V diag(1/(λ + ρ)) Vᵀ y_tr. Ties go to the first ridge, as in ``GridSearchCV``.

    Args:
      gram: (N, N) kernel on the training inputs; y: (N,) targets ±1.
      ridges: the candidate ridges ρ > 0, in kernel units.
      folds: the number of folds; seed: the seed of their shuffle.

    Returns:
      ``(ridge, score)``: the chosen ρ and its mean validation accuracy.
    """
    from sklearn.model_selection import StratifiedKFold

    gram, y = np.asarray(gram, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if gram.ndim != 2 or gram.shape != (y.shape[0], y.shape[0]):
        raise ValueError(f"gram must be square with one row per target ({y.shape[0]}), got shape {gram.shape}")
    ridges = np.array([check_positive("ridges", r) for r in ridges])
    cv = StratifiedKFold(check_positive_int("folds", folds), shuffle=True, random_state=check_seed("seed", seed))
    scores = np.zeros(len(ridges))
    for train, val in cv.split(np.zeros((len(y), 1)), y):
        lam, v = np.linalg.eigh(gram[np.ix_(train, train)])
        coef = v @ ((v.T @ y[train])[:, None] / (np.clip(lam, 0.0, None)[:, None] + ridges))  # (N_tr, R)
        scores += np.mean(np.sign(gram[np.ix_(val, train)] @ coef) == y[val][:, None], axis=0) / folds
    best = int(np.argmax(scores))
    return float(ridges[best]), float(scores[best])


def rbf_svc(x, y, *, folds: int = 3, seed: int = 0):
    """A support-vector machine with the RBF kernel exp(−γ‖x − x′‖²), C and γ tuned by ``GridSearchCV``.

    The grid: C ∈ {0.1, 1, 10, 100}, γ ∈ {0.1, 0.3, 1, 3} / d. Returns the fitted search (``.predict``).
    The inputs are checked once here, not again in each of the 48 fits (a tenth of the time).
    """
    import sklearn
    from sklearn.model_selection import GridSearchCV, StratifiedKFold
    from sklearn.svm import SVC

    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or not np.all(np.isfinite(x)):
        raise ValueError(f"x must be a finite (N, d) array, got shape {x.shape}")
    grid = {"C": [0.1, 1.0, 10.0, 100.0], "gamma": [g / x.shape[1] for g in (0.1, 0.3, 1.0, 3.0)]}
    cv = StratifiedKFold(check_positive_int("folds", folds), shuffle=True, random_state=check_seed("seed", seed))
    with sklearn.config_context(assume_finite=True, skip_parameter_validation=True):
        return GridSearchCV(SVC(kernel="rbf"), grid, cv=cv).fit(x, y)


def coefficients(k_train_train, y_train, *, ridge: float = 0.0, learning_rate: float | None = None,
                 t: float = np.inf) -> np.ndarray:
    """α (N,) of the kernel predictor f(x) = K(x, X) α, started from f₀ = 0.

    Ridge regression: α = (K + ρI)⁻¹ y (t = ∞). After t steps of gradient descent with learning rate
    η on ½‖f − y‖²: α = V diag((1 − (1 − ηλ)^t)/λ) Vᵀ y with K = V diag(λ) Vᵀ (ηt for λ = 0).

    Example:
      >>> k = np.array([[2.0, 0.0], [0.0, 1.0]])
      >>> coefficients(k, [2.0, 1.0]).round(6), coefficients(k, [2.0, 1.0], learning_rate=0.5, t=1).round(6)
      (array([1., 1.]), array([1. , 0.5]))
    """
    k = np.asarray(k_train_train, dtype=np.float64)
    y = np.asarray(y_train, dtype=np.float64)
    if k.ndim != 2 or k.shape != (y.shape[0], y.shape[0]):
        raise ValueError(f"k_train_train must be square with one row per target ({y.shape[0]}), got {k.shape}")
    ridge = check_nonneg("ridge", ridge)
    if learning_rate is None:
        if np.isfinite(t):
            raise ValueError("a finite t needs a learning_rate")
        from scipy.linalg import cho_factor, cho_solve

        return cho_solve(cho_factor(k + ridge * np.eye(len(y))), y)
    eta = check_positive("learning_rate", learning_rate)
    lam, v = np.linalg.eigh(k + ridge * np.eye(len(y)))
    lam = np.clip(lam, 0.0, None)
    if eta * lam[-1] >= 2:
        raise ValueError(f"learning_rate {eta:.4g} ≥ 2/λ_max = {2 / lam[-1]:.4g}: gradient descent diverges")
    with np.errstate(divide="ignore", invalid="ignore"):
        gain = np.where(lam > 0, (1 - (1 - eta * lam) ** t) / lam, eta * t)
    return v @ (gain * (v.T @ y))


def _relu_layer(q1, q2, c):
    """E[φφ], E[φ′φ′] of the ReLU and their derivatives by (q1, c), q2 held fixed."""
    s = np.sqrt(np.clip(q1 * q2 - c * c, 1e-300, None))
    gamma = np.arctan2(s, c)
    pi = np.pi
    e_ff = (s + (pi - gamma) * c) / (2 * pi)
    e_dd = (pi - gamma) / (2 * pi)
    return e_ff, e_dd, (s / (4 * pi * q1), (pi - gamma) / (2 * pi)), (-c / (4 * pi * q1 * s), 1 / (2 * pi * s))


def relu_input_gradient(net: Network, x, x_train, alpha, *, kind: str = "ntk"):
    """f(x) = K(x, X) α and its input gradient ∇ₓ f(x) in closed form, for a ReLU network's kernel.

    The kernel depends on x only through p = x·xᵢ/d and q = ‖x‖²/d, so
    ∇ₓ K(x, xᵢ) = (∂K/∂p · xᵢ + 2 ∂K/∂q · x)/d; both partial derivatives are carried through the
    depth-L recursion (forward mode). With c = Σ(x, x′), s = √(q q′ − c²) and γ the angle:
    ∂E[φφ]/∂c = (π − γ)/2π, ∂E[φφ]/∂q = s/(4πq), ∂E[φ′φ′]/∂c = 1/(2πs), ∂E[φ′φ′]/∂q = −c/(4πqs).

    Args:
      net: an ``mlp`` with ReLU activation in NTK parameterization (width ignored: the analytic kernel).
      x: (M, d) inputs, none parallel to a training input; x_train: (N, d); alpha: (N,).
      kind: ``"ntk"`` (Θ) or ``"nngp"`` (Σ).

    Returns:
      ``(f, grad)`` of shapes (M,) and (M, d).
    """
    if not isinstance(net, Network) or (net.kind, net.activation, net.parameterization) != ("mlp", "relu", "ntk"):
        raise ValueError(f"net must be an nh.Network of kind 'mlp', activation 'relu', NTK parameterization, got {net!r}")
    check_choice("kind", kind, ("ntk", "nngp"))
    x, xt = np.asarray(x, dtype=np.float64), np.asarray(x_train, dtype=np.float64)
    alpha = np.asarray(alpha, dtype=np.float64)
    if x.ndim != 2 or xt.ndim != 2 or x.shape[1] != xt.shape[1] or alpha.shape != (xt.shape[0],):
        raise ValueError(f"x (M, d), x_train (N, d) and alpha (N,) must agree, got {x.shape}, {xt.shape}, {alpha.shape}")
    d = x.shape[1]
    w2, b2 = net.kernel_coefficients(None)  # W_std², b_std²
    q1 = np.sum(x * x, axis=1)[:, None] / d * np.ones((1, len(xt)))  # Σ(x, x) (M, N)
    q2 = np.sum(xt * xt, axis=1)[None, :] / d  # Σ(xᵢ, xᵢ) (1, N)
    c = x @ xt.T / d
    # state and its derivatives by p (dx_p) and by q (dx_q): q1, c, Θ
    q1_p, q1_q, c_p, c_q = np.zeros_like(c), np.ones_like(c), np.ones_like(c), np.zeros_like(c)
    theta = theta_p = theta_q = np.zeros_like(c)
    for layer in range(net.depth + 1):
        q1, q1_p, q1_q = w2 * q1 + b2, w2 * q1_p, w2 * q1_q  # dense
        q2 = w2 * q2 + b2
        c, c_p, c_q = w2 * c + b2, w2 * c_p, w2 * c_q
        theta, theta_p, theta_q = c + w2 * theta, c_p + w2 * theta_p, c_q + w2 * theta_q
        if layer == net.depth:
            break
        e_ff, e_dd, (ff_q, ff_c), (dd_q, dd_c) = _relu_layer(q1, q2, c)
        d_dd_p, d_dd_q = dd_q * q1_p + dd_c * c_p, dd_q * q1_q + dd_c * c_q
        theta, theta_p, theta_q = theta * e_dd, theta_p * e_dd + theta * d_dd_p, theta_q * e_dd + theta * d_dd_q
        c, c_p, c_q = e_ff, ff_q * q1_p + ff_c * c_p, ff_q * q1_q + ff_c * c_q
        q1, q1_p, q1_q, q2 = q1 / 2, q1_p / 2, q1_q / 2, q2 / 2  # E[relu(z)²] = q/2
    k, k_p, k_q = (theta, theta_p, theta_q) if kind == "ntk" else (c, c_p, c_q)
    grad = ((k_p * alpha) @ xt + 2 * (k_q @ alpha)[:, None] * x) / d
    return k @ alpha, grad


def fgsm(x, grad, eps: float):
    """The fast-gradient-sign attack x + ε sign(∇ₓ ℓ) (Goodfellow et al. 2015), shape of x."""
    eps = check_nonneg("eps", eps)
    x, grad = np.asarray(x, dtype=np.float64), np.asarray(grad, dtype=np.float64)
    if x.shape != grad.shape:
        raise ValueError(f"x and grad must have the same shape, got {x.shape} and {grad.shape}")
    return x + eps * np.sign(grad)


def sketch(jac, m: int, seed: int = 0, *, block: int = 4096):
    """A Gaussian sketch of the Jacobian, J S with S of shape (P, m), entries N(0, 1/m): E[(JS)(JS)ᵀ] = JJᵀ.

    S is drawn block by block of ``block`` rows (memory O(block · m)), so P may be large.

    Returns:
      (N, m) the sketched features; their Gram matrix approximates the empirical NTK.
    """
    jac = np.asarray(jac, dtype=np.float64)
    if jac.ndim != 2:
        raise ValueError(f"jac must be (N, P), got shape {jac.shape}")
    m, rng = check_positive_int("m", m), np.random.default_rng(check_seed("seed", seed))
    out = np.zeros((jac.shape[0], m))
    for start in range(0, jac.shape[1], check_positive_int("block", block)):
        part = jac[:, start:start + block]
        out += part @ rng.standard_normal((part.shape[1], m))
    return out / np.sqrt(m)


def nystrom(k_cross, k_landmarks, *, rtol: float = 1e-10):
    """The Nyström features F (N, r) with F Fᵀ = K(X, X_I) K(X_I, X_I)⁺ K(X_I, X) (Williams & Seeger 2001).

    Args:
      k_cross: (N, m) the kernel between all points and m landmark points; k_landmarks: (m, m).
      rtol: eigenvalues of K(X_I, X_I) below rtol × λ_max are dropped (pseudo-inverse), r ≤ m kept.
    """
    c = np.asarray(k_cross, dtype=np.float64)
    w = np.asarray(k_landmarks, dtype=np.float64)
    if c.ndim != 2 or w.shape != (c.shape[1], c.shape[1]):
        raise ValueError(f"k_cross (N, m) and k_landmarks (m, m) must agree, got {c.shape} and {w.shape}")
    return c @ nystrom_projection(w, rtol=rtol)


def nystrom_projection(k_landmarks, *, rtol: float = 1e-10) -> np.ndarray:
    """P (m, r) = V_r diag(λ_r^{−½}) of K(X_I, X_I), so that the Nyström features are K(X, X_I) P.

    Eigenvalues below rtol × λ_max are dropped (the pseudo-inverse), r ≤ m kept.
    """
    lam, v = np.linalg.eigh(np.asarray(k_landmarks, dtype=np.float64))
    keep = lam > check_positive("rtol", rtol) * lam[-1]
    return v[:, keep] / np.sqrt(lam[keep])


def kernel_curves(split: Split, base: Network, sizes, seeds, *, depths=(1, 2, 3), ridges=(1e-4, 1e-2, 1e-1, 1.0)):
    """Test accuracies of NTK and NNGP regression (depth and ridge chosen by validation) and of a tuned RBF SVM.

    For every training-set size N and seed: a stratified subset of the pool (:func:`subsample`);
    for each kernel, the depth L and the ridge ρ (relative to the mean diagonal) with the best
    3-fold validation accuracy (:func:`select_ridge`), then its test accuracy; and :func:`rbf_svc`.
    The kernels of every depth are computed once on the pool and the test set together.

    Returns:
      dict ``kind → (len(sizes), len(seeds))`` test accuracies for ``"NTK"``, ``"NNGP"``, ``"RBF SVM"``,
      and ``"depth NTK"``/``"depth NNGP"``: the depths chosen.
    """
    x_all = np.vstack([split.x_pool, split.x_test])
    pool = split.y_pool.shape[0]
    k = {depth: _analytic(base.replace(depth=depth), x_all) for depth in depths}
    out = {name: np.zeros((len(sizes), len(seeds))) for name in ("NTK", "NNGP", "RBF SVM", "depth NTK", "depth NNGP")}
    for i, n in enumerate(sizes):
        for j, seed in enumerate(seeds):
            idx = subsample(split, n, seed)
            y = split.y_pool[idx]
            for kind in ("NTK", "NNGP"):
                best = None
                for depth in depths:
                    gram = getattr(k[depth], kind.lower())
                    train = gram[np.ix_(idx, idx)]
                    scale = float(np.mean(np.diag(train)))
                    ridge, score = select_ridge(train, y, [r * scale for r in ridges], seed=seed)
                    if best is None or score > best[0]:
                        best = (score, depth, ridge, gram)
                _, depth, ridge, gram = best
                alpha = coefficients(gram[np.ix_(idx, idx)], y, ridge=ridge)
                out[kind][i, j] = accuracy(gram[pool:][:, idx] @ alpha, split.y_test)
                out[f"depth {kind}"][i, j] = depth
            out["RBF SVM"][i, j] = np.mean(rbf_svc(split.x_pool[idx], y, seed=seed).predict(split.x_test) == split.y_test)
    return out



def network_curve(split: Split, base: Network, runs, *, width: int = 512, steps: int = 500):
    """Test accuracies of trained networks and of their analytic NTK predictors after the same steps.

    For each (N, seed): a stratified subset (:func:`subsample`), the learning rate η = η_max/2 with
    η_max = 2/λ_max(Θ) of the analytic Θ on those points, the centred network of ``base`` at
    ``width`` (initialised with ``seed``) trained by full-batch gradient descent for ``steps`` steps,
    and kernel regression with Θ after the same steps (:func:`coefficients`). The centred network
    f(x; θ) − f(x; θ₀) is trained as f on the targets y + f(X; θ₀) (the same gradients), and each
    training set is repeated r = N_max/N times at the learning rate η/r (the summed loss and its
    gradient grow r-fold: the same steps), so that one compiled loop serves every seed and every N.

    Args:
      split: the data; base: an ``mlp`` description (its width is replaced by ``width``).
      runs: pairs (N, seed); every N must divide the largest.
      width: the hidden width n; steps: the gradient-descent steps.

    Returns:
      ``(network, kernel)``: two (len(runs),) arrays of test accuracies.
    """
    from . import dynamics, models

    runs, steps = [(check_positive_int("N", n), check_seed("seed", s)) for n, s in runs], check_positive_int("steps", steps)
    rows = max(n for n, _ in runs)
    if any(rows % n for n, _ in runs):
        raise ValueError(f"every N of runs must divide the largest ({rows}), got {sorted({n for n, _ in runs})}")
    model = models.build(base.replace(width=check_positive_int("width", width)))
    out = np.zeros((2, len(runs)))
    for i, (n, seed) in enumerate(runs):
        idx = subsample(split, n, seed)
        x, y = split.x_pool[idx], split.y_pool[idx]
        theta = _analytic(base, x).ntk
        eta, r = 0.5 * dynamics.max_learning_rate(theta), rows // n
        params0 = model.init(seed, x.shape[1])
        f0 = np.asarray(model.apply(params0, np.vstack([x, split.x_test])), np.float64)
        run = dynamics.train(model.apply, params0, np.repeat(x, r, 0), np.repeat(y + f0[:n], r), learning_rate=eta / r,
                             steps=steps, record_every=steps, x_eval=split.x_test)
        alpha = coefficients(theta, y, learning_rate=eta, t=steps)
        out[:, i] = (accuracy(run.f_eval[-1] - f0[n:], split.y_test),
                     accuracy(_analytic(base, split.x_test, x).ntk @ alpha, split.y_test))
    return out[0], out[1]
