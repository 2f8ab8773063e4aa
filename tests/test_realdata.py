"""ntk_helpers.realdata: splits, model selection, the kernel predictor's coefficients and input gradient,
the attack, the sketch and Nyström — each checked against an independent computation."""

from __future__ import annotations

import numpy as np
import pytest

from ntk_helpers import kernels
from ntk_helpers import realdata as rd
from ntk_helpers.network import Network

NET = Network("mlp", width=None, depth=2, W_std=1.3, b_std=0.2)


@pytest.fixture(scope="module")
def cancer():
    return rd.load("breast_cancer", seed=0)


def test_load_standardises_with_the_pool_and_keeps_the_split(cancer):
    np.testing.assert_allclose(cancer.x_pool.mean(0), 0, atol=1e-12)
    np.testing.assert_allclose(cancer.x_pool.std(0), 1, atol=1e-12)
    assert cancer.x_pool.shape[0] + cancer.x_test.shape[0] == 569
    assert set(np.unique(cancer.y_pool)) == {-1.0, 1.0}
    assert abs(cancer.y_pool.mean() - cancer.y_test.mean()) < 0.02  # stratified
    again = rd.load("breast_cancer", seed=0)
    np.testing.assert_array_equal(again.x_test, cancer.x_test)
    digits = rd.load("digits", classes=range(5))
    assert set(np.unique(np.concatenate([digits.labels_pool, digits.labels_test]))) == set(range(5))
    assert np.all((digits.y_pool > 0) == (digits.labels_pool % 2 == 0))


def test_bad_arguments_are_named(cancer):
    with pytest.raises(ValueError, match="name"):
        rd.load("iris")
    with pytest.raises(ValueError, match="test_fraction"):
        rd.load("wine", test_fraction=1.5)
    with pytest.raises(ValueError, match="classes"):
        rd.load("digits", classes=[42])
    with pytest.raises(ValueError, match="n must be at most"):
        rd.subsample(cancer, 10_000)
    with pytest.raises(ValueError, match="net must be"):
        rd.relu_input_gradient(NET.replace(activation="erf"), cancer.x_test[:2], cancer.x_pool[:3], np.ones(3))
    with pytest.raises(ValueError, match="learning_rate"):
        rd.coefficients(np.eye(2), [1.0, 1.0], learning_rate=2.5, t=3)
    with pytest.raises(ValueError, match="gram"):
        rd.select_ridge(np.eye(3), np.ones(4), [0.1])


def test_subsample_is_stratified_and_reproducible(cancer):
    idx = rd.subsample(cancer, 40, seed=3)
    assert len(set(idx)) == 40 and np.array_equal(idx, rd.subsample(cancer, 40, seed=3))
    assert abs(np.mean(cancer.y_pool[idx] > 0) - np.mean(cancer.y_pool > 0)) < 0.03
    np.testing.assert_array_equal(rd.subsample(cancer, len(cancer.y_pool)), np.arange(len(cancer.y_pool)))


def test_coefficients_ridge_and_gradient_descent():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((6, 6))
    k, y = a @ a.T, rng.standard_normal(6)
    np.testing.assert_allclose(rd.coefficients(k, y, ridge=0.3), np.linalg.solve(k + 0.3 * np.eye(6), y), rtol=1e-10)
    eta = 1.0 / np.linalg.eigvalsh(k)[-1]
    alpha, f = np.zeros(6), np.zeros(6)
    for _ in range(25):  # gradient descent on ½‖Kα − y‖² in function space: f ← f − ηK(f − y)
        step = eta * (y - f)
        alpha, f = alpha + step, f + k @ step
    np.testing.assert_allclose(rd.coefficients(k, y, learning_rate=eta, t=25), alpha, rtol=1e-9)
    np.testing.assert_allclose(rd.coefficients(k, y, learning_rate=eta, t=1e6), np.linalg.solve(k, y), rtol=1e-6)


@pytest.mark.parametrize("kind", ["ntk", "nngp"])
@pytest.mark.parametrize("net", [NET, NET.replace(depth=1, b_std=None, W_std=2**0.5)])
def test_relu_input_gradient_matches_the_kernel_and_finite_differences(cancer, kind, net):
    x, xt = cancer.x_test[:4], cancer.x_pool[:30]
    alpha = np.random.default_rng(1).standard_normal(30)
    f, grad = rd.relu_input_gradient(net, x, xt, alpha, kind=kind)
    np.testing.assert_allclose(f, getattr(kernels.analytic(net, x, xt), kind) @ alpha, rtol=1e-12, atol=1e-12)
    h, fd = 1e-5, np.zeros_like(grad)
    for j in range(x.shape[1]):
        e = np.zeros(x.shape[1])
        e[j] = h
        fd[:, j] = (getattr(kernels.analytic(net, x + e, xt), kind) - getattr(kernels.analytic(net, x - e, xt), kind)) @ alpha / (2 * h)
    assert np.linalg.norm(grad - fd) < 1e-6 * np.linalg.norm(fd)


def test_fgsm_moves_every_feature_by_eps():
    x = np.zeros((2, 3))
    np.testing.assert_array_equal(rd.fgsm(x, [[1, -2, 0], [3, 3, -1]], 0.1), [[0.1, -0.1, 0], [0.1, 0.1, -0.1]])
    with pytest.raises(ValueError, match="eps"):
        rd.fgsm(x, x, -1.0)


def test_sketch_is_unbiased_and_nystrom_exact_on_landmarks():
    rng = np.random.default_rng(2)
    jac = rng.standard_normal((5, 300))
    k = jac @ jac.T
    mean = np.mean([(lambda f: f @ f.T)(rd.sketch(jac, 4, seed=s, block=64)) for s in range(3000)], axis=0)
    # each entry of the mean has standard deviation √((K_aa K_bb + K_ab²)/(4·3000))
    sd = np.sqrt((np.outer(np.diag(k), np.diag(k)) + k**2) / (4 * 3000))
    assert np.all(np.abs(mean - k) < 5 * sd)
    x = rng.standard_normal((40, 3))
    full = kernels.analytic(NET, x).ntk
    land = np.arange(0, 40, 4)
    feats = rd.nystrom(full[:, land], full[np.ix_(land, land)])
    np.testing.assert_allclose((feats @ feats.T)[np.ix_(land, land)], full[np.ix_(land, land)], rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(rd.nystrom(full, full) @ rd.nystrom(full, full).T, full, rtol=1e-6, atol=1e-8)


def test_select_ridge_scores_like_grid_search_cv(cancer):
    from sklearn.kernel_ridge import KernelRidge
    from sklearn.model_selection import GridSearchCV, StratifiedKFold

    idx = rd.subsample(cancer, 90, 1)
    gram, y = kernels.analytic(NET, cancer.x_pool[idx]).ntk, cancer.y_pool[idx]
    ridges = [1e-4, 1e-2, 0.3, 3.0, 30.0]
    search = GridSearchCV(KernelRidge(kernel="precomputed"), {"alpha": ridges}, cv=StratifiedKFold(3, shuffle=True, random_state=4),
                          scoring=lambda est, x, t: rd.accuracy(est.predict(x), t)).fit(gram, y)
    scores = [rd.select_ridge(gram, y, [r], seed=4)[1] for r in ridges]
    np.testing.assert_allclose(scores, search.cv_results_["mean_test_score"], atol=1e-12)
    ridge, score = rd.select_ridge(gram, y, ridges, seed=4)
    assert ridge == search.best_params_["alpha"] and score == pytest.approx(search.best_score_, abs=1e-12)
    assert len(set(np.round(scores, 9))) > 1  # the ridges are told apart
    with pytest.raises(ValueError, match="ridges"):
        rd.select_ridge(gram, y, [0.0, 1.0])


def test_network_curve_tracks_the_kernel(cancer):
    net, ker = rd.network_curve(cancer, NET.replace(depth=1), [(20, 0), (40, 1)], width=256, steps=100)
    assert net.shape == ker.shape == (2,) and np.all(np.abs(net - ker) < 0.05)
    with pytest.raises(ValueError, match="divide"):
        rd.network_curve(cancer, NET, [(20, 0), (30, 0)])


def test_model_selection_uses_scikit_learn(cancer):
    idx = rd.subsample(cancer, 60)
    x, y = cancer.x_pool[idx], cancer.y_pool[idx]
    gram = kernels.analytic(NET, x).ntk
    ridge, score = rd.select_ridge(gram, y, [1e-3, 1e-1, 10.0])
    assert ridge in (1e-3, 1e-1, 10.0) and 0.5 < score <= 1.0
    svc = rd.rbf_svc(x, y)
    assert rd.accuracy(np.where(svc.predict(cancer.x_test) > 0, 1.0, -1.0), cancer.y_test) > 0.85
    curves = rd.kernel_curves(cancer, NET.replace(depth=1), (20,), (0,), depths=(1, 2), ridges=(1e-2, 1.0))
    assert set(curves) == {"NTK", "NNGP", "RBF SVM", "depth NTK", "depth NNGP"}
    assert all(0.5 < curves[k][0, 0] <= 1 for k in ("NTK", "NNGP", "RBF SVM")) and curves["depth NTK"][0, 0] in (1, 2)
