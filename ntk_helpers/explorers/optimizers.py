"""Notebook 08's explorer: one wide network trained by GD, momentum, SGD, Adam or Adam's frozen D.

The numerics are in :mod:`ntk_helpers.optimizers`. :func:`optimizer_explorer` shows, for the chosen
optimizer, learning rate, momentum β, batch size B and width n, the training loss against the step t
(the network and the closed form of its linear model) and the function at step t on a grid.
Only the controls of the chosen optimizer are enabled (:data:`CONTROLS`); the loss figure's title
names their values.

Every run is one call of :func:`ntk_helpers.optimizers.train`, whose compiled scan takes η, β, B
and D⁻¹ as traced values: the builder compiles it once per width (three widths), and no later move
compiles. A setting's runs are cached, so moving t only looks them up.
How it stays fast: ``docs/developers.md``, "Notebook 08". Introduced in notebook 08.
"""

from __future__ import annotations

import ipywidgets
import numpy as np

from .. import empirical, models, plotting, widgets
from .. import optimizers as opt
from ..data import regression_1d
from ..errors import DivergenceError, check_choice
from ..network import Network

__all__ = ["CONTROLS", "OPTIMIZER_LABELS", "Case", "optimizer_explorer"]

#: The optimizers offered: label → key of :data:`ntk_helpers.optimizers.OPTIMIZERS` (``"frozen"``: Adam's D frozen).
OPTIMIZER_LABELS = {"GD": "gd", "momentum": "momentum", "SGD": "sgd", "Adam": "adam",
                    "frozen D (Adam's, after 10 steps)": "frozen"}
#: The controls each optimizer uses (besides width n and step t, used by all); the others are disabled.
CONTROLS = {"gd": ("eta",), "momentum": ("eta", "beta"), "sgd": ("eta", "beta", "batch"),
            "adam": ("adam_eta",), "frozen": ("adam_eta",)}
WARMUP = 10  # Adam steps before its D is frozen
_BLOWUP = 1e6  # a closed-form curve is drawn until |f| passes this (a diverging linear model)
_TITLE_BAND = 68  # pixels at the top of the loss figure for its two-line title, above the legend


class Case:
    """Everything drawn for one setting: steps (T,), the network's loss (T,) and f on the grid (T, M),
    the closed form's loss (T,) and f (T, M) (cut where it diverges), the setting (one plain line)
    and a note on the closed form (a second, smaller line of the title)."""

    def __init__(self, steps, loss, f_grid, theory_loss, theory_grid, setting, note):
        self.steps, self.loss, self.f_grid = steps, loss, f_grid
        ok = np.all(np.isfinite(theory_grid) & (abs(theory_grid) < _BLOWUP), axis=1) & np.isfinite(theory_loss)
        cut = len(ok) if ok.all() else int(np.argmin(ok))
        self.theory_steps, self.theory_loss, self.theory_grid = steps[:cut], theory_loss[:cut], theory_grid[:cut]
        self.setting, self.note = setting, note

    @property
    def title(self) -> str:
        """The loss figure's title: the setting, and the note in a smaller second line."""
        return f"{self.setting}<br><span style='font-size:13px'>{self.note}</span>"


class _Runs:
    """The networks (one per width, seed 0), their kernels at initialisation, and a cache of cases."""

    def __init__(self, net, data, widths, steps, every, sgd_seeds):
        self.data, self.steps, self.every, self.sgd_seeds = data, steps, every, sgd_seeds
        self.nets = {n: net.replace(width=n) for n in widths}
        self.params = {n: models.build(self.nets[n]).init(0, data.x_train.shape[1]) for n in widths}
        self.kernels = {}
        for n, p in self.params.items():
            p64 = models.astype(p, np.float64)
            self.kernels[n] = (empirical.layer_ntk(self.nets[n], p64, data.x_train).total,
                               empirical.layer_ntk(self.nets[n], p64, data.x_test, data.x_train).total)
        self.cache = {}
        for n in widths:  # compile the one training scan for every width now, not on a slider move
            self._train(n, "gd", 1e-6, steps=every)

    def _train(self, n, optimizer, eta, **kw):
        kw.setdefault("steps", self.steps)
        return opt.train(models.build(self.nets[n]), kw.pop("params", self.params[n]), self.data.x_train,
                         self.data.y_train, optimizer=optimizer, learning_rate=eta, record_every=self.every,
                         x_eval=self.data.x_test, allow_divergence=True, **kw)

    def _linear(self, k, kx, f0, fx0, eta, beta=0.0, steps=None):
        d = self.data
        ft, fg = opt.linear_dynamics(k, d.y_train, f0, learning_rate=eta, beta=beta, steps=steps or self.steps,
                                     record_every=self.every, k_test_train=kx, f0_test=fx0)
        with np.errstate(over="ignore", invalid="ignore"):
            return 0.5 * np.sum((ft - d.y_train) ** 2, axis=1), fg

    def case(self, optimizer, eta_fraction, beta, batch, n, adam_eta) -> Case:
        """The case of a setting; the values of controls ``optimizer`` does not use are ignored."""
        used = CONTROLS[optimizer]
        key = (optimizer, eta_fraction if "eta" in used else None, beta if "beta" in used else 0.0,
               batch if "batch" in used else None, n, adam_eta if "adam_eta" in used else None)
        if key not in self.cache:
            self.cache[key] = self._compute(*key)
        return self.cache[key]

    def _compute(self, optimizer, frac, beta, batch, n, adam_eta):
        k, kx = self.kernels[n]
        if optimizer in ("gd", "momentum", "sgd"):
            eta = frac * 2.0 / np.linalg.eigvalsh(k)[-1]  # η_max = 2/λ_max(K)
        if optimizer in ("gd", "momentum"):
            b = beta if optimizer == "momentum" else 0.0
            run = self._train(n, optimizer, eta, beta=b)
            loss, fg = self._linear(k, kx, run.f_train[0], run.f_eval[0], eta, b)
            setting = (f"GD: η = {frac:g} η_max, n = {n}" if optimizer == "gd"
                       else f"momentum: η = {frac:g} η_max, β = {b:g}, n = {n}")
            note = f"η_max = 2/λ_max(K) of the network's K at t = 0; the linear model is stable for η < {1 + b:g} η_max"
            return Case(run.steps, run.loss, run.f_eval, loss, fg, setting, note)
        if optimizer == "sgd":
            runs = [self._train(n, "sgd", eta, beta=beta, batch_size=batch, seed=s) for s in range(self.sgd_seeds)]
            f_grid = np.mean([r.f_eval for r in runs], axis=0)
            loss_net = np.mean([r.loss for r in runs], axis=0)
            loss, fg = self._linear(k, kx, runs[0].f_train[0], runs[0].f_eval[0], eta, beta)
            setting = f"SGD: B = {batch} of N = {len(k)}, η = {frac:g} η_max, β = {beta:g}, n = {n}"
            note = f"mean of {self.sgd_seeds} runs; closed form: full-batch mean dynamics; η_max = 2/λ_max(K) at t = 0"
            return Case(runs[0].steps, loss_net, f_grid, loss, fg, setting, note)
        adam = self._train(n, "adam", adam_eta)
        warm = self._train(n, "adam", adam_eta, steps=WARMUP)
        dinv = opt.adam_preconditioner(warm.state)
        j = opt.dense_jacobian(self.nets[n], warm.state.params, self.data.x_train)
        jx = opt.dense_jacobian(self.nets[n], warm.state.params, self.data.x_test)
        kd, kdx = opt.preconditioned_kernel(j, dinv), opt.preconditioned_kernel(jx, dinv, j)
        loss, fg = self._linear(kd, kdx, warm.f_train[-1], warm.f_eval[-1], adam_eta, steps=self.steps - WARMUP)
        lead = WARMUP // self.every
        loss = np.concatenate([warm.loss[:lead], loss])
        fg = np.concatenate([warm.f_eval[:lead], fg])
        ratio = adam_eta * np.linalg.eigvalsh(kd)[-1] / 2
        note = f"closed form: the linear model of K_D = J D⁻¹ Jᵀ, D frozen at step {WARMUP}; η = {ratio:.2g} · 2/λ_max(K_D)"
        if optimizer == "adam":
            return Case(adam.steps, adam.loss, adam.f_eval, loss, fg, f"Adam: η = {adam_eta:g}, n = {n}", note)
        frozen = self._train(n, "preconditioned", adam_eta, preconditioner=dinv, params=warm.state.params,
                             steps=self.steps - WARMUP)
        setting = f"θ ← θ − η D⁻¹∇ℒ, Adam's D from step {WARMUP}: η = {adam_eta:g}, n = {n}"
        return Case(adam.steps, np.concatenate([warm.loss[:lead], frozen.loss]),
                    np.concatenate([warm.f_eval[:lead], frozen.f_eval]), loss, fg, setting, note)


def optimizer_explorer(data=None, *, net: Network | None = None, widths=(256, 1024, 4096), steps: int = 100,
                       record_every: int = 5, optimizer: str = "momentum", eta_fraction: float = 1.2,
                       beta: float = 0.5, batch_size: int = 4, width: int = 4096, adam_eta: float = 1e-3,
                       sgd_seeds: int = 8) -> widgets.Explorer:
    """The optimizer explorer: loss against t (figure 0) and the function at step t (figure 1).

    The controls the chosen optimizer does not use (:data:`CONTROLS`) are disabled; figure 0's
    title names the values of those it uses.

    Args:
      data: a :class:`~ntk_helpers.data.Dataset` with 1-D inputs x = (u, 1) (default
        ``regression_1d(16, seed=4, n_grid=101)``).
      net: a one-hidden-layer ``mlp`` without bias (default W_std = √2); its width is the slider's.
      widths: the width slider's values; steps, record_every: the length of every run and the
        records (t moves in steps of ``record_every``).
      optimizer: a key of :data:`OPTIMIZER_LABELS`; eta_fraction: η/η_max for GD, momentum, SGD
        (η_max = 2/λ_max(K) of the network's K at initialisation); beta: β of momentum and SGD;
        batch_size: B of SGD; width, adam_eta: the initial values of the other controls.
      sgd_seeds: SGD runs averaged per setting.
    """
    data = regression_1d(16, seed=4, n_grid=101) if data is None else data
    net = Network("mlp", width=max(widths), depth=1, W_std=2**0.5) if net is None else net
    check_choice("optimizer", optimizer, tuple(OPTIMIZER_LABELS))
    if width not in widths:
        raise ValueError(f"width must be one of widths {tuple(widths)}, got {width}")
    runs = _Runs(net, data, tuple(widths), steps, record_every, sgd_seeds)
    u, ux = data.x_test[:, 0], data.x_train[:, 0]
    times = np.arange(0, steps + 1, record_every)
    # the title has two lines (the setting; a smaller note): the legend goes below them, and the
    # figure grows by as much as the title band, so the plot keeps its height
    loss_fig = plotting.figure("", "step t", "½‖f − y‖² (training points)", log_y=True,
                               height=plotting.DEFAULT_HEIGHT + _TITLE_BAND - 40)
    loss_fig.update_layout(legend_y=1 - _TITLE_BAND / loss_fig.layout.height, margin_t=_TITLE_BAND + 8,
                           title_pad_t=20)
    loss_fig = widgets.live(loss_fig)
    loss_fig.add_scatter(x=times, y=np.ones(len(times)), mode="lines", **plotting.role_line("network"))
    loss_fig.add_scatter(x=times, y=np.ones(len(times)), mode="lines", **plotting.role_line("analytic", name="closed form (linear model)"))
    loss_fig.add_scatter(x=[0], y=[1], mode="markers", name="step t", marker=dict(color="black", size=10))
    f_fig = widgets.live(plotting.figure("", "u", "f(u) at step t"))
    f_fig.add_scatter(x=u, y=data.y_test, mode="lines", **plotting.role_line("target"))
    f_fig.add_scatter(x=ux, y=data.y_train, mode="markers", name="training points",
                      marker=dict(color=plotting.COLORS["data"], size=8))
    f_fig.add_scatter(x=u, y=np.zeros(len(u)), mode="lines", **plotting.role_line("network"))
    f_fig.add_scatter(x=u, y=np.zeros(len(u)), mode="lines", **plotting.role_line("analytic", name="closed form (linear model)"))

    def update(v):
        name = OPTIMIZER_LABELS[v["optimizer"]]
        for control in ("eta", "beta", "batch", "adam_eta"):  # a control that changes nothing is disabled
            controls[control].disabled = control not in CONTROLS[name]
        c = runs.case(name, v["eta"], v["beta"], v["batch"], v["width"], v["adam_eta"])
        i = int(np.argmin(abs(c.steps - v["t"])))
        if not np.all(np.isfinite(c.loss[: i + 1])):
            raise DivergenceError(f"the network diverges by step {v['t']}: {c.setting}")
        loss_fig.data[0].update(x=c.steps, y=c.loss)
        loss_fig.data[1].update(x=c.theory_steps, y=c.theory_loss)
        loss_fig.data[2].update(x=[c.steps[i]], y=[c.loss[i]])
        loss_fig.layout.title.text = c.title
        f_fig.data[0].update(x=u, y=data.y_test)
        f_fig.data[1].update(x=ux, y=data.y_train)
        f_fig.data[2].update(x=u, y=c.f_grid[i])
        j = min(i, len(c.theory_grid) - 1)
        f_fig.data[3].update(x=u, y=c.theory_grid[j])
        diverged = " (the linear model has diverged: last finite step shown)" if j < i else ""
        f_fig.layout.title.text = f"n = {v['width']}, step t = {c.steps[i]}{diverged}"

    controls = {
        "optimizer": ipywidgets.Dropdown(options=list(OPTIMIZER_LABELS), value=optimizer, description="optimizer"),
        "eta": widgets.log_slider("η / η_max (GD, momentum, SGD)", [0.1, 0.25, 0.5, 0.9, 1.2, 1.6, 2.0], eta_fraction,
                                  labels=str),
        "beta": widgets.log_slider("β (momentum, SGD)", [0.0, 0.5, 0.9], beta, labels=str),
        "batch": widgets.log_slider("batch size B (SGD)", [b for b in (1, 2, 4, 8) if b < len(data.y_train)], batch_size,
                                    labels=str),
        "adam_eta": widgets.log_slider("η (Adam, frozen D)", [1e-4, 3e-4, 1e-3, 3e-3], adam_eta),
        "width": widgets.log_slider("width n", list(widths), width, labels=str),
        "t": ipywidgets.IntSlider(value=steps, min=0, max=steps, step=record_every, description="step t"),
    }
    ex = widgets.Explorer(controls, [loss_fig, f_fig], update, title="Optimizers as preconditioners")
    ex.runs = runs
    return ex
