"""The helpers notebook 04 adds: decay-rate fits and Fourier features on the circle."""

from __future__ import annotations

import numpy as np
import pytest

from ntk_helpers.data import circle, fourier_features
from ntk_helpers.dynamics import mode_decay
from ntk_helpers.kernels import fc_kernels
from ntk_helpers.spectral import circulant_eigenvalues
from ntk_helpers.stats import decay_rate


def test_decay_rate_recovers_discrete_gradient_descent_rates():
    lam = np.array([2.0, 0.5, 0.01])
    eta = 0.3
    t = np.arange(0, 200)
    amp = 0.7 * mode_decay(lam, eta, t, discrete=True)
    rates = decay_rate(t, amp, floor=1e-6)
    np.testing.assert_allclose(rates, -np.log(1 - eta * lam), rtol=1e-9)


def test_decay_rate_uses_only_the_early_part():
    t = np.arange(100.0)
    clean = np.exp(-0.05 * t)
    spoiled = np.where(t > 20, 1e-3, clean)  # a floor reached later must not bias the fit
    assert decay_rate(t, spoiled, t_max=20) == pytest.approx(0.05, rel=1e-9)
    assert decay_rate(t, clean, floor=0.5) == pytest.approx(0.05, rel=1e-9)


def test_decay_rate_rejects_bad_input():
    t = np.arange(5.0)
    with pytest.raises(ValueError, match="floor"):
        decay_rate(t, np.exp(-t), floor=1.5)
    with pytest.raises(ValueError, match="amplitude"):
        decay_rate(t, np.ones(4))
    with pytest.raises(ValueError, match="fewer than 2"):
        decay_rate(t, np.exp(-10 * t), floor=0.5)
    with pytest.raises(ValueError, match="t must"):
        decay_rate(t[::-1], np.exp(-t))


def test_fourier_features_give_a_rotation_invariant_kernel():
    phi, _ = circle(32)
    freqs = np.array([1, 3, 7])
    weights = np.array([1.0, 0.5, 0.25])
    g = fourier_features(phi, freqs, weights)
    assert g.shape == (32, 6)
    gram = g @ g.T
    expected = np.cos(np.subtract.outer(phi, phi)[..., None] * freqs) @ weights**2
    np.testing.assert_allclose(gram, expected, atol=1e-12)
    k = fc_kernels(g, depth=2, b_std=0.3).ntk
    shifted = np.roll(np.roll(k, 5, axis=0), 5, axis=1)  # rotating every point by 5 grid steps
    np.testing.assert_allclose(shifted, k, rtol=1e-10, atol=1e-12)
    lam = circulant_eigenvalues(k[0])
    np.testing.assert_allclose(lam[1:], lam[1:][::-1], rtol=1e-8)  # frequencies k and N − k agree


def test_fourier_features_of_frequency_one_are_the_circle():
    phi, x = circle(16)
    np.testing.assert_allclose(fourier_features(phi, [1]), x, atol=1e-12)


def test_fourier_features_reject_bad_input():
    phi, _ = circle(4)
    with pytest.raises(ValueError, match="freqs"):
        fourier_features(phi, [1.5])
    with pytest.raises(ValueError, match="weights"):
        fourier_features(phi, [1, 2], [1.0])
    with pytest.raises(ValueError, match="weights"):
        fourier_features(phi, [1, 2], [1.0, -1.0])
