"""Small deterministic data sets used across the course; all randomness from an explicit seed.

Introduced in notebook 01 (``regression_1d``), 02 (``seed_regression``) and 04 (``circle``,
``fourier_target``). Seeds must be integers ≥ 0: ``seed=None`` is refused, since every data set
here is promised to be the same on every call.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .budget import check as check_budget
from .errors import as_float_array, check_positive_int, check_seed


class Dataset(NamedTuple):
    """Training and test inputs (N, d) and targets (N,), float32."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


def seed_regression(n_train: int = 50, n_test: int = 100, seed: int = 0) -> Dataset:
    """The source text's toy task, y = sin x₁ + cos x₂ with x ~ U[−2, 2]², done right.

    The source drew its test inputs with the same random key as its training inputs, so its first
    ``n_train`` test points *were* the training points. Here train and test come from two
    independent streams spawned from ``seed``.

    Example:
      >>> d = seed_regression(5, 3, seed=1)
      >>> d.x_train.shape, d.x_test.shape, bool((d.x_train[:3] != d.x_test).any())
      ((5, 2), (3, 2), True)
    """
    n_train = check_positive_int("n_train", n_train)
    n_test = check_positive_int("n_test", n_test)
    seed = check_seed("seed", seed)
    check_budget(f"seed_regression({n_train}, {n_test})", bytes=48.0 * (n_train + n_test), fix="use fewer points")
    train_rng, test_rng = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(2))

    def draw(rng, n):
        x = rng.uniform(-2.0, 2.0, size=(n, 2))
        return x.astype(np.float32), (np.sin(x[:, 0]) + np.cos(x[:, 1])).astype(np.float32)

    return Dataset(*draw(train_rng, n_train), *draw(test_rng, n_test))


def regression_1d(n_train: int = 12, seed: int = 0, n_grid: int = 200) -> Dataset:
    """A 1-D toy problem, y = sin 3u + u/2 on u ∈ [−1, 1], for figures over a line.

    Each input is the row (u, 1): the constant feature lets a bias-free network fit offsets.
    The "test" set is a uniform grid of ``n_grid`` points, for drawing functions.

    Example:
      >>> d = regression_1d(4, seed=0, n_grid=5)
      >>> d.x_train.shape, d.x_test[:, 0].tolist()
      ((4, 2), [-1.0, -0.5, 0.0, 0.5, 1.0])
    """
    n_train = check_positive_int("n_train", n_train)
    n_grid = check_positive_int("n_grid", n_grid)
    check_budget(f"regression_1d({n_train}, n_grid={n_grid})", bytes=48.0 * (n_train + n_grid), fix="use fewer points")
    u = np.sort(np.random.default_rng(check_seed("seed", seed)).uniform(-1.0, 1.0, n_train))
    grid = np.linspace(-1.0, 1.0, n_grid)

    def target(t):
        return (np.sin(3.0 * t) + 0.5 * t).astype(np.float32)

    def embed(t):
        return np.stack([t, np.ones_like(t)], axis=1).astype(np.float32)

    return Dataset(embed(u), target(u), embed(grid), target(grid))


def circle(n: int) -> tuple[np.ndarray, np.ndarray]:
    """A uniform grid of ``n`` angles φ_j = 2πj/n and the points (cos φ, sin φ), shapes (n,), (n, 2).

    Example:
      >>> phi, x = circle(4)
      >>> np.round(x, 12).tolist()
      [[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [-0.0, -1.0]]
    """
    n = check_positive_int("n", n)
    check_budget(f"circle({n})", bytes=24.0 * n, fix="use fewer points")
    phi = 2.0 * np.pi * np.arange(n) / n
    return phi, np.stack([np.cos(phi), np.sin(phi)], axis=1)


def sphere(n: int, d: int, seed: int = 0) -> np.ndarray:
    """``n`` points drawn uniformly on the unit sphere in d dimensions, shape (n, d)."""
    n = check_positive_int("n", n)
    d = check_positive_int("d", d)
    check_budget(f"sphere({n}, {d})", bytes=16.0 * n * d, fix="use fewer points or dimensions")
    x = np.random.default_rng(check_seed("seed", seed)).standard_normal((n, d))
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def fourier_target(angles, freqs, amplitudes=None) -> np.ndarray:
    """y(φ) = Σ_k a_k cos(k φ), a sum of chosen integer frequencies on the circle.

    Example:
      >>> phi, _ = circle(4)
      >>> np.round(fourier_target(phi, [1, 2], [1.0, 0.5]), 12).tolist()
      [1.5, -0.5, -0.5, -0.5]
    """
    phi = as_float_array("angles", angles, ndim=1)
    freqs = as_float_array("freqs", freqs, ndim=1, nonempty=False)
    amps = np.ones_like(freqs) if amplitudes is None else as_float_array("amplitudes", amplitudes, ndim=1,
                                                                         nonempty=False)
    if amps.shape != freqs.shape:
        raise ValueError(f"amplitudes must have one entry per frequency ({freqs.shape[0]}), got {amps.shape[0]}")
    check_budget("fourier_target", bytes=16.0 * phi.size * freqs.size, fix="use fewer angles or frequencies")
    return np.cos(np.outer(phi, freqs)) @ amps


def fourier_features(angles, freqs, weights=None) -> np.ndarray:
    """Fourier features of angles: γ(φ) = [a_j cos(b_j φ) …, a_j sin(b_j φ) …], shape (N, 2m).

    With integer frequencies b_j the map is periodic, and γ(φ)·γ(φ′) = Σ_j a_j² cos(b_j (φ − φ′))
    depends on φ − φ′ only, so any kernel of a network fed with γ stays rotation invariant
    (Tancik et al. 2020, arXiv:2006.10739, who draw b_j at random with a scale σ).
    Introduced in notebook 04.

    Args:
      angles: (N,) angles φ.
      freqs: (m,) integer frequencies b_j.
      weights: (m,) amplitudes a_j ≥ 0 (default: all 1).

    Example:
      >>> phi, _ = circle(4)
      >>> np.round(fourier_features(phi, [1]), 12).tolist() == np.round(circle(4)[1], 12).tolist()
      True
    """
    phi = as_float_array("angles", angles, ndim=1)
    b = as_float_array("freqs", freqs, ndim=1)
    if not np.all(b == np.round(b)):
        raise ValueError(f"freqs must be a non-empty 1-D array of integers, got {freqs!r}")
    a = np.ones(b.shape) if weights is None else as_float_array("weights", weights, ndim=1)
    if a.shape != b.shape or np.any(a < 0):
        raise ValueError(f"weights must be {b.shape[0]} non-negative numbers, got {weights!r}")
    check_budget("fourier_features", bytes=32.0 * phi.size * b.size, fix="use fewer angles or frequencies")
    arg = np.outer(phi, b)
    return np.concatenate([a * np.cos(arg), a * np.sin(arg)], axis=1)
