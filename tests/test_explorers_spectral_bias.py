"""Notebook 04's package side: Fourier features, one-row spectra, cached fits and runs, explorers.

The explorers are built on small settings; every control is moved through all its values and the
figures are checked against the numbers they claim to show, with no JAX compilation after the
explorer is built. Above η_max = 2/λ_max the linearised network diverges while the network is
trained anyway (it may catapult and converge); a network that does not converge is a message.
"""

from __future__ import annotations

import numpy as np
import pytest

from ntk_helpers import data, dynamics, empirical, kernels, models, spectral, stats, widgets
from ntk_helpers.errors import DivergenceError
from ntk_helpers.explorers import spectral_bias as sb
from ntk_helpers.network import Network
from ntk_helpers.runtime import jax_compilations

RELU1 = Network(width=None, depth=1)


# --------------------------------------------------------------------------- features and spectra


@pytest.mark.parametrize("scale", [0, 0.5, 2, 8])
def test_feature_weights_are_normalised_gaussian_weights(scale):
    a = sb.feature_weights(scale, 12)
    assert a.shape == (12,) and np.all(a >= 0)
    assert np.sum(a**2) == pytest.approx(12, rel=1e-13)
    if scale == 0:
        assert a[0] ** 2 == pytest.approx(12, rel=1e-13) and np.all(a[1:] == 0)
    else:
        b = np.arange(1, 13)
        np.testing.assert_allclose(a**2 / a[0] ** 2, np.exp(-(b**2 - 1) / (2 * scale**2)), rtol=1e-12)


def test_feature_weights_reject_bad_input():
    with pytest.raises(ValueError, match="scale"):
        sb.feature_weights(-1.0)
    with pytest.raises(TypeError, match="scale"):
        sb.feature_weights("big")
    with pytest.raises(ValueError, match="n_freqs"):
        sb.features(np.zeros(3), 1.0, n_freqs=0)


def test_features_have_constant_norm_and_a_rotation_invariant_gram():
    gamma, _ = data.circle(24)
    psi = sb.features(gamma, 3.0, 5)
    assert psi.shape == (24, 10)
    np.testing.assert_allclose(np.sum(psi**2, axis=1), 5.0, rtol=1e-13)
    gram = psi @ psi.T
    np.testing.assert_allclose(np.roll(np.roll(gram, 7, 0), 7, 1), gram, atol=1e-12)


@pytest.mark.parametrize("net", [RELU1, RELU1.replace(b_std=0.3, depth=2), RELU1.replace(activation="erf", b_std=0.5)],
                         ids=["relu", "relu-bias-L2", "erf-bias"])
@pytest.mark.parametrize("scale", [None, 0.0, 3.0], ids=["plain", "psi-0", "psi-3"])
def test_circle_spectrum_is_the_spectrum_of_the_full_kernel_matrix(net, scale):
    gamma, x = data.circle(16)
    inputs = x if scale is None else sb.features(gamma, scale, 4)
    lam = sb.circle_spectrum(net, inputs)
    assert lam.shape == (9,)
    full = np.sort(np.linalg.eigvalsh(kernels.analytic(net, inputs).ntk))
    # every k in 1..7 appears twice (cos and sin), k = 0 and k = 8 once
    from_rows = np.sort(np.concatenate([lam, lam[1:-1]]))
    np.testing.assert_allclose(from_rows, full, rtol=0, atol=1e-10 * full.max())


def test_circle_spectrum_ignores_the_width_and_rejects_non_grids():
    _, x = data.circle(12)
    np.testing.assert_array_equal(sb.circle_spectrum(RELU1.replace(width=64), x), sb.circle_spectrum(RELU1, x))
    shuffled = x[np.random.default_rng(0).permutation(12)]
    with pytest.raises(ValueError, match="uniform grid"):
        sb.circle_spectrum(RELU1, shuffled)
    with pytest.raises(ValueError, match="at least 3"):
        sb.circle_spectrum(RELU1, x[:2])
    with pytest.raises(TypeError, match="net"):
        sb.circle_spectrum("relu", x)



@pytest.mark.parametrize("net", [RELU1.replace(b_std=0.5), RELU1.replace(depth=2)], ids=["relu-bias", "relu-L2"])
def test_sphere_spectrum_on_the_circle_is_the_circle_spectrum_over_n(net):
    _, x = data.circle(2048)
    on_grid = sb.circle_spectrum(net, x)[:17] / 2048  # the grid aliases k ± 2048m onto k: ~0.15/N² here
    np.testing.assert_allclose(sb.sphere_spectrum(net, 2, 16), on_grid, rtol=0, atol=1e-6 * on_grid[0])


def test_sphere_spectrum_matches_closed_form_harmonics_in_three_and_four_dimensions():
    net = RELU1.replace(b_std=0.3, W_std=1.3)
    # d = 3: P_k is Legendre's polynomial; integrate in t = cos φ on a fine trapezoid grid instead
    t = np.linspace(-1.0, 1.0, 400001)
    x = np.stack([t, np.sqrt(1 - t**2), np.zeros_like(t)], axis=1)
    kappa = kernels.analytic(net, np.eye(3)[:1], x).ntk[0]
    legendre = [np.polynomial.legendre.Legendre.basis(k)(t) for k in range(9)]
    expected = [0.5 * np.trapezoid(kappa * p, t) for p in legendre]
    np.testing.assert_allclose(sb.sphere_spectrum(net, 3, 8), expected, rtol=0, atol=1e-8 * expected[0])
    # d = 4: P_k(cos φ) = sin((k + 1)φ) / ((k + 1) sin φ) and c_4 = 2/π
    phi = np.linspace(0.0, np.pi, 200001)
    x = np.zeros((phi.size, 4))
    x[:, 0], x[:, 1] = np.cos(phi), np.sin(phi)
    kappa = kernels.analytic(net, np.eye(4)[:1], x).ntk[0]
    expected = [2 / np.pi / (k + 1) * np.trapezoid(kappa * np.sin((k + 1) * phi) * np.sin(phi), phi) for k in range(9)]
    np.testing.assert_allclose(sb.sphere_spectrum(net, 4, 8), expected, rtol=0, atol=1e-8 * expected[0])


def test_sphere_spectrum_rejects_bad_input():
    with pytest.raises(ValueError, match="d ≥ 2"):
        sb.sphere_spectrum(RELU1, 1)
    with pytest.raises(ValueError, match="n_nodes"):
        sb.sphere_spectrum(RELU1, 3, 64, n_nodes=32)
    with pytest.raises(ValueError, match="mlp"):
        sb.sphere_spectrum(Network("resnet", width=None, depth=1), 3)
    with pytest.raises(TypeError, match="max_degree"):
        sb.sphere_spectrum(RELU1, 3, 4.5)


def test_rotation_change_of_one_network_and_of_the_mean():
    _, x = data.circle(16)
    net = RELU1.replace(width=64)
    quarter = np.array([[0.0, -1.0], [1.0, 0.0]])
    one, mean = sb.rotation_change(net, x, quarter, range(8))
    params = models.astype(models.init_batch(net, [3], 2), np.float64)
    k, k_rot = (empirical.layer_ntk(net, params, a).total[0] for a in (x, x @ quarter.T))
    assert 0.0 < mean < one and np.linalg.norm(k_rot - k) > 0.05 * np.linalg.norm(k)
    assert sb.rotation_change(net, x, np.eye(2), [0, 1]) == (0.0, 0.0)
    with pytest.raises(ValueError, match="orthogonal"):
        sb.rotation_change(net, x, 2 * np.eye(2), [0])
    with pytest.raises(ValueError, match="orthogonal"):
        sb.rotation_change(net, x, np.eye(3), [0])


@pytest.mark.parametrize("strength", [0.0, 0.5, 0.9])
def test_density_angles_are_the_quantiles_of_the_density(strength):
    g = sb.density_angles(40, strength)
    np.testing.assert_allclose((g + strength * np.sin(g)) / (2 * np.pi), np.arange(40) / 40, rtol=0, atol=1e-13)
    assert np.all(np.diff(g) > 0) and g[0] == 0.0
    gaps = np.diff(np.append(g, 2 * np.pi))  # spacing ∝ 1/p: smallest near γ = 0, largest near π
    assert strength == 0 or gaps.argmax() in (19, 20)


def test_density_angles_and_fourier_purity_reject_bad_input():
    with pytest.raises(ValueError, match="strength"):
        sb.density_angles(8, 1.0)
    with pytest.raises(ValueError, match="strength"):
        sb.density_angles(8, -0.1)
    gamma, _ = data.circle(8)
    with pytest.raises(ValueError, match="vectors"):
        sb.fourier_purity(np.ones((7, 2)), gamma)
    with pytest.raises(ValueError, match="vectors"):
        sb.fourier_purity(np.zeros((8, 1)), gamma)
    with pytest.raises(ValueError, match="angles"):
        sb.fourier_purity(np.ones((8, 1)), np.ones((8, 1)))


def test_fourier_purity_finds_the_frequency_and_the_missed_share():
    gamma, _ = data.circle(32)
    v = np.stack([np.cos(3 * gamma + 0.4), np.ones(32), np.cos(2 * gamma) + np.sin(5 * gamma), np.cos(16 * gamma)], 1)
    k, missed = sb.fourier_purity(v, gamma, max_freq=16)
    assert k.tolist()[:2] == [3, 0] and k[2] in (2, 5) and k[3] == 16
    np.testing.assert_allclose(missed, [0.0, 0.0, 0.5, 0.0], atol=1e-12)
    # eigenvectors of a rotation-invariant kernel: Fourier modes on a grid, not on non-uniform points
    for strength, pure in ((0.0, True), (0.5, False)):
        g = sb.density_angles(32, strength)
        theta = kernels.analytic(RELU1.replace(b_std=0.5), np.stack([np.cos(g), np.sin(g)], axis=1)).ntk
        _, missed = sb.fourier_purity(np.linalg.eigh(theta)[1][:, ::-1][:, :5], g)
        assert (missed.max() < 1e-10) == pure, missed


# --------------------------------------------------------------------------- the kernel side


def small_fits():
    gamma, _ = data.circle(16)
    gamma_test, _ = data.circle(48)
    y = data.fourier_target(gamma, [1, 3]) + np.random.default_rng(3).normal(0.0, 0.2, 16)
    return sb.KernelFits(y, data.fourier_target(gamma_test, [1, 3]), n_freqs=4)


@pytest.mark.parametrize("net", [RELU1, RELU1.replace(activation="erf", depth=2, b_std=0.25)], ids=["relu", "erf"])
@pytest.mark.parametrize("scale", [0, 2])
def test_kernel_fits_match_gradient_descent_on_the_full_matrices(net, scale):
    fits = small_fits()
    psi_train = sb.features(fits.gamma_train, scale, 4)
    psi_test = sb.features(fits.gamma_test, scale, 4)
    k_train = kernels.analytic(net, psi_train).ntk
    k_test = kernels.analytic(net, psi_test, psi_train).ntk
    lam_max = np.linalg.eigvalsh(k_train)[-1]
    predict = dynamics.gradient_descent_mse(k_train, fits.y_train, 1.0 / lam_max, discrete=True)
    t = np.array([0, 1, 10, 100, 1000])
    expected = predict(t, np.zeros(16), np.zeros(48), k_test).test
    np.testing.assert_allclose(fits.fit(net, scale, t), expected, rtol=0, atol=1e-9)
    spec = fits.spectrum(net, scale)
    np.testing.assert_allclose(spec, sb.circle_spectrum(net, psi_train) / lam_max, rtol=0, atol=1e-12)
    assert fits.spectrum(net, scale) is spec  # cached


def test_kernel_fits_reject_bad_input():
    y = np.zeros(16)
    with pytest.raises(ValueError, match="multiple"):
        sb.KernelFits(y, np.zeros(40))
    with pytest.raises(ValueError, match="y_train"):
        sb.KernelFits(np.zeros((4, 4)), np.zeros(16))
    fits = small_fits()
    with pytest.raises(ValueError, match="kind 'mlp'"):
        fits.fit(Network("resnet", width=None, depth=1), 0, 1)
    with pytest.raises(ValueError, match="t must be >= 0"):
        fits.fit(RELU1, 0, -1)
    with pytest.raises(TypeError, match="fits"):
        sb.kernel_explorer(y)


def assert_traces_named_with_x(fig):
    for i, trace in enumerate(fig.data):
        assert trace.name, f"trace {i} has no name"
        assert trace.x is not None, f"trace {i} ({trace.name}) has no x"
        assert trace.y is not None and len(trace.x) == len(trace.y), f"trace {i} ({trace.name})"


def check_kernel_figures(explorer, fits):
    v = explorer.values
    net = Network(width=None, depth=v["depth"], activation=v["activation"], b_std=v["b_std"] or None)
    rel = fits.spectrum(net, v["scale"])
    spec, fit = explorer.figures
    zero = rel <= 1e-12
    np.testing.assert_array_equal(spec.data[1].x, np.flatnonzero(~zero))
    np.testing.assert_array_equal(spec.data[1].y, rel[~zero])
    np.testing.assert_array_equal(spec.data[2].x, np.flatnonzero(zero))
    assert spec.data[2].visible == bool(zero.any())
    np.testing.assert_array_equal(fit.data[2].x, fits.gamma_test)
    np.testing.assert_allclose(fit.data[2].y, fits.fit(net, v["scale"], v["t"]), rtol=0, atol=1e-12)
    for fig in explorer.figures:
        assert_traces_named_with_x(fig)


def test_kernel_explorer_shows_every_setting_without_compiling():
    fits = small_fits()
    explorer = sb.kernel_explorer(fits)
    check_kernel_figures(explorer, fits)
    before = jax_compilations()
    for name, control in explorer.controls.items():
        start = control.value
        for value in [option[1] if isinstance(option, tuple) else option for option in control.options]:
            explorer.set(name, value)
            assert explorer.message is None, (name, value, explorer.message)
            check_kernel_figures(explorer, fits)
        explorer.set(name, start)
    assert jax_compilations() == before
    # erf without bias: the even frequencies are exact zeros, drawn apart
    explorer.set("activation", "erf")
    explorer.set("b_std", 0.0)
    explorer.set("scale", 0)
    zeros = explorer.figures[0].data[2]
    assert zeros.visible and set(np.asarray(zeros.x).tolist()) == set(range(0, 9, 2))
    assert [len(f.data) for f in explorer.static_figures()] == [3, 3]
    explorer.close()


# --------------------------------------------------------------------------- the network side


@pytest.fixture(scope="module")
def runs():
    return sb.CircleRuns(RELU1, n_points=64, steps=20)


def test_circle_runs_train_the_centred_network_and_cache(runs):
    run = runs.run((1, 4, 10), 0.1, 0.5, 64, 2)
    assert runs.run([1, 4, 10], 0.1, 0.5, 64, 2) is run
    traj = run.trajectory
    assert traj.f_train.shape == (21, 64)
    assert np.abs(traj.f_train[0]).max() == 0.0  # centred: f_0 = 0 exactly
    assert traj.loss[-1] < traj.loss[0]
    np.testing.assert_allclose(run.eigenvalues, sb.circle_spectrum(RELU1, sb.features(runs.gamma, 2)))
    assert run.learning_rate == pytest.approx(0.5 * 2.0 / run.eigenvalues.max(), rel=1e-15)
    # frequency 1 has the largest eigenvalue: the network removes most of it within a step
    # (1 − ηλ_1 ≈ 0.2 here); a width of 64 is far from the kernel limit, so only loosely
    amp = spectral.fourier_amplitudes(traj.f_train - 0.1 * data.fourier_target(runs.gamma, [1, 4, 10]), [1])
    predicted = (1 - run.learning_rate * run.eigenvalues[1]) ** 5
    assert amp[5, 0] / amp[0, 0] == pytest.approx(predicted, abs=0.1)


def test_linear_losses_are_gradient_descent_with_the_constant_kernel():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(6, 6))
    k0, y = a @ a.T, rng.normal(size=6)
    lam_max = np.linalg.eigvalsh(k0)[-1]
    for ratio in (0.5, 1.02):
        eta, r, losses = ratio * 2 / lam_max, -y, []
        for _ in range(31):
            losses.append(0.5 * r @ r)
            r = r - eta * k0 @ r
        np.testing.assert_allclose(sb.linear_losses(k0, y, eta, np.arange(31)), losses, rtol=1e-9)
    huge = sb.linear_losses(k0, y, 3 / lam_max, [0, 10**6])  # capped, not infinite
    assert np.isfinite(huge[1]) and huge[1] > 1e250
    with pytest.raises(ValueError, match="learning_rate"):
        sb.linear_losses(k0, y, -1.0, [0])
    with pytest.raises(ValueError, match="steps"):
        sb.linear_losses(k0, y, 1.0, [-1])
    with pytest.raises(ValueError, match="y"):
        sb.linear_losses(k0, y[:5], 1.0, [0])


def test_circle_runs_train_above_the_bound_the_network_catapults():
    runs = sb.CircleRuns(RELU1, n_points=64, steps=400)
    run = runs.run((1, 4, 10), 0.1, 1.05, 256, 0)  # η/η_max = 1.05: the linearised network diverges
    loss, lin = run.trajectory.loss, run.linear_loss
    assert lin[0] == pytest.approx(loss[0], rel=1e-6) and lin[-1] > 1e3 * lin[0]
    assert loss.max() > 10 * loss[0] and loss[-1] < 0.1 * loss[0]  # up, then down: a catapult
    params0 = models.astype(models.build(RELU1.replace(width=256)).init(0, 24), np.float64)
    k0 = empirical.layer_ntk(RELU1.replace(width=256), params0, sb.features(runs.gamma, 0)).total
    assert run.kernel_max[0] == pytest.approx(np.linalg.eigvalsh(k0)[-1], rel=1e-12)
    assert run.kernel_max[1] < 2 / run.learning_rate < run.kernel_max[0]  # the kernel shrank below 2/η
    text = sb.outcome(run)
    assert text.startswith("η/η_max = 1.05: the linearised network diverges") and "the network catapults" in text
    below = sb.outcome(runs.run((1, 4, 10), 0.1, 0.5, 256, 0))
    assert "linearised network converges" in below and "catapult" not in below


def test_circle_runs_say_what_the_linear_model_does_when_the_network_diverges(runs):
    with pytest.raises(DivergenceError, match="η/η_max = 3: the linearised network diverges; the network does "
                                              "not converge: training diverges"):
        runs.run((1,), 0.1, 3.0, 64, 0)


def test_circle_runs_refuse_bad_settings(runs):
    with pytest.raises(ValueError, match="mix"):
        runs.run((0, 40), 0.1, 0.5, 64, 0)
    with pytest.raises(ValueError, match="amplitude"):
        runs.run((1,), -0.1, 0.5, 64, 0)
    with pytest.raises(ValueError, match="eta_ratio"):
        runs.run((1,), 0.1, 0.0, 64, 0)
    with pytest.raises(ValueError, match="seed"):
        sb.CircleRuns(RELU1, seed=-1)
    with pytest.raises(TypeError, match="runs"):
        sb.network_explorer(RELU1)


def check_network_figures(explorer, runs):
    v = explorer.values
    mix = np.array(sb.MIXES[v["mix"]])
    run = runs.run(mix, v["amplitude"], v["eta_ratio"], v["width"], v["scale"])
    func, resid, loss = explorer.figures
    t, a = v["t"], v["amplitude"]
    target = a * data.fourier_target(runs.gamma, mix)
    np.testing.assert_allclose(func.data[0].y, target, rtol=0, atol=1e-15)
    np.testing.assert_array_equal(func.data[1].y, run.trajectory.f_train[t])
    decay = (1 - run.learning_rate * run.eigenvalues[mix]) ** t
    np.testing.assert_allclose(func.data[2].y, a * np.cos(np.outer(runs.gamma, mix)) @ (1 - decay),
                               rtol=1e-12, atol=1e-12)
    assert tuple(func.layout.yaxis.range) == pytest.approx((-3.6 * a, 3.6 * a))
    ratio = spectral.fourier_amplitudes(run.trajectory.f_train - target, mix) / a
    for j, k in enumerate(mix):
        assert resid.data[2 * j].name == f"k = {k}, network" and resid.data[2 * j + 1].name == f"k = {k}, NTK"
        np.testing.assert_allclose(resid.data[2 * j].y, np.maximum(ratio[:, j], sb.FLOOR), rtol=1e-12)
        np.testing.assert_allclose(resid.data[2 * j + 1].y,
                                   np.maximum((1 - run.learning_rate * run.eigenvalues[k]) ** np.arange(21), sb.FLOOR),
                                   rtol=1e-12)
    assert list(resid.data[6].x) == [t, t] and resid.data[6].showlegend is False
    np.testing.assert_array_equal(loss.data[0].y, run.trajectory.loss)
    np.testing.assert_array_equal(loss.data[1].y, run.linear_loss)
    assert list(loss.data[2].x) == [t, t] and loss.data[2].showlegend is False
    assert loss.layout.title.text == "Loss<br><sup>" + sb.outcome(run).replace("; ", "<br>") + "</sup>"
    for fig in explorer.figures:
        assert_traces_named_with_x(fig)


def test_network_explorer_shows_every_setting_without_compiling(runs):
    explorer = sb.network_explorer(runs, widths=(32, 64), scales=(0, 4))
    check_network_figures(explorer, runs)
    before = jax_compilations()
    shown = {"catapult": 0, "message": 0}
    for name, control in explorer.controls.items():
        start = control.value
        values = ([option[1] if isinstance(option, tuple) else option for option in control.options]
                  if hasattr(control, "options") else range(control.min, control.max + 1, control.step))
        for value in values:
            explorer.set(name, value)
            if explorer.message is not None:  # only a network that does not converge
                assert name == "eta_ratio" and value > 1 and "does not converge" in explorer.message
                shown["message"] += 1
                continue
            shown["catapult"] += "catapults" in explorer.figures[2].layout.title.text
            check_network_figures(explorer, runs)
        explorer.set(name, start)
    assert jax_compilations() == before, "a control move compiled"
    assert shown["catapult"] > 0 and shown["message"] > 0  # both outcomes above η_max occur here
    assert list(explorer.controls["eta_ratio"].options) == [(str(r), r) for r in sb.ETA_RATIOS]
    explorer.close()


def test_network_explorer_trains_above_the_bound_and_keeps_the_last_figure_if_the_network_diverges(runs):
    explorer = sb.network_explorer(runs, widths=(32,), scales=(0,))
    explorer.set("eta_ratio", 1.05)
    assert explorer.message is None
    assert "the linearised network diverges" in explorer.figures[2].layout.title.text
    check_network_figures(explorer, runs)
    kept = np.array(explorer.figures[0].data[1].y)
    explorer.set("eta_ratio", 2.2)
    with pytest.raises(DivergenceError):
        runs.run((1, 4, 10), 0.1, 2.2, 32, 0)
    assert explorer.message is not None and "the linearised network diverges" in explorer.message
    assert all("does not converge" in widgets.message_text(fig) for fig in explorer.figures)
    np.testing.assert_array_equal(explorer.figures[0].data[1].y, kept)
    explorer.set("eta_ratio", 0.25)
    assert explorer.message is None and all(widgets.message_text(fig) is None for fig in explorer.figures)
    check_network_figures(explorer, runs)
    explorer.close()


# --------------------------------------------------------------------------- the two static figures


def test_residual_figure_names_every_line_and_checks_shapes():
    t = np.arange(5)
    fig = sb.residual_figure(t, np.ones((5, 2)), 0.5 ** t[:, None] * np.ones((1, 2)), [1, 4])
    assert [tr.name for tr in fig.data] == ["k = 1, network", "k = 1, NTK", "k = 4, network", "k = 4, NTK"]
    np.testing.assert_array_equal(fig.data[1].y, 0.5**t)
    assert fig.layout.yaxis.type == "log"
    with pytest.raises(ValueError, match="predicted must have shape"):
        sb.residual_figure(t, np.ones((5, 2)), np.ones((4, 2)), [1, 4])


def test_filter_figure_draws_exact_zeros_apart():
    k = np.arange(6)
    h = {"t = 1": np.array([1.0, 0.8, 0.5, 0.0, 0.3, 0.0]), "t = 9": np.array([1.0, 1.0, 0.9, 0.0, 0.8, 0.0])}
    zero = np.array([False, False, False, True, False, True])
    fig = sb.filter_figure(k, h, zero)
    assert [tr.name for tr in fig.data] == ["t = 1", "t = 9", "λ_k = 0: never learned"]
    np.testing.assert_array_equal(fig.data[0].x, [0, 1, 2, 4])  # no line through k = 3
    np.testing.assert_array_equal(fig.data[2].x, [3, 5])
    assert fig.data[2].mode == "markers"
    assert [tr.name for tr in sb.filter_figure(k, h, np.zeros(6, bool)).data] == ["t = 1", "t = 9"]
    with pytest.raises(ValueError, match="zero must have shape"):
        sb.filter_figure(k, h, zero[:3])


def test_decay_rates_and_the_notebook_figures(runs):
    run = runs.run((1, 4, 10), 0.1, 0.5, 64, 0)
    measured, kernel = sb.decay_rates(run, [1, 4], t_max=10)
    amp = spectral.fourier_amplitudes(run.trajectory.f_train - 0.1 * data.fourier_target(runs.gamma, [1, 4, 10]), [1, 4])
    np.testing.assert_allclose(measured, stats.decay_rate(run.trajectory.steps, amp, t_max=10, floor=0.1), rtol=1e-12)
    np.testing.assert_allclose(kernel, -np.log(1 - run.learning_rate * run.eigenvalues[[1, 4]]), rtol=1e-12)
    above = runs.run((1, 4, 10), 0.1, 1.05, 64, 0)
    fig = sb.loss_figure({"η/η_max = 1.05": above, "η/η_max = 0.5": run})
    assert [t.name for t in fig.data] == ["network, η/η_max = 1.05", "linearised network, η/η_max = 1.05",
                                          "network, η/η_max = 0.5"]  # a converging linear model is not drawn
    np.testing.assert_array_equal(fig.data[1].y, above.linear_loss)
    assert [t.line.dash for t in fig.data] == ["solid", "dash", "solid"] and fig.layout.yaxis.type == "log"
    fig = sb.spectrum_figure({"a": np.array([1.0, 0.5, 0.0, 0.1])}, np.arange(4), "title")
    np.testing.assert_array_equal(fig.data[0].x, [0, 1, 3])  # the exact zero is left out
    g = sb.density_angles(8, 0.5)
    fig = sb.density_figure(g, -np.arange(8.0), 1 + 0.5 * np.cos(g), 100)
    assert [t.name for t in fig.data] == ["|r(γ)| at t = 100", "density 2πp(γ)"]
    np.testing.assert_array_equal(fig.data[0].y, np.arange(8.0))
