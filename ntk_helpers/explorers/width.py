"""Notebook 03's sweeps and explorers: the kernel at initialisation, and training width by width.

The notebook derives the maths; this module precomputes what its two explorers show, so that no
slider move trains, draws a network or compiles anything: a move only looks results up.

* :func:`initial_sweep` — empirical kernels at initialisation for every width and depth, in the
  NTK parameterization and, from the same layer terms, the standard one (:func:`standard_from_ntk`);
  :func:`initial_kernel` is its explorer;
* :func:`train_sweep` — a few networks per width and learning rate, trained together, their
  kernels recorded on the way; :func:`training` is its explorer, :func:`jacot_figure` draws
  Jacot et al.'s Figure 1 from it;
* :func:`rate_sweep` — one-hidden-layer networks up to widths of 2¹⁸ and more, all widths in one
  compiled program: how far their kernel (and, for ReLU, its frozen-pattern and switching
  parts), Jacobian and parameters move; :func:`loglog_figure` draws such measurements with
  their fitted power laws;
* :func:`analytic_layers` — the analytic Θ split into per-layer weight and bias terms.

Introduced in notebook 03.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import ipywidgets
import jax
import jax.numpy as jnp
import numpy as np

from .. import dynamics, empirical, kernels, models, plotting, stats, widgets
from ..errors import DivergenceError, check_array, check_positive, check_positive_int, check_seed
from ..network import Network, as_network

PARAMETERIZATIONS = ("ntk", "standard")


def _index(name, value, size):
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or not 0 <= value < size:
        raise ValueError(f"{name} must be an index from 0 to {size - 1}, got {value!r}")
    return int(value)


# --------------------------------------------------------------------------- at initialisation


def standard_from_ntk(net, parts: empirical.LayerNTK, d_in: int) -> np.ndarray:
    """The standard-parameterization kernel of the same Gaussian numbers, from NTK layer terms.

    With W = (W_std/√n_in) ω both parameterizations compute the same function, but
    ∂f/∂W = (√n_in / W_std) ∂f/∂ω: each weight term is multiplied by n_in / W_std², each bias
    term by 1 / b_std² (derived in notebook 03, section 4):
    K_std = Σ_l (n_{l−1} / W_std²) K^W_l + (1 / b_std²) K^b_l.

    Args:
      net: the NTK-parameterized ``mlp`` Network of ``parts``.
      parts: its :class:`~ntk_helpers.empirical.LayerNTK`, weights of shape (..., L + 1, N1, N2).
      d_in: the input dimension (the first layer's fan-in).

    Returns:
      (..., N1, N2) float64.

    Example:
      >>> net, x = Network(width=16, depth=2, b_std=0.1), np.eye(2)
      >>> parts = empirical.layer_ntk(net, models.init_batch(net, [0], 2), x)
      >>> std = net.replace(parameterization="standard")
      >>> own = empirical.layer_ntk(std, models.init_batch(std, [0], 2), x).total
      >>> bool(np.allclose(standard_from_ntk(net, parts, 2), own, rtol=1e-5))
      True
    """
    net = as_network(net)
    if net.kind != "mlp" or net.parameterization != "ntk" or net.W_std <= 0 or net.b_std == 0:
        raise ValueError("net must be an mlp in the NTK parameterization with W_std > 0 and b_std > 0 or None "
                         f"(a zero scale loses a gradient the standard parameterization has), got {net.name}")
    if not isinstance(parts, empirical.LayerNTK):
        raise TypeError(f"parts must be a LayerNTK (from nh.empirical.layer_ntk), got {type(parts).__name__}")
    if parts.weights.shape[-3] != net.depth + 1:
        raise ValueError(f"parts must hold {net.depth + 1} layers for {net.name}, got {parts.weights.shape[-3]}")
    fan_in = np.array([check_positive_int("d_in", d_in)] + [net.width] * net.depth, dtype=np.float64)
    k = np.einsum("l,...lij->...ij", fan_in / net.W_std**2, parts.weights)
    return k if parts.biases is None else k + parts.biases.sum(axis=-3) / net.b_std**2


class InitialSweep(NamedTuple):
    """Kernels at initialisation; every dict is keyed by (width, depth, parameterization).

    Attributes:
      network: the NTK-parameterized description the sweep varies.
      widths, depths, seeds: the grid.
      rows: (S, M) per key: K_s(x_ref, x) on the M plotted inputs, one row per seed.
      train: (S, N, N) per key: the kernel on the training inputs.
      analytic: (M,) per key: Θ(x_ref, x) of the same architecture at infinite width.
    """

    network: Network
    widths: tuple
    depths: tuple
    seeds: tuple
    rows: dict
    train: dict
    analytic: dict

    def eta_max(self, n: int, depth: int, parameterization: str) -> float:
        """The largest stable learning rate 2/λ_max(K) on the training inputs, averaged over seeds."""
        return float(np.mean(2.0 / np.linalg.eigvalsh(self.train[n, depth, parameterization])[:, -1]))


def initial_sweep(net, x_plot, x_train, *, reference: int, widths, depths, seeds) -> InitialSweep:
    """Sample the empirical NTK at initialisation on a grid of widths and depths, once.

    For each width one stack of ``max(depths)``-deep networks is drawn (one per seed); the
    depth-L network is its first L hidden layers plus its readout, which are parameters of
    ``net.replace(width=n, depth=L)`` (:func:`~ntk_helpers.empirical.layer_ntk` checks them).
    Its layer terms give both parameterizations' kernels (:func:`standard_from_ntk`).

    Args:
      net: an ``mlp`` Network in the NTK parameterization (width and depth are replaced).
      x_plot: (M, d) inputs of the kernel row K(x_plot[reference], ·) that is kept.
      x_train: (N, d) training inputs, whose whole kernel is kept.
      reference: index into ``x_plot`` of the row's reference input x_ref.
      widths, depths: positive ints; seeds: ints ≥ 0.

    Returns:
      :class:`InitialSweep`.
    """
    net = as_network(net)
    x_plot = np.asarray(check_array("x_plot", x_plot, ndim=2), dtype=np.float64)
    x_train = np.asarray(check_array("x_train", x_train, ndim=2, dim=x_plot.shape[1]), dtype=np.float64)
    x_ref = x_plot[_index("reference", reference, len(x_plot))][None]
    widths, depths = (tuple(check_positive_int(name, v) for v in vs) for name, vs in (("widths", widths), ("depths", depths)))
    seeds = tuple(check_seed("seeds", s) for s in seeds)
    if not widths or not depths or not seeds:
        raise ValueError("widths, depths and seeds must not be empty")
    d_in, m = x_plot.shape[1], len(x_plot)
    x1, x2 = np.concatenate([x_ref, x_train]), np.concatenate([x_plot, x_train])  # rows: x_ref, then X
    rows, train, analytic = {}, {}, {}
    for n in widths:
        deepest = models.init_batch(net.replace(width=n, depth=max(depths)), seeds, d_in)
        for L in depths:
            shallow = net.replace(width=n, depth=L)
            parts = empirical.layer_ntk(shallow, deepest[:L] + deepest[-1:], x1, x2)
            for p, k in (("ntk", parts.total), ("standard", standard_from_ntk(shallow, parts, d_in))):
                rows[n, L, p], train[n, L, p] = k[:, 0, :m], k[:, 1:, m:]
                analytic[n, L, p] = kernels.analytic(shallow.replace(parameterization=p), x_ref, x_plot).ntk[0]
    return InitialSweep(net, widths, depths, seeds, rows, train, analytic)


def initial_kernel(sweep: InitialSweep, angles, *, width: int = 64, depth: int = 3, parameterization: str = "ntk",
                   shown: int = 8) -> widgets.Explorer:
    """The explorer of notebook 03, section 4: K(x₀, x) at initialisation, and 2/λ_max(K) vs width.

    Controls: width n, depth L, parameterization. Figure 0: ``shown`` seeds' kernel rows against
    the ``angles`` of the plotted inputs, and the analytic Θ of the same architecture.
    Figure 1: 2/λ_max(K) on the training inputs against the width for both parameterizations at
    depth L, the selected network circled; its title gives both values at width n and their ratio.
    """
    if not isinstance(sweep, InitialSweep):
        raise TypeError(f"sweep must be an InitialSweep (from initial_sweep), got {type(sweep).__name__}")
    m = sweep.rows[sweep.widths[0], sweep.depths[0], "ntk"].shape[1]  # one angle per plotted input
    angles = np.asarray(check_array("angles", angles, ndim=1, dim=m), dtype=np.float64)
    if parameterization not in PARAMETERIZATIONS:
        raise ValueError(f"parameterization must be one of {PARAMETERIZATIONS}, got {parameterization!r}")
    shown, widths = min(check_positive_int("shown", shown), len(sweep.seeds)), list(sweep.widths)
    table = {key: sweep.eta_max(*key) for key in sweep.train}  # every value a move can show
    fig_k = widgets.live(plotting.figure("K(x₀, x) at initialisation", "angle γ of x", "K(x₀, x)"))
    for s in range(shown):
        fig_k.add_scatter(mode="lines", name=f"empirical, {shown} seeds", legendgroup="seeds", showlegend=s == 0,
                          line=dict(color=plotting.COLORS["empirical"], width=1))
    fig_k.add_scatter(mode="lines", **plotting.role_line("analytic", name="analytic Θ"))
    fig_lr = widgets.live(plotting.figure("2/λ_max(K)", "width n", "2/λ_max(K), mean over seeds",
                                           log_x=True, log_y=True))
    for p, color in zip(PARAMETERIZATIONS, (plotting.COLORS["network"], "#CC79A7")):
        fig_lr.add_scatter(mode="lines+markers", name=f"{p} parameterization", line=dict(color=color))
    fig_lr.add_scatter(mode="markers", name="selected", marker=dict(size=14, symbol="circle-open", color="#000000"))
    _circle_axis(fig_k)
    log_ticks(fig_lr, widths, list(table.values()))

    def update(v):
        n, L, p = v["width"], v["depth"], v["parameterization"]
        for s in range(shown):
            fig_k.data[s].update(x=angles, y=sweep.rows[n, L, p][s])
        fig_k.data[shown].update(x=angles, y=sweep.analytic[n, L, p])
        fig_k.layout.title.text = f"K(x₀, x) at initialisation: n = {n}, L = {L}, {p}"
        for j, q in enumerate(PARAMETERIZATIONS):
            fig_lr.data[j].update(x=widths, y=[table[w, L, q] for w in widths])
        fig_lr.data[2].update(x=[n], y=[table[n, L, p]])
        ntk, std = table[n, L, "ntk"], table[n, L, "standard"]
        fig_lr.layout.title.text = f"n = {n}, L = {L}: ntk {ntk:.3g}, standard {std:.3g}, ratio {ntk / std:.0f}"

    controls = {
        "width": widgets.log_slider("width n", widths, width),
        "depth": widgets.log_slider("depth L", list(sweep.depths), depth, labels=str),
        "parameterization": ipywidgets.ToggleButtons(options=list(PARAMETERIZATIONS), value=parameterization,
                                                     description="parameterization"),
    }
    return widgets.Explorer(controls, [fig_k, fig_lr], update)


# --------------------------------------------------------------------------- during training


class Run(NamedTuple):
    """S networks of one width trained at one learning rate, recorded every few steps.

    Attributes:
      steps: (T,) recorded step counts, from 0.
      loss: (T,) ½‖f − y‖² per network, averaged over the S networks.
      kernel: (T, S, M + N, M + N) empirical NTK on the evaluation inputs, then the training inputs.
      f_eval: (T, S, M) outputs on the evaluation inputs; f_train: (T, S, N) on the training inputs.
      params0, params: stacked parameters (leading axis S) at t = 0 and at the end.
    """

    steps: np.ndarray
    loss: np.ndarray
    kernel: np.ndarray
    f_eval: np.ndarray
    f_train: np.ndarray
    params0: list
    params: list

    def kernel_change(self, record: int = -1) -> float:
        """‖K_t − K_0‖_F / ‖K_0‖_F on the training inputs at record ``record``, RMS over networks."""
        n = self.f_train.shape[-1]
        k0, kt = self.kernel[0][:, -n:, -n:], self.kernel[record][:, -n:, -n:]
        return float(np.sqrt(np.mean(np.linalg.norm(kt - k0, axis=(1, 2)) ** 2 / np.linalg.norm(k0, axis=(1, 2)) ** 2)))

    def parameter_change(self, relative: bool = True) -> float:
        """‖θ_T − θ_0‖ over all weights and biases (÷ ‖θ_0‖ when ``relative``), RMS over networks."""
        s = self.f_train.shape[1]

        def flat(params):
            return np.concatenate([np.asarray(v).reshape(s, -1) for layer in params for v in layer.values()], axis=1)

        theta0, distance = flat(self.params0), np.linalg.norm(flat(self.params) - flat(self.params0), axis=1)
        return float(np.sqrt(np.mean((distance / np.linalg.norm(theta0, axis=1) if relative else distance) ** 2)))

    def weight_change(self, layers) -> float:
        """‖W_T − W_0‖_F / ‖W_0‖_F over the weight matrices of ``layers`` (0 = first), RMS over networks."""
        s, layers = self.f_train.shape[1], list(layers)
        w0, wt = (np.concatenate([p[i]["W"].reshape(s, -1) for i in layers], axis=1) for p in (self.params0, self.params))
        return float(np.sqrt(np.mean(np.linalg.norm(wt - w0, axis=1) ** 2 / np.linalg.norm(w0, axis=1) ** 2)))


@dataclass(frozen=True)
class TrainSweep:
    """Runs for every (width, η/η_max): ``sweep[n, frac]`` is a :class:`Run`, or raises the
    :class:`~ntk_helpers.errors.DivergenceError` of a run whose loss blew up."""

    network: Network
    widths: tuple
    seeds: tuple
    eta_fractions: tuple
    eta_max: float
    steps: tuple
    runs: dict

    def __getitem__(self, key) -> Run:
        if isinstance(self.runs[key], DivergenceError):
            raise self.runs[key]
        return self.runs[key]

    def trained(self, frac) -> list:
        """The widths whose run at η = frac · η_max converged."""
        return [n for n in self.widths if isinstance(self.runs[n, frac], Run)]


def train_sweep(net, x_train, y_train, x_eval, *, widths, seeds, eta_max: float, eta_fractions,
                steps: int = 100, record_every: int = 25) -> TrainSweep:
    """Train ``len(seeds)`` networks per width and learning rate, recording their kernels.

    The S networks of one width are one function of their stacked parameters, whose summed loss
    is S independent losses: :func:`~ntk_helpers.dynamics.train` trains them together, compiled
    once per width. Every ``record_every`` steps the NTK on [x_eval; x_train] is recorded, so the
    run is resumed chunk by chunk; a run counts as diverged only if ``dynamics.train`` flags it
    when run from t = 0 (a resumed chunk would be judged against the chunk's start).

    Args:
      net: an ``mlp`` Network (its width is replaced).
      x_train: (N, d); y_train: (N,); x_eval: (M, d) inputs whose outputs and kernel are kept.
      widths: the widths trained; seeds: one network per seed at each width.
      eta_max: the unit of the learning rate (notebook 03: 2/λ_max of the analytic Θ).
      eta_fractions: η / η_max of the runs.
      steps, record_every: steps in all, and how often the state is recorded.

    Returns:
      :class:`TrainSweep`.
    """
    net = as_network(net)
    x_train = np.asarray(check_array("x_train", x_train, ndim=2), dtype=np.float32)
    y_train = np.asarray(check_array("y_train", y_train, ndim=1), dtype=np.float32)
    x_eval = np.asarray(check_array("x_eval", x_eval, ndim=2, dim=x_train.shape[1]), dtype=np.float32)
    if y_train.shape[0] != x_train.shape[0]:
        raise ValueError(f"y_train must have {x_train.shape[0]} entries (one per row of x_train), got {y_train.shape[0]}")
    steps, every = check_positive_int("steps", steps), check_positive_int("record_every", record_every)
    if steps % every:
        raise ValueError(f"steps ({steps}) must be a multiple of record_every ({every})")
    eta_max, fractions = check_positive("eta_max", eta_max), tuple(check_positive("eta_fractions", f) for f in eta_fractions)
    seeds, widths = [check_seed("seeds", s) for s in seeds], tuple(check_positive_int("widths", n) for n in widths)
    if not seeds or not widths or not fractions:
        raise ValueError("widths, seeds and eta_fractions must not be empty")
    s, z = len(seeds), np.concatenate([x_eval, x_train])
    data = np.tile(x_train, (s, 1)), np.tile(y_train, s), np.tile(x_eval, (s, 1))
    runs = {}
    for n in widths:
        wide = net.replace(width=n)
        apply = _stacked(models.build(wide), s)
        params0 = models.init_batch(wide, seeds, x_train.shape[1])
        for frac in fractions:  # the same apply for every η: one compilation per width
            try:
                runs[n, frac] = _train_one(wide, apply, params0, data, z, frac, eta_max, steps, every)
            except DivergenceError as exc:  # shown by the explorer as a message
                runs[n, frac] = exc
    return TrainSweep(net, widths, tuple(seeds), fractions, eta_max, tuple(range(0, steps + 1, every)), runs)


def _stacked(model, s):
    def apply(stacked, x):  # x: (S·N, d) → (S·N,), one block of rows per network
        return jax.vmap(model.apply)(stacked, x.reshape(s, -1, x.shape[-1])).reshape(-1)

    return apply


def _train_one(net, apply, params0, data, z, frac, eta_max, steps, every):
    (xs, ys, xe), s = data, params0[0]["W"].shape[0]
    records = {"kernel": [empirical.layer_ntk(net, params0, z).total], "loss": [], "f_eval": [], "f_train": []}
    p = jax.tree_util.tree_map(jnp.asarray, params0)
    for start in range(0, steps, every):
        kwargs = dict(learning_rate=frac * eta_max, record_every=every, chunk_steps=every, x_eval=xe)
        try:  # resume for one chunk (the kernel needs the parameters at every record)
            traj = dynamics.train(apply, p, xs, ys, steps=every, **kwargs)
        except DivergenceError:  # judged against this chunk's start: judge the run from t = 0 instead
            try:  # the same compiled chunk, so the same numbers when it passes
                traj = dynamics.train(apply, params0, xs, ys, steps=start + every, **kwargs)
            except DivergenceError as exc:
                raise DivergenceError(f"n = {net.width}, η = {frac:g}·η_max: {exc}", step=exc.step) from None
        p = traj.params
        records["kernel"].append(empirical.layer_ntk(net, jax.tree_util.tree_map(np.asarray, p), z).total)
        for t in ([0, -1] if start == 0 else [-1]):  # the state at t = 0, then after each chunk
            records["loss"].append(traj.loss[t] / s)
            records["f_eval"].append(traj.f_eval[t].reshape(s, -1))
            records["f_train"].append(traj.f_train[t].reshape(s, -1))
    arrays = {k: np.stack(v) for k, v in records.items()}
    return Run(np.arange(0, steps + 1, every), **arrays, params0=params0, params=jax.tree_util.tree_map(np.asarray, p))


def training(sweep: TrainSweep, angles, theta_row, *, reference: int, width: int = 64, eta: float = 0.5,
             steps: int | None = None) -> widgets.Explorer:
    """The explorer of notebook 03, section 6: the kernel row during training, and its change vs width.

    Controls: width n, η / η_max, steps t. Figure 0: K_s(x₀, x) of every network at t = 0
    (dotted) and after t steps (solid), with the analytic ``theta_row``, Θ(x₀, x) of shape (M,), against
    the ``angles`` (M,) of the evaluation inputs; ``reference`` is the index of x₀. Figure 1: the
    relative kernel change on the training inputs against the width for that η and t, a power
    law fitted to the four widest networks (drawn over those widths only: a slope measured on
    narrow networks is not extrapolated), and the selected network. A run that diverged shows
    its message instead.
    """
    if not isinstance(sweep, TrainSweep):
        raise TypeError(f"sweep must be a TrainSweep (from train_sweep), got {type(sweep).__name__}")
    m = next((r.f_eval.shape[-1] for r in sweep.runs.values() if isinstance(r, Run)), None)
    if m is None:
        raise ValueError("sweep has no run that converged: nothing to show")
    angles = np.asarray(check_array("angles", angles, ndim=1, dim=m), dtype=np.float64)  # one per x_eval
    theta_row = np.asarray(check_array("theta_row", theta_row, ndim=1, dim=m), dtype=np.float64)
    s, reference = len(sweep.seeds), _index("reference", reference, m)
    fig_k = widgets.live(plotting.figure("K(x₀, x) during training", "angle γ of x", "K(x₀, x)"))
    for label, dash, role in (("t = 0", "dot", "empirical"), ("after t steps", "solid", "network")):
        for j in range(s):
            fig_k.add_scatter(mode="lines", name=label, legendgroup=label, showlegend=j == 0,
                              line=dict(color=plotting.COLORS[role], dash=dash, width=1.5))
    fig_k.add_scatter(mode="lines", **plotting.role_line("analytic", name="analytic Θ"))
    fig_m = widgets.live(plotting.figure("Relative kernel change ‖K_t − K_0‖ / ‖K_0‖", "width n",
                                          "relative change", log_x=True, log_y=True, legend="right"))
    fig_m.add_scatter(mode="markers", name="measured", marker=dict(color=plotting.COLORS["empirical"], size=9))
    fig_m.add_scatter(mode="lines", name="power-law fit", line=dict(color=plotting.COLORS["target"], dash="dash"))
    fig_m.add_scatter(mode="markers", name="selected", marker=dict(size=14, symbol="circle-open", color="#000000"))
    changes = {(n, f, c): sweep[n, f].kernel_change(c) for f in sweep.eta_fractions for n in sweep.trained(f)
               for c in range(1, len(sweep.steps))}  # every value a move can show
    _circle_axis(fig_k)
    log_ticks(fig_m, list(sweep.widths), [list(changes.values())])

    def update(v):
        n, frac, c = v["width"], v["eta"], sweep.steps.index(v["steps"])
        rows = sweep[n, frac].kernel[:, :, reference, :m]  # (T, S, M); a diverged run raises: a message
        for j in range(s):
            fig_k.data[j].update(x=angles, y=rows[0, j])
            fig_k.data[s + j].update(x=angles, y=rows[c, j])
        fig_k.data[2 * s].update(x=angles, y=theta_row)
        fig_k.layout.title.text = f"K(x₀, x): n = {n}, η = {frac:g}·η_max, t = {v['steps']}"
        ok = sweep.trained(frac)
        moves = [changes[w, frac, c] for w in ok]
        fig_m.data[0].update(x=ok, y=moves)
        fit = stats.loglog_fit(ok[-4:], moves[-4:]) if len(ok) >= 2 else None
        if fit is None or fit.slope >= 0:  # drawn over the fitted widths only: no extrapolation
            fig_m.data[1].update(x=ok[-4:], y=moves[-4:], name="power-law fit: none decreasing", visible=False)
        else:
            fig_m.data[1].update(x=ok[-4:], y=fit(ok[-4:]), visible=True,
                                 name=f"fit n ≥ {ok[-4:][0]}: slope {fit.slope:.2f}".replace("-", "−"))
        fig_m.data[2].update(x=[n], y=[changes[n, frac, c]])

    controls = {
        "width": widgets.log_slider("width n", list(sweep.widths), width),
        "eta": widgets.log_slider("η / η_max", list(sweep.eta_fractions), float(eta), labels=lambda f: f"{f:g}"),
        "steps": widgets.log_slider("steps t", list(sweep.steps[1:]), steps or sweep.steps[-1], labels=str),
    }
    return widgets.Explorer(controls, [fig_k, fig_m], update)


from ._width_figures import _circle_axis, jacot_figure, log_ticks, loglog_figure  # noqa: E402,F401
from ._width_rates import MOVES, RateSweep, analytic_layers, rate_sweep  # noqa: E402,F401
