"""Fuzzing the public API: every call returns finite values of the documented shape and dtype, or
raises a ValueError / TypeError / DivergenceError (or a BudgetError) whose message names the
offending argument; never another exception, never NaN or infinity, never more than a few seconds.

Each generated call changes at most one argument to a bad value (wrong shape, dtype, NaN/inf,
empty, a bad configuration value), on top of valid values drawn over wide ranges of scale and
size, so that "names the offending argument" has a definite meaning: an error raised for a bad
argument must name it; an error raised for valid-looking arguments must name one of the
function's arguments (or η, for a divergence). Outcomes are counted per class and printed when
the module finishes. With CI=true the examples are derandomized (tests/conftest.py).

Knobs for a local search (not used in CI): NTK_FUZZ_SCALE=10 runs ten times more examples;
NTK_FUZZ_COLLECT=path appends every violation with its arguments to that file instead of
failing; NTK_FUZZ_VERBOSE=1 prints every call's outcome.
"""

from __future__ import annotations

import contextlib
import inspect
import math
import os
import re
import signal
import time
import warnings
from collections import Counter, defaultdict

import jax
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ntk_helpers import data, dynamics, empirical, kernels, models, spectral
from ntk_helpers.errors import DivergenceError

LIMIT_S = 10.0  # per call, first compilation included, on a loaded 2-core machine
OUTCOMES: Counter = Counter()
PER_FUNCTION: defaultdict = defaultdict(Counter)
SCALE = int(os.environ.get("NTK_FUZZ_SCALE", "1"))  # more examples for a thorough local search
FEW = settings(max_examples=100 * SCALE, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
FEWER = settings(max_examples=60 * SCALE, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
SOME = settings(max_examples=200 * SCALE, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@pytest.fixture(scope="module", autouse=True)
def outcome_summary(request):
    """Print the number of generated calls per outcome class when the module is done."""
    yield
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    lines = [f"fuzz: {sum(OUTCOMES.values())} calls: " + ", ".join(f"{k} {v}" for k, v in sorted(OUTCOMES.items()))]
    lines += [f"  {name}: " + ", ".join(f"{k} {v}" for k, v in sorted(c.items())) for name, c in sorted(PER_FUNCTION.items())]
    if reporter is not None and capture is not None:
        with capture.global_and_fixture_disabled():
            reporter.write_line("")
            for line in lines:
                reporter.write_line(line)


def _names_of(fn, extra=()):
    try:
        names = list(inspect.signature(fn).parameters)
    except (TypeError, ValueError):
        names = []
    return [n for n in names if n not in ("kwargs", "settings")] + list(extra)


def _leaves(value):
    """The numeric leaves of a result (arrays and numbers; functions and descriptions are skipped)."""
    return [leaf for leaf in jax.tree_util.tree_leaves(value)
            if isinstance(leaf, np.ndarray | np.generic | jax.Array | float | int)]


def _short(v):
    """A one-line description of an argument, for a reproducer."""
    if isinstance(v, np.ndarray | jax.Array):
        flat = np.ravel(v)[:4]
        return f"array{v.shape} {v.dtype} [{', '.join(str(e) for e in flat)}{', …' if v.size > 4 else ''}]"
    if isinstance(v, list | tuple | dict) and len(repr(v)) > 60 or callable(v):
        leaves = jax.tree_util.tree_leaves(v)
        return f"{type(v).__name__} of {len(leaves)} arrays, shapes {[np.shape(a) for a in leaves][:4]}"
    return repr(v).replace("\n", " ")


class _TooSlow(BaseException):
    """Raised by the alarm inside a call that runs past the limit (not an Exception: nothing catches it)."""


@contextlib.contextmanager
def _time_limit(seconds):
    """Interrupt the call after ``seconds`` (at its next Python bytecode), so that one slow case cannot hang CI."""
    def alarm(signum, frame):
        raise _TooSlow

    old = signal.signal(signal.SIGALRM, alarm)
    pending, _ = signal.setitimer(signal.ITIMER_REAL, seconds)  # pytest-timeout's alarm, if any
    start = time.monotonic()
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
        if pending:  # give the outer alarm back what is left of it
            signal.setitimer(signal.ITIMER_REAL, max(pending - (time.monotonic() - start), 1e-3))


def _violation(label, text, bad, show):
    """Fail, or (with NTK_FUZZ_COLLECT=path) append the reproducer to that file and carry on."""
    path = os.environ.get("NTK_FUZZ_COLLECT")
    if not path:
        raise AssertionError(f"{label}: {text} (bad argument: {bad})")
    args = ", ".join(f"{k}={_short(v)}" for k, v in (show or {}).items())
    with open(path, "a", encoding="utf-8") as out:
        out.write(f"{label}\t{bad}\t{text}\t{args}\n")


def run(label, call, *, bad=None, also=(), names=(), check=None, show=None):
    """Call ``call()`` and assert the contract.

    ``bad`` is the argument made invalid (or None), ``also`` arguments given extreme but valid
    values (an error may name those instead), ``names`` the arguments an error raised for valid
    input may name; ``check(out)`` asserts the documented shape and dtype of a valid call;
    ``show`` (the arguments) is written with a violation when NTK_FUZZ_COLLECT is set.
    """
    start = time.perf_counter()
    try:
        with warnings.catch_warnings(), _time_limit(LIMIT_S):
            warnings.simplefilter("ignore")  # singular-kernel notes etc.: results are checked below
            out = call()
    except _TooSlow:
        kind, msg = "other", f"still running after {LIMIT_S:g} s (interrupted)"
    except DivergenceError as exc:
        kind, msg = "DivergenceError", str(exc)
    except (ValueError, TypeError) as exc:
        kind, msg = ("BudgetError" if type(exc).__name__ == "BudgetError" else type(exc).__name__), str(exc)
    except Exception as exc:  # noqa: BLE001 - the contract forbids any other exception
        kind, msg = "other", f"{type(exc).__name__}: {exc}"
    else:
        kind, msg = "returned", ""
    elapsed = time.perf_counter() - start
    OUTCOMES[kind] += 1
    PER_FUNCTION[label][kind] += 1
    if os.environ.get("NTK_FUZZ_VERBOSE"):
        print(f"{label} [{bad}] {elapsed:.2f} s: {kind}: {msg[:150]}", flush=True)
    problems = []
    if elapsed > LIMIT_S:
        problems.append(f"took {elapsed:.1f} s")
    if kind == "other":
        problems.append(f"raised {msg[:300]}")
    elif kind == "returned":
        leaves = [np.asarray(leaf) for leaf in _leaves(out)]
        if any(a.dtype.kind not in "fiub" for a in leaves):
            problems.append(f"returned dtype {[str(a.dtype) for a in leaves]}")
        elif not all(np.all(np.isfinite(a)) for a in leaves):
            problems.append("returned NaN or infinite values")
        elif check is not None and bad is None:  # a "bad" argument may be valid after all (M = 0 test points)
            try:
                assert check(out) is not False, "unexpected shape or dtype"
            except AssertionError as exc:
                problems.append(str(exc))
    elif kind != "BudgetError":
        wanted = [w for w in (bad, *also) if w is not None] or list(names)
        if bad == "learning_rate" or kind == "DivergenceError":  # (a "bad" value may be valid: ridge = 0)
            wanted += ["η", "learning_rate"]
        if not any(re.search(rf"(?<!\w){re.escape(w)}(?!\w)", msg) for w in wanted):  # the name as a word
            problems.append(f"{kind} {msg[:300]!r} names none of {wanted}")
    if problems:
        _violation(label, "; ".join(problems), bad, show)
        return None
    return out if kind == "returned" else None


def shape_is(*shape, dtype=None):
    def check(out):
        a = np.asarray(out)
        assert a.shape == tuple(shape), f"shape {a.shape}, documented {shape}"
        if dtype is not None:
            assert a.dtype == dtype, f"dtype {a.dtype}, documented {dtype}"
    return check


# ----------------------------------------------------------------------------- value generators

SCALES = [1e-300, 1e-150, 1e-20, 1e-3, 1.0, 1e3, 1e20, 1e150, 1e300]
BAD_SCALARS = [0.0, -1.0, math.nan, math.inf, -math.inf, "a", None, True, [1.0], 1 + 1j, 1e308]
BAD_INTS = [0, -1, 1.5, "3", None, True, 2**63]


def bad_arrays(shape):
    """Invalid stand-ins for an array of ``shape``: NaN, -inf, strings, ragged, complex, objects, empty,
    wrong rank, wrong size, None (an empty one may turn out valid: callers allow that)."""
    nan = np.ones(shape)
    nan.flat[0] = np.nan
    inf = np.ones(shape)
    inf.flat[-1] = -np.inf
    return [nan, inf, np.full(shape, "a"), [[1.0, 2.0], [3.0]], np.ones(shape) * (1 + 1j),
            np.array([None, 1.0], dtype=object), np.zeros((0,) + tuple(shape[1:])), np.ones(tuple(shape) + (2,)),
            np.ones(tuple(s + 1 for s in shape)), None]


def psd(rng, n, rank, scale):
    a = rng.standard_normal((n, rank)) * math.sqrt(scale)
    return a @ a.T / max(rank, 1)


@st.composite
def kernel_case(draw, extra_rows=0):
    """(n, K, rng): a PSD kernel K over n + extra_rows points (float64 at any scale, float32 or int;
    any rank, zero included) and a generator for the other arrays."""
    n = draw(st.integers(1, 6))
    rank = draw(st.integers(0, n + extra_rows + 2))
    dtype = draw(st.sampled_from(["float64", "float64", "float32", "int"]))
    scale = draw(st.sampled_from(SCALES if dtype == "float64" else [1e-3, 1.0, 1e3]))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    if dtype == "int":
        a = rng.integers(-3, 4, size=(n + extra_rows, max(rank, 1))) * (rank > 0)
        k = a @ a.T
    else:
        k = psd(rng, n + extra_rows, rank, scale).astype(dtype)
    return n, k, rng


def pick(draw, valid: dict, bads: dict, *, fault: bool | None = None):
    """Replace at most one argument of ``valid`` by one of its bad values; return (kwargs, name).

    By default half the calls stay valid; ``fault=True`` always replaces one, ``False`` never.
    """
    choices = list(bads) if fault else [None] if fault is False else [None] * len(bads) + list(bads)
    name = draw(st.sampled_from(choices))
    kwargs = dict(valid)
    if name is not None:
        kwargs[name] = draw(st.sampled_from(range(len(bads[name]))).map(lambda i: bads[name][i]))
    return kwargs, name


# ----------------------------------------------------------------------------- dynamics (closed forms)


@SOME
@given(st.data())
def test_fuzz_gradient_descent_mse(d):
    n, k, rng = d.draw(kernel_case(extra_rows=3))
    m = 3
    kt, k = k[n:, :n], k[:n, :n]
    y_dtype = d.draw(st.sampled_from(["float64", "float32", "int64", "bool"]))
    y = rng.standard_normal(n) * d.draw(st.sampled_from([1e-200, 1.0, 1e200] if y_dtype == "float64" else [1.0, 3.0]))
    y = y.astype(y_dtype)
    try:
        bound = dynamics.max_learning_rate(k)
    except ValueError:
        bound = 1.0
    discrete = d.draw(st.booleans())
    ext = []
    eta = bound * vary(d.draw, ext, "learning_rate", [1e-6, 0.1, 0.5, 0.99], [1.0, 1.01, 3.0])  # at or past 2/λ_max
    t = d.draw(st.sampled_from([0, 1, 7, 1e6, np.inf, [0, 2, np.inf], np.arange(5)]))
    valid = dict(k_train_train=k, y_train=y, learning_rate=eta, ridge=d.draw(st.sampled_from([0.0, 1e-3, 10.0])),
                 discrete=discrete)
    bads = dict(k_train_train=bad_arrays((n, n)) + [np.array([[1.0, 0.9], [-0.9, 1.0]]), -np.eye(n)],
                y_train=bad_arrays((n,)), learning_rate=BAD_SCALARS, ridge=BAD_SCALARS, discrete=["no", 1, None])
    kwargs, bad = pick(d.draw, valid, bads)
    names = _names_of(dynamics.gradient_descent_mse)
    predict = run("gradient_descent_mse", lambda: dynamics.gradient_descent_mse(**kwargs), bad=bad, also=ext, names=names,
                  show=kwargs)
    if predict is None:
        return
    f0, ft0 = rng.standard_normal(n), rng.standard_normal(m)
    args = dict(t=t, fx_train_0=f0, fx_test_0=ft0, k_test_train=kt)
    targs, tbad = pick(d.draw, args, dict(t=[-1.0, np.nan, "a", [[1.0]], 2.5, [1.5]], fx_train_0=bad_arrays((n,)),
                                          fx_test_0=bad_arrays((m,)), k_test_train=bad_arrays((m, n))))
    times = np.asarray(t, dtype=float)
    shape = (n,) if times.ndim == 0 else (times.size, n)

    def check(out):
        assert np.asarray(out.train).shape == shape and out.train.dtype == np.float64
        assert np.asarray(out.test).shape == shape[:-1] + (m,)
    run("gradient_descent_mse.predict", lambda: predict(**targs), bad=tbad or ("t" if bad else None),
        names=list(args) + names, check=check, show={**kwargs, **targs})


@SOME
@given(st.data())
def test_fuzz_regression_posterior_and_ensemble(d):
    n, k, rng = d.draw(kernel_case(extra_rows=2))
    _, k2, _ = d.draw(kernel_case(extra_rows=2).filter(lambda c: c[0] == n))
    y = rng.standard_normal(n)
    ridge = d.draw(st.sampled_from([0.0, 1e-8, 1.0]))
    tr, te = slice(0, n), slice(n, n + 2)
    valid = dict(k_test_train=k[te, tr], k_train_train=k[tr, tr], y_train=y, ridge=ridge)
    bads = dict(k_test_train=bad_arrays((2, n)), k_train_train=bad_arrays((n, n)) + [np.triu(np.ones((n, n)))],
                y_train=bad_arrays((n,)), ridge=BAD_SCALARS)
    kwargs, bad = pick(d.draw, valid, bads)
    run("kernel_regression", lambda: dynamics.kernel_regression(**kwargs), bad=bad, show=kwargs,
        names=_names_of(dynamics.kernel_regression), check=shape_is(2, dtype=np.float64))
    valid["k_test_test"] = k[te, te]
    bads["k_test_test"] = bad_arrays((2, 2))
    kwargs, bad = pick(d.draw, valid, bads)

    def gaussian(out):
        assert out.mean.shape == (2,) and out.covariance.shape == (2, 2)
        assert np.all(np.diag(out.covariance) >= 0)
    run("gp_posterior", lambda: dynamics.gp_posterior(**kwargs), bad=bad, names=_names_of(dynamics.gp_posterior),
        show=kwargs,
        check=gaussian)
    valid = dict(ntk_test_train=k[te, tr], ntk_train_train=k[tr, tr], nngp_test_train=k2[te, tr],
                 nngp_train_train=k2[tr, tr], nngp_test_test=k2[te, te], y_train=y)
    bads = {name: bad_arrays(np.shape(v)) for name, v in valid.items()}
    kwargs, bad = pick(d.draw, valid, bads)
    run("trained_ensemble", lambda: dynamics.trained_ensemble(**kwargs), bad=bad, show=kwargs,
        names=_names_of(dynamics.trained_ensemble), check=gaussian)


@SOME
@given(st.data())
def test_fuzz_modes_filters_and_bounds(d):
    n, k, _ = d.draw(kernel_case())
    run("max_learning_rate", lambda: dynamics.max_learning_rate(k), names=["k_train_train"], show=dict(k=k))
    bad_k = d.draw(st.sampled_from(range(10)))
    run("max_learning_rate", lambda: dynamics.max_learning_rate(bad_arrays((n, n))[bad_k]), bad="k_train_train")
    lam = np.clip(np.linalg.eigvalsh(np.asarray(k, dtype=float)), 0, None)
    t = d.draw(st.sampled_from([0, 3, 1e9, np.inf, [0, 1, 2], np.arange(4.0)]))
    T = np.asarray(t, dtype=float)
    ext = []
    valid = dict(eigenvalues=lam, t=t, learning_rate=vary(d.draw, ext, "learning_rate", [1e-3, 1.0], [1e-300, 1e300]),
                 discrete=d.draw(st.booleans()))
    bads = dict(eigenvalues=bad_arrays((n,)) + [-np.ones(n)], t=[-1, np.nan, "x", 0.5, [[1]]],
                learning_rate=BAD_SCALARS, discrete=["no", 0, None])
    kwargs, bad = pick(d.draw, valid, bads)
    shape = (n,) if T.ndim == 0 else (T.size, n)
    run("spectral_filter", lambda: dynamics.spectral_filter(**kwargs), bad=bad, also=ext,
        names=_names_of(dynamics.spectral_filter), check=shape_is(*shape, dtype=np.float64), show=kwargs)
    run("mode_decay", lambda: dynamics.mode_decay(**kwargs), bad=bad, also=ext, names=_names_of(dynamics.mode_decay),
        show=kwargs,
        check=shape_is(*((1, n) if T.ndim == 0 else shape), dtype=np.float64))


# ----------------------------------------------------------------------------- spectral and data


@SOME
@given(st.data())
def test_fuzz_spectral(d):
    n, k, rng = d.draw(kernel_case())
    bad = d.draw(st.sampled_from([None, None, "k"]))
    arg = k if bad is None else d.draw(st.sampled_from(bad_arrays((n, n)) + [np.array([[1.0, 0.9], [-0.9, 1.0]])]))
    spec = run("spectrum", lambda: spectral.spectrum(arg), bad=bad, names=["k"], show=dict(k=arg),
               check=lambda s: s.eigenvalues.shape == (n,) and s.eigenvectors.shape == (n, n))
    if spec is not None and bad is None:
        v = d.draw(st.sampled_from([rng.standard_normal(n), rng.standard_normal((3, n))] + bad_arrays((n,))))
        run("project", lambda: spectral.project(spec, v), bad=None, names=["v"], show=dict(v=v))
    row = d.draw(st.sampled_from([rng.standard_normal(n) * s for s in (1e-300, 1.0, 1e300)] + bad_arrays((n,))))
    run("circulant_eigenvalues", lambda: spectral.circulant_eigenvalues(row), names=["row"], show=dict(row=row))
    phi = 2 * np.pi * np.arange(16) / 16
    signal = d.draw(st.sampled_from([np.cos(3 * phi), np.stack([np.sin(phi)] * 2)] + bad_arrays((16,))))
    freqs = d.draw(st.sampled_from([[1, 3], [0, 8], [9], [-1], [1.5], "a", [[1]], []]))
    run("fourier_amplitudes", lambda: spectral.fourier_amplitudes(signal, freqs), names=["signal", "freqs"],
        show=dict(signal=signal, freqs=freqs))


@SOME
@given(st.data())
def test_fuzz_data(d):
    n = d.draw(st.sampled_from([1, 2, 17, 1000, *BAD_INTS, 10**13]))
    seed = d.draw(st.sampled_from([0, 7, 2**40, None, -1, 1.5, "0", True]))
    run("seed_regression", lambda: data.seed_regression(n, 3, seed=seed), names=["n_train", "seed"],
        check=lambda ds: ds.x_train.shape == (n, 2) and ds.y_train.shape == (n,))
    run("regression_1d", lambda: data.regression_1d(4, seed=seed, n_grid=n), names=["n_grid", "seed"],
        check=lambda ds: ds.x_test.shape == (n, 2))
    run("circle", lambda: data.circle(n), names=["n"])
    dim = d.draw(st.sampled_from([1, 3, 0, -2, 2.0, 10**9]))
    run("sphere", lambda: data.sphere(n, dim, seed=seed), names=["n", "d", "seed"], check=shape_is(n, dim))
    phi = d.draw(st.sampled_from([np.linspace(0, 6, 5), np.zeros(1)] + bad_arrays((5,))))
    freqs = d.draw(st.sampled_from([[1, 4], [0], [2.5], [1e300]] + bad_arrays((2,))))
    amps = d.draw(st.sampled_from([None, [1.0, 0.5], [1.0], [-1.0, 2.0]] + bad_arrays((2,))))
    run("fourier_target", lambda: data.fourier_target(phi, freqs, amps), names=["angles", "freqs", "amplitudes"])
    run("fourier_features", lambda: data.fourier_features(phi, freqs, amps),
        names=["angles", "freqs", "weights"])


# ----------------------------------------------------------------------------- training

NET = models.mlp(8, 1, b_std=0.1)
P0 = NET.init(0, 2)


@FEW
@given(st.data())
def test_fuzz_train(d):
    rng = np.random.default_rng(d.draw(st.integers(0, 1000)))
    x_dtype, ext = d.draw(st.sampled_from(["float32", "float64", "int64", "bool"])), []
    x = rng.standard_normal((4, 2)) * (vary(d.draw, ext, "x_train", [1e-30, 1.0, 1e3], [1e30]) if x_dtype[0] == "f" else 3)
    x = x.astype(x_dtype)
    y = rng.standard_normal(4) * vary(d.draw, ext, "y_train", [1e-30, 1.0], [1e30])
    eta = d.draw(st.sampled_from([1e-6, 0.1, 1.0, 10.0, 1e4]))
    every = d.draw(st.sampled_from([1, 4, 12]))
    params = jax.tree_util.tree_map(lambda a: a * 1.0, P0)
    valid = dict(apply_fn=NET.apply, params=params, x_train=x, y_train=y, learning_rate=eta, steps=12,
                 record_every=every, chunk_steps=d.draw(st.sampled_from([None, 12])))
    nan_params = jax.tree_util.tree_map(lambda a: a * np.nan, P0)
    bads = dict(apply_fn=[3, None], params=[nan_params, [np.ones(3, dtype=np.int32)]],
                x_train=bad_arrays((4, 2)), y_train=bad_arrays((4,)), learning_rate=BAD_SCALARS,
                steps=BAD_INTS[:-1] + [13], record_every=BAD_INTS[:-1] + [5], chunk_steps=[5, 0, "a"])
    kwargs, bad = pick(d.draw, valid, bads)
    trainer = d.draw(st.sampled_from([dynamics.train, dynamics.train_linearized]))

    def check(traj):
        assert traj.loss.shape == (12 // every + 1,) and traj.f_train.shape == (12 // every + 1, 4)
        assert traj.f_train.dtype == np.float32
    run(trainer.__name__, lambda: trainer(**kwargs), bad=bad, also=ext, names=_names_of(dynamics.train), show=kwargs,
        check=check if bad is None else None)


# ----------------------------------------------------------------------------- analytic kernels

ACTIVATIONS = ["relu", "erf", "tanh", "gelu", "softplus", "sin", "identity"]


def vary(draw, extremes, name, normal, extreme):
    """A valid value of argument ``name``: usually ordinary, sometimes extreme (then noted in ``extremes``)."""
    value = draw(st.sampled_from(list(normal) + list(extreme)))
    if any(value is e or value == e for e in extreme) and not any(value is v or value == v for v in normal):
        extremes.append(name)
    return value


@st.composite
def kernel_config(draw, kind):
    """Settings of an analytic kernel (one possibly bad), the bad name, and the names given extreme values."""
    ext = []
    valid = dict(depth=vary(draw, ext, "depth", [1, 2, 3], [30, 900]),
                 activation=draw(st.sampled_from(ACTIVATIONS)),
                 W_std=vary(draw, ext, "W_std", [0.5, 1.0, 1.5], [1e-170, 1e-100, 1e100, 1e160]),
                 b_std=vary(draw, ext, "b_std", [None, 0.0, 0.1], [1e-160, 1e160]),
                 parameterization=draw(st.sampled_from(["ntk", "standard"])))
    width_name = "channels" if kind == "cnn1d" else "width"
    widths = [512] if valid["parameterization"] == "standard" else [None, 512]  # standard needs the width
    valid[width_name] = vary(draw, ext, width_name, widths, [1, 2**40])
    bads = dict(depth=BAD_INTS, activation=["swish", 3, None, ["relu"]], W_std=BAD_SCALARS, b_std=BAD_SCALARS[:-4],
                parameterization=["mup", None, 1], **{width_name: BAD_INTS})
    settings_, bad = pick(draw, valid, bads)
    return settings_, bad, ext


@SOME
@given(st.data(), st.sampled_from(["fc", "resnet"]))
def test_fuzz_dense_kernels(d, kind):
    fn = kernels.fc_kernels if kind == "fc" else kernels.resnet_kernels
    n1, n2, dim = d.draw(st.integers(1, 4)), d.draw(st.integers(1, 3)), d.draw(st.integers(1, 3))
    rng = np.random.default_rng(d.draw(st.integers(0, 1000)))
    settings_, bad, ext = d.draw(kernel_config(kind))
    scale = vary(d.draw, ext, "x1", [1e-3, 1.0, 1e3], [0.0, 1e-160, 1e160])
    x1, x2 = rng.standard_normal((n1, dim)) * scale, rng.standard_normal((n2, dim))
    args = dict(x1=x1, x2=x2)
    if bad is None:
        args, bad = pick(d.draw, args, dict(x1=bad_arrays((n1, dim)), x2=bad_arrays((n2, dim))))

    def check(out):
        assert out.nngp.shape == out.ntk.shape == (n1, n2) and out.ntk.dtype == np.float64
    run(f"{kind}_kernels", lambda: fn(**args, **settings_), bad=bad, also=ext, names=_names_of(fn), check=check,
        show={**args, **settings_})


@FEW
@given(st.data())
def test_fuzz_cnn1d_kernels(d):
    n, length, c = d.draw(st.integers(1, 3)), d.draw(st.integers(1, 6)), d.draw(st.integers(1, 2))
    rng = np.random.default_rng(d.draw(st.integers(0, 1000)))
    settings_, bad, ext = d.draw(kernel_config("cnn1d"))
    x = rng.standard_normal((n, length, c)) * vary(d.draw, ext, "x1", [1e-3, 1.0], [1e150])
    filter_size = 3
    if bad is None:
        choice, bad = pick(d.draw, dict(filter_size=3, x1=x), dict(filter_size=[0, -1, 2.5, None, 2 * length + 1],
                                                                  x1=bad_arrays((n, length, c))))
        filter_size, x = choice["filter_size"], choice["x1"]

    def check(out):
        assert out.ntk.shape == (n, n) and out.ntk.dtype == np.float64
    run("cnn1d_kernels", lambda: kernels.cnn1d_kernels(x, filter_size=filter_size, **settings_),
        bad=bad, also=ext, names=_names_of(kernels.cnn1d_kernels), check=check,
        show=dict(x1=x, filter_size=filter_size, **settings_))


# ----------------------------------------------------------------------------- models and empirical kernels

BUILDERS = {"mlp": models.mlp, "resnet": models.resnet, "cnn1d": models.cnn1d}


@FEWER  # each new shape compiles: the slowest test here
@given(st.data())
def test_fuzz_models_and_empirical_ntk(d):
    fault = d.draw(st.sampled_from(["none", "none", "model", "init", "call", "call"]))  # at most one stage
    kind = d.draw(st.sampled_from(list(BUILDERS)))
    width, depth = d.draw(st.sampled_from([1, 8])), d.draw(st.sampled_from([1, 2]))
    settings_ = dict(activation=d.draw(st.sampled_from(["relu", "erf", "tanh"])),
                     W_std=d.draw(st.sampled_from([0.5, 1.0, 2.0])), b_std=d.draw(st.sampled_from([None, 0.1])),
                     parameterization=d.draw(st.sampled_from(["ntk", "standard"])))
    cfg, bad = pick(d.draw, dict(width=width, depth=depth, **settings_),
                    dict(width=BAD_INTS + [2**31], depth=BAD_INTS, activation=["swish", None],
                         W_std=BAD_SCALARS, b_std=BAD_SCALARS[:-4], parameterization=["mup"]),
                    fault=fault == "model")
    show = dict(cfg)
    bad = "channels" if bad == "width" and kind == "cnn1d" else bad
    model = run(f"models.{kind}", lambda: BUILDERS[kind](cfg.pop("width"), cfg.pop("depth"), **cfg), bad=bad, show=show,
                names=["width", "channels", "depth", *settings_])
    if model is None:
        return
    d_in = 2
    init_args, ibad = pick(d.draw, dict(seed=d.draw(st.sampled_from([0, 3, 2**40])), d_in=d_in),
                           dict(seed=[None, -1, 1.5, "0"], d_in=[0, -1, "2", 2.0]), fault=fault == "init")
    params = run(f"{kind}.init", lambda: model.init(*init_args.values()), bad=ibad, names=["seed", "d_in"],
                 show=dict(model=model.network, **init_args))
    if params is None:
        return
    shape = (3, 4, d_in) if kind == "cnn1d" else (3, d_in)
    rng = np.random.default_rng(d.draw(st.integers(0, 100)))
    x_dtype, ext = d.draw(st.sampled_from(["float32", "float64", "int64"])), []
    x = rng.standard_normal(shape) * (vary(d.draw, ext, "x", [1e-30, 1.0], [1e30, 1e39]) if x_dtype != "int64" else 3)
    with np.errstate(over="ignore"):
        x = x.astype(x_dtype)  # 1e39 overflows float32: ±inf inputs on purpose
    other = BUILDERS[kind](width + 1, depth).init(0, d_in)
    args, abad = pick(d.draw, dict(x=x, params=params), dict(x=bad_arrays(shape), params=[other, None]),
                      fault=fault == "call")
    show = dict(model=model.network, **args)
    run(f"{kind}.apply", lambda: model.apply(args["params"], args["x"]), bad=abad, also=ext, names=["x", "params"],
        show=show,
        check=shape_is(3, dtype=np.float32) if abad is None else None)
    strategy = d.draw(st.sampled_from(["auto", "jacobian", "ntvp", "structured"] + ([] if abad else ["fast"])))
    run("empirical_ntk", lambda: empirical.empirical_ntk(model, args["params"], args["x"], strategy=strategy),
        bad={"x": "x1"}.get(abad, abad) or (None if strategy != "fast" else "strategy"), also=[e + "1" for e in ext],
        names=["x1", "params", "strategy"],
        show={**show, "strategy": strategy},
        check=shape_is(3, 3) if abad is None else None)
    run("jacobian", lambda: empirical.jacobian(model, args["params"], args["x"]), bad=abad, also=ext,
        names=["x", "params"],
        show=show,
        check=(lambda j: np.shape(j)[0] == 3) if abad is None else None)
    x0s = [np.ones(shape[1:]), np.ones((1, *shape[1:])), np.full(shape[1:], np.nan), np.ones(shape[1:], complex)]
    i = d.draw(st.sampled_from(range(len(x0s)))) if abad is None else 0
    x0_bad = abad or (None if i == 0 else "x0")
    run("ntk_row", lambda: empirical.ntk_row(model, args["params"], x0s[i], args["x"]), bad=x0_bad, also=ext,
        names=["x0", "x", "params"], check=shape_is(3), show={**show, "x0": x0s[i]})
