"""Factorisations of kernel matrices, cached by content: the eigensystem and the Cholesky factor.

A slider that moves the time t or the ridge ρ must not refactorise. K + ρI = V diag(λ + ρ) Vᵀ
has K's eigenvectors, so one eigen-decomposition of K serves every ρ and every t; it is cached
under the kernel's content (a SHA-256 of its bytes, ~15 ms per 100 MB — a few per cent of the
factorisation). Kernel regression (t = ∞) needs only (K + ρI)⁻¹: a Cholesky factorisation,
N³/3 flops against the eigen-decomposition's ~4N³, is used whenever K + ρI is clearly positive
definite — its estimated reciprocal condition number (LAPACK ``pocon``) is more than 1000 N ε —
and the eigen-decomposition with its pseudo-inverse otherwise, so both paths agree on which
modes count as zero. The eigenvalue driver is LAPACK's ``syevr`` (relatively robust
representations): as fast as ``syevd`` here, with O(N) workspace instead of 2N² numbers.

The cache keeps the most recent factorisations up to :data:`CACHE_BYTES` in all (the newest one
always; its arrays are read-only). :func:`clear` empties it. Used by :mod:`ntk_helpers.dynamics`
(introduced in notebook 01).
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from typing import NamedTuple

import numpy as np
import scipy.linalg as sl

CACHE_BYTES = 512 * 2**20
_CACHE: OrderedDict = OrderedDict()
_EPS = np.finfo(np.float64).eps


class Eigensystem(NamedTuple):
    """λ (N,) ascending, clipped at 0; V (N, N) orthonormal columns; tol: below it λ counts as zero."""

    lam: np.ndarray
    v: np.ndarray
    tol: float


def fingerprint(k: np.ndarray) -> tuple:
    """A key for the content of a float64 matrix (shape and SHA-256 of its bytes)."""
    return k.shape, hashlib.sha256(np.ascontiguousarray(k).data).hexdigest()


def zero_tol(lam: np.ndarray) -> float:
    """Eigenvalues at or below this are round-off of a singular matrix: N ε max|λ| × 10."""
    return lam.shape[0] * _EPS * max(float(np.abs(lam).max()), 1e-300) * 10


def _remember(key, value):
    _CACHE[key] = value
    _CACHE.move_to_end(key)
    size = lambda entry: sum(a.nbytes for a in entry if isinstance(a, np.ndarray))  # noqa: E731
    while len(_CACHE) > 1 and sum(size(e) for e in _CACHE.values()) > CACHE_BYTES:
        _CACHE.popitem(last=False)
    return value


def _recall(key):
    hit = _CACHE.get(key)
    if hit is not None:
        _CACHE.move_to_end(key)
    return hit


def clear() -> None:
    """Forget every cached factorisation."""
    _CACHE.clear()


def cached_eigensystem(key) -> Eigensystem | None:
    """The eigensystem stored under ``key`` (see :func:`fingerprint`), or None."""
    return _recall(("eigh", key))


def eigensystem(name: str, k: np.ndarray, key=None, *, overwrite: bool = False) -> Eigensystem:
    """Eigen-decomposition of a symmetric PSD matrix, cached; rejects clearly indefinite input.

    Eigenvalues down to −10⁻⁵ λ_max are taken for round-off (a kernel computed in float32 has
    relative errors of that order) and clipped to 0; anything more negative is a ``ValueError``
    naming ``name``. ``overwrite=True`` lets LAPACK work in ``k`` itself (which must then be
    exactly symmetric and is destroyed): no N × N copy.
    """
    key = fingerprint(k) if key is None else key
    hit = _recall(("eigh", key))
    if hit is not None:
        return hit
    if overwrite and k.flags.c_contiguous:
        k = k.T  # the same matrix (symmetric), in the column order LAPACK works in: no copy
    lam, v = sl.eigh(k, check_finite=False, driver="evr", overwrite_a=overwrite)
    scale = max(float(np.abs(lam).max()), 1e-300)
    if lam.min() < -max(zero_tol(lam), 1e-5 * scale):
        raise ValueError(f"{name} is not positive semi-definite (smallest eigenvalue {lam.min():.3g}, "
                         f"largest {lam.max():.3g})")
    lam = np.clip(lam, 0.0, None)
    for a in (lam, v):
        a.setflags(write=False)
    return _remember(("eigh", key), Eigensystem(lam, v, zero_tol(lam)))


def has_cholesky(key) -> bool:
    """Whether a Cholesky factor of K + ρI, for any ρ, is cached for the kernel ``key``."""
    return any(entry[0] == "chol" and entry[1][0] == key for entry in _CACHE)


def forget_cholesky(key, ridge: float) -> None:
    """Drop the cached Cholesky factor of K + ρI (once K's eigensystem serves t = ∞ as well)."""
    _CACHE.pop(("chol", (key, float(ridge))), None)


def cholesky(k: np.ndarray, ridge: float = 0.0, key=None):
    """The lower Cholesky factor of K + ρI if that is clearly positive definite, else None; cached.

    "Clearly": the reciprocal condition number estimated by LAPACK ``pocon`` exceeds 1000 N ε,
    two orders of magnitude above the level where :func:`eigensystem` starts treating modes
    as zero. Returns ``(factor, True)`` as :func:`scipy.linalg.cho_solve` takes it.
    """
    key = (fingerprint(k) if key is None else key, float(ridge))
    hit = _recall(("chol", key))
    if hit is not None:
        return hit[0] if hit[1] else None
    n = k.shape[0]
    a = np.array(k, order="F")
    a.flat[:: n + 1] += ridge
    step = max(1, 2**22 // n)
    anorm = max(float(np.abs(a[:, j:j + step]).sum(axis=0).max()) for j in range(0, n, step))
    factor, info = sl.lapack.dpotrf(a, lower=1, overwrite_a=1, clean=0)
    ok = info == 0
    if ok:
        rcond, info = sl.lapack.dpocon(factor, anorm, uplo="L")
        ok = info == 0 and rcond > 1000 * n * _EPS
    if ok:
        factor.setflags(write=False)
    _remember(("chol", key), (factor if ok else np.empty(0), ok))
    return factor if ok else None


def cho_solve(factor: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(K + ρI)⁻¹ b from :func:`cholesky`'s factor."""
    return sl.cho_solve((factor, True), b, check_finite=False)
