"""Notebook 01's runs: every training run its explorer shows, computed on demand and cached.

:class:`PayoffRuns` trains the network of every (width n, depth L, η/η_max) setting, solves the
closed forms of its linearisation, of the gradient flow of its kernel K and of the analytic Θ,
and keeps what each trained network did (:class:`Outcome`: converged, catapulted or diverged,
with λ_max(K) before and after), also above the bounds of the linear models. Its warm-up makes
every slider move free of compilation, and it measures what a training run costs for the Train
button's estimate. The explorer itself is :mod:`ntk_helpers.explorers.function_space`; the maths
is derived in ``notebooks/01_function_space.ipynb``; how it stays fast: ``docs/developers.md``,
"Notebook 01".
"""

from __future__ import annotations

import time
from typing import NamedTuple

import numpy as np

from .. import dynamics, empirical, kernels, models
from ..errors import DivergenceError, check_array, check_positive, check_positive_int
from ..network import Network

__all__ = ["COLD_COMPILE_S", "LIVE_UNITS", "Outcome", "PayoffRuns", "ROLES", "TRAIN_UNITS", "hidden_units"]

#: The four predictions, in drawing order.
ROLES = ("network", "linearized", "empirical", "analytic")
#: n²(L − 1) up to which a network is retrained on a slider move (about 0.1 s here).
LIVE_UNITS = 2**17
#: n²(L − 1) above which training needs more than 1 GB (more than Binder guarantees): not offered.
TRAIN_UNITS = 2**24
#: Seconds of a cold compilation (measured on the 2-core CI machine: 0.6–1.3 s), for sessions whose
#: warm-up found every compilation in JAX's persistent cache.
COLD_COMPILE_S = 1.0

_COMPILE_EVENTS = ("/jax/core/compile/jaxpr_trace_duration", "/jax/core/compile/jaxpr_to_mlir_module_duration",
                   "/jax/core/compile/backend_compile_duration")
_CACHE_HIT_EVENT = "/jax/compilation_cache/cache_retrieval_time_sec"
_compile_log = {"seconds": 0.0, "hits": 0, "listening": False}


def _log_compile(event, duration, **kwargs):
    if event in _COMPILE_EVENTS:
        _compile_log["seconds"] += duration
    elif event == _CACHE_HIT_EVENT:
        _compile_log["hits"] += 1


def _compile_log_now() -> tuple[float, int]:
    """(seconds tracing and compiling, persistent-cache hits) since the first call (XLA reports a
    cache hit as a short "compile" too: work with no hit compiled for real)."""
    if not _compile_log["listening"]:
        from jax import monitoring

        monitoring.register_event_duration_secs_listener(_log_compile)
        _compile_log["listening"] = True
    return _compile_log["seconds"], _compile_log["hits"]


def hidden_units(width: int, depth: int) -> int:
    """n²(L − 1), the number of hidden-to-hidden weights: the cost unit of training an MLP.

    Example:
      >>> hidden_units(1024, 2), hidden_units(4096, 1)
      (1048576, 0)
    """
    return check_positive_int("width", width) ** 2 * (check_positive_int("depth", depth) - 1)


def _short(rate: float) -> str:
    return f"{rate:.2f} η_max"


class Outcome(NamedTuple):
    """What one trained network did at η = ``eta``: λ_max(K(X, X)) at θ₀ and at the end (nan if it
    diverged), the recorded loss ½‖f − f₀ − y‖², (T,) (None if it diverged), the divergence step."""

    eta: float
    lam_start: float
    lam_end: float
    loss: np.ndarray | None
    diverged_at: int | None

    @property
    def above_bound(self) -> bool:
        """η ≥ 2/λ_max(K₀): the network's own linearisation diverges at this η."""
        return self.eta * self.lam_start >= 2.0

    @property
    def catapult(self) -> bool:
        """Above the bound, the loss rose above its start and then ended below it (Lewkowycz et al. 2020)."""
        return (self.above_bound and self.loss is not None and self.loss.max() > self.loss[0]
                and self.loss[-1] < self.loss[0])

    def describe(self) -> str:
        """"diverges (step t)", "catapults (ℒ start → peak → end) and converges" or "converges (…)"."""
        if self.loss is None:
            return f"diverges (step {self.diverged_at})"
        peak = f" → {self.loss.max():.3g}" if self.catapult else ""
        return (f"{'catapults' if peak else 'converges'} (ℒ {self.loss[0]:.3g}{peak} → {self.loss[-1]:.2g})"
                f"{' and converges' if peak else ''}")


def _lam_max(k) -> float:
    return float(np.linalg.eigvalsh(np.asarray(k, np.float64))[-1])


def _arrays(data):
    """x_train (N, d), y_train (N,), x_test (M, d) of a Dataset as float32, checked."""
    if not all(hasattr(data, a) for a in ("x_train", "y_train", "x_test", "y_test")):
        raise TypeError(f"data must be a Dataset (x_train, y_train, x_test, y_test), got {type(data).__name__}")
    x = np.asarray(check_array("data.x_train", data.x_train, ndim=2), np.float32)
    y = np.asarray(check_array("data.y_train", data.y_train, ndim=1), np.float32)
    return x, y, np.asarray(check_array("data.x_test", data.x_test, ndim=2, dim=x.shape[1]), np.float32)


def _train_shifted(model, params0, x, y, grid, eta, steps, record_every, chunk=None, progress=None):
    """Train f on y + f₀ (the centred network f − f₀ on y: the same gradients, and one compiled
    loop per ``model.apply`` and shape); returns the :class:`~ntk_helpers.dynamics.Trajectory`."""
    f0 = np.asarray(model.apply(params0, x))
    return dynamics.train(model.apply, params0, x, y + f0, learning_rate=eta, steps=steps,
                          record_every=record_every, x_eval=grid, chunk_steps=chunk, progress=progress)


class PayoffRuns:
    """Every run notebook 01's explorer shows, computed on demand and cached.

    On creation: the analytic Θ of every depth, and a warm-up of every *live* setting
    (n²(L − 1) ≤ ``live_units``) at η = ``warm_up_rate`` η_max (compiled, kernel computed, trained
    once, cost measured), so that a slider move never compiles and the Train button can estimate.
    The network is trained at every η, also above the bounds of the linear models (η_max of Θ,
    2/λ_max(K) of its own K), where it may converge, catapult or diverge (:meth:`outcome`).

    Args:
      data: a :class:`~ntk_helpers.data.Dataset`: x_train (N, d), y_train (N,), and the grid the
        curves are drawn on, x_test (M, d) (its first column is the plotted input u), y_test (M,).
      net: the :class:`~ntk_helpers.network.Network` (an ``mlp``, one output); width and depth vary.
      widths, depths: the settings offered (increasing). steps: steps per run. record_every:
        steps between records (odd, so that a mode with 1 − ηλ < 0 flips sign between records).
      chunk: steps per progress report when training on request. seed: of every initialisation.
      live_units, train_units: n²(L − 1) limits of live training and of training on request.
      warm_up_rate: η/η_max of the warm-up (the explorer's default).

    Attributes:
      theta, eta_max: depth → analytic Θ(X_all, X), (N + M, N), X_all = [x_train; x_test]; 2/λ_max.
      recorded: (T,) the recorded steps. seconds_per_unit, compile_seconds: the measured cost of a
        run per n²(L − 1) and of a new shape's compilation (warm-up; again after every press).
    """

    def __init__(self, data, net: Network, *, widths=(16, 64, 256, 1024, 4096), depths=(1, 2, 3, 4, 5),
                 steps: int = 400, record_every: int = 5, chunk: int = 40, seed: int = 0,
                 live_units: int = LIVE_UNITS, train_units: int = TRAIN_UNITS, warm_up_rate: float = 0.5):
        if not isinstance(net, Network):
            raise TypeError(f"net must be an ntk_helpers.Network, got {type(net).__name__}")
        if net.kind != "mlp" or net.out_dim != 1:
            raise ValueError(f"net must be an mlp with one output, got {net.name}")
        self.x, self.y, self.grid = _arrays(data)
        self.y_grid = np.asarray(check_array("data.y_test", data.y_test, ndim=1), np.float64)
        if self.y.shape[0] != self.x.shape[0] or self.y_grid.shape[0] != self.grid.shape[0]:
            raise ValueError("data.y_train and data.y_test must have one entry per row of x_train, x_test")
        self.widths, self.depths = _increasing("widths", widths), _increasing("depths", depths)
        self.steps, self.chunk, self.record_every = (check_positive_int(k, v) for k, v in
                                                     (("steps", steps), ("chunk", chunk), ("record_every", record_every)))
        if steps % chunk or chunk % record_every:
            raise ValueError(f"chunk ({chunk}) must divide steps ({steps}) and be a multiple of record_every")
        self.live_units, self.train_units = (check_positive_int("live_units", live_units),
                                             check_positive_int("train_units", train_units))
        self.net, self.seed = net, seed
        self.n_train, self.n_grid = self.x.shape[0], self.grid.shape[0]
        self.x_all = np.concatenate([self.x, self.grid]).astype(np.float64)
        self.theta = {L: kernels.analytic(net.replace(width=None, depth=L), self.x_all,
                                          self.x_all[: self.n_train]).ntk for L in self.depths}
        self.eta_max = {L: dynamics.max_learning_rate(self.theta[L][: self.n_train]) for L in self.depths}
        self.recorded = np.arange(0, steps + 1, record_every)
        self.compiled: set = set()  # (width, depth) whose training is compiled in this session
        self.failed: set = set()  # (width, depth, rate) whose training on request diverged
        self.trained_seconds: dict = {}  # (width, depth, rate) → seconds a training on request took
        self._networks, self._kernels, self._solved, self._outcomes = {}, {}, {}, {}
        self._warm_up(check_positive("warm_up_rate", warm_up_rate))

    def kind(self, width: int, depth: int) -> str:
        """``"live"`` (trained on a slider move), ``"costly"`` (on request) or ``"too large"``."""
        width, depth = self._check(width, depth)
        units = hidden_units(width, depth)
        return "live" if units <= self.live_units else "costly" if units <= self.train_units else "too large"

    def _check(self, width, depth):
        for name, value, allowed in (("width", width, self.widths), ("depth", depth, self.depths)):
            if value not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, got {value!r}")
        return int(width), int(depth)

    def _key(self, width, depth, rate):
        width, depth = self._check(width, depth)
        return width, depth, round(check_positive("rate", rate), 4)

    def network(self, width: int, depth: int):
        """(model, θ₀, f₀ on the training points, f₀ on the grid) of one setting, built once."""
        key = self._check(width, depth)
        if key not in self._networks:
            model = models.build(self.net.replace(width=key[0], depth=key[1]))
            params0 = model.init(self.seed, self.x.shape[1])
            self._networks[key] = (model, params0, np.asarray(model.apply(params0, self.x)),
                                   np.asarray(model.apply(params0, self.grid)))
        return self._networks[key]

    def kernel(self, width: int, depth: int) -> np.ndarray:
        """The empirical NTK K(X_all, X) at θ₀ in float64, (N + M, N); rows [:N] are K(X, X)."""
        key = self._check(width, depth)
        if key not in self._kernels:
            model, params0, _, _ = self.network(*key)
            self._kernels[key] = empirical.layer_ntk(model, models.astype(params0, np.float64), self.x_all,
                                                     self.x_all[: self.n_train]).total
        return self._kernels[key]

    def _closed_form(self, k, eta, discrete):
        n = self.n_train
        predict = dynamics.gradient_descent_mse(k[:n], self.y.astype(np.float64), eta, discrete=discrete)
        return predict(self.recorded, np.zeros(n), np.zeros(self.n_grid), k[n:]).test

    def _train(self, width, depth, rate, progress=None):
        """Train one setting; store its :class:`Outcome` (also when it diverges) and return its curve."""
        model, params0, _, f0_grid = self.network(width, depth)
        lam0, eta = _lam_max(self.kernel(width, depth)[: self.n_train]), rate * self.eta_max[depth]
        key = (width, depth, rate)
        try:  # with progress: the same compiled loop in chunks, reporting after each (identical numbers)
            run = _train_shifted(model, params0, self.x, self.y, self.grid, eta, self.steps, self.record_every,
                                 None if progress is None else self.chunk, progress)
        except DivergenceError as exc:
            self._outcomes[key] = Outcome(eta, lam0, float("nan"), None, exc.step)
            raise
        k_end = empirical.layer_ntk(model, models.astype(run.params, np.float64), self.x_all[: self.n_train]).total
        self._outcomes[key] = Outcome(eta, lam0, _lam_max(k_end), run.loss, None)
        return run.f_eval - f0_grid

    def _solve(self, width, depth, rate, progress=None):
        eta = rate * self.eta_max[depth]
        out, diverged = {}, []
        k = self.kernel(width, depth) if self.kind(width, depth) == "live" or progress is not None else None
        for role, compute in (("analytic", lambda: self._closed_form(self.theta[depth], eta, discrete=True)),
                              ("network", lambda: self._train(width, depth, rate, progress)),
                              ("linearized", lambda: self._closed_form(k, eta, discrete=True)),
                              ("empirical", lambda: self._closed_form(k, eta, discrete=False))):
            if role != "analytic" and k is None:
                continue
            try:
                out[role] = compute()
            except DivergenceError:  # η above that model's bound (the network: it blew up)
                diverged.append(role)
        return out, tuple(diverged)

    def _solved_for(self, width, depth, rate):
        key = self._key(width, depth, rate)
        if key not in self._solved:
            self._solved[key] = self._solve(*key)
        return self._solved[key]

    def curves(self, width: int, depth: int, rate: float) -> dict:
        """role → (T, M) centred grid outputs at the recorded steps for η = rate · η_max (cached).

        Live settings have the four :data:`ROLES` less those that diverge (``"analytic"`` for
        rate ≥ 1), costly ones only ``"analytic"`` until :meth:`train`.
        """
        return self._solved_for(width, depth, rate)[0]

    def diverged(self, width: int, depth: int, rate: float) -> tuple:
        """The roles that diverge at this setting (infinite width, the network, its linearisation)."""
        return self._solved_for(width, depth, rate)[1]

    def outcome(self, width: int, depth: int, rate: float) -> Outcome | None:
        """What the trained network did at this setting (None while a costly one is not trained)."""
        key = self._key(width, depth, rate)
        self._solved_for(*key)
        return self._outcomes.get(key)

    def trainable(self, width: int, depth: int, rate: float) -> bool:
        """A costly setting not trained (nor failed) yet."""
        key = self._key(width, depth, rate)
        return self.kind(*key[:2]) == "costly" and key not in self.failed and "network" not in self.curves(*key)

    def train(self, width: int, depth: int, rate: float, progress=None) -> dict:
        """Train a costly setting in chunks (``progress(steps done, steps)`` after each) and cache its curves.

        Raises:
          DivergenceError: the network diverges (the setting is then remembered as failed).
        """
        key = self._key(width, depth, rate)
        if progress is not None and not callable(progress):
            raise TypeError(f"progress must be callable progress(done, total), got {progress!r}")
        ticks = []  # when each chunk ended

        def report(done, total):
            ticks.append(time.perf_counter())
            if progress is not None:
                progress(done, total)

        new_shape, hits, start = key[:2] not in self.compiled, _compile_log_now()[1], time.perf_counter()
        curves, diverged = self._solve(*key, progress=report)
        end = time.perf_counter()
        self.compiled.add(key[:2])
        self.trained_seconds[key] = end - start
        self._recalibrate(hidden_units(*key[:2]), start, ticks, end, new_shape and _compile_log_now()[1] == hits)
        self._solved[key] = curves, diverged
        if "network" in diverged:
            self.failed.add(key)
            raise DivergenceError(f"the network diverges\nat η = {_short(key[2])}")
        return curves

    def estimate_seconds(self, width: int, depth: int) -> float:
        """Estimated seconds for :meth:`train`: measured cost per n²(L − 1), plus a compilation."""
        width, depth = self._check(width, depth)
        return self.seconds_per_unit * hidden_units(width, depth) + self.compile_seconds * ((width, depth) not in self.compiled)

    def _recalibrate(self, units, start, ticks, end, cold):
        # The chunks after the first run compiled code: the training rate. The first chunk's excess
        # is the one-off cost of a new shape (compiling, initialising); after the last, the kernels.
        if len(ticks) < 2 or units == 0:
            return
        per_chunk = (ticks[-1] - ticks[0]) / (len(ticks) - 1)
        self.seconds_per_unit = (per_chunk * len(ticks) + (end - ticks[-1])) / units
        if cold:
            self.compile_seconds = max(ticks[0] - start - per_chunk, 0.0)

    def _warm_up(self, rate):
        live = [(n, L) for L in self.depths for n in self.widths if self.kind(n, L) == "live"]
        cold = []
        for n, L in live:
            seconds, hits = _compile_log_now()
            self.curves(n, L, rate)
            self.compiled.add((n, L))
            after, hits_after = _compile_log_now()
            if after > seconds and hits_after == hits:  # compiled, and not from JAX's persistent cache
                cold.append(after - seconds)
        self.compile_seconds = float(np.median(cold)) if cold else COLD_COMPILE_S
        # The largest live setting again, everything but the compilation: init, kernels, training.
        n, L = max(live, key=lambda c: hidden_units(*c)) if live else (self.widths[0], self.depths[0])
        start, model = time.perf_counter(), models.build(self.net.replace(width=n, depth=L))
        params0 = models.astype(model.init(self.seed, self.x.shape[1]), np.float64)
        empirical.layer_ntk(model, params0, self.x_all, self.x_all[: self.n_train])
        if (n, L) in self.compiled:
            self._train(n, L, rate)
        self.seconds_per_unit = (time.perf_counter() - start) / max(hidden_units(n, L), 1)

    def headline(self, width: int, depth: int, rate: float) -> str:
        """Above a linear model's bound: which linear models diverge and what the network did; else ""."""
        diverged, outcome = self.diverged(width, depth, rate), self.outcome(width, depth, rate)
        linear = [name for role, name in (("analytic", "infinite width"), ("linearized", "the linearised network"))
                  if role in diverged]
        if not linear:
            return ""
        network = "untrained" if outcome is None else outcome.describe()
        return f"{' and '.join(linear)} diverge{'s' if len(linear) == 1 else ''}; the network {network}"

    def note(self, width: int, depth: int, rate: float) -> str:
        """One line about a setting: what is drawn, what diverges, what the Train button would cost."""
        n, L, rate = key = self._key(width, depth, rate)
        text = f"width {n}, depth {L}, η = {_short(rate)} = {rate * self.eta_max[L]:.3g}"
        curves, diverged = self._solved_for(*key)
        outcome = self.outcome(*key)
        if "analytic" in diverged:
            text += f"; beyond the stability bound η_max = 2/λ_max(Θ) = {self.eta_max[L]:.3g}: infinite width diverges"
        if "linearized" in diverged:
            bound = dynamics.max_learning_rate(self.kernel(n, L)[: self.n_train]) / self.eta_max[L]
            text += f"; the linearised network diverges: this width's own bound 2/λ_max(K) is {bound:.2f} η_max"
        if outcome is not None and outcome.loss is not None and outcome.above_bound:
            return (f"{text}; the network {outcome.describe()}: λ_max(K) {outcome.lam_start:.3g} → "
                    f"{outcome.lam_end:.3g}, 2/η = {2 / outcome.eta:.3g}")
        if outcome is not None and outcome.loss is None:
            return f"{text}; the network diverged when trained"
        if self.kind(n, L) == "live":
            return f"{text}; network trained live"
        if "network" in curves:
            return f"{text}; trained on request in {self.trained_seconds[key]:.1f} s (cached)"
        if self.kind(n, L) == "too large":
            return f"{text}; too large to train here (over 1 GB of memory): infinite width only"
        return (f"{text}; too costly to retrain on every move: {'nothing' if diverged else 'infinite width only'}"
                f" drawn. Train: {_seconds(self.estimate_seconds(n, L))}"
                f"{'' if (n, L) in self.compiled else ', compiling included'} (measured on this machine; "
                "longer while it is busy)")

    def diverging(self, rate: float) -> list:
        """The live (width, depth) where the network or its linearisation diverges at this rate."""
        return [(n, L) for n in self.widths for L in self.depths
                if self.kind(n, L) == "live" and {"network", "linearized"} & set(self.diverged(n, L, rate))]


def _increasing(name, values):
    values = tuple(check_positive_int(name, v) for v in values) if isinstance(values, list | tuple) else ()
    if not values or any(b <= a for a, b in zip(values, values[1:])):
        raise ValueError(f"{name} must be a non-empty tuple of increasing integers >= 1, got {values!r}")
    return values


def _seconds(s: float) -> str:
    return "under a second" if s < 0.95 else f"≈ {s:.1f} s" if s < 10 else f"≈ {s:.0f} s"
