"""Real gradient descent on ½‖f − y‖²: a jit-compiled loop with early divergence detection.

Re-exported by :mod:`ntk_helpers.dynamics`, which holds the closed forms it is checked against
(conventions in CONVENTIONS.md: summed loss, η the learning rate, t in steps). Introduced in
notebook 01.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .errors import DivergenceError, as_float_array, check_positive, check_positive_int

__all__ = ["Trajectory", "linearize", "train", "train_linearized"]


class Trajectory(NamedTuple):
    """A recorded training run.

    Attributes:
      steps: (T,) the step counts at which the state was recorded (starting at 0).
      loss: (T,) ½‖f − y‖² on the training set.
      f_train: (T, N) outputs on the training inputs.
      f_eval: (T, M) outputs on ``x_eval`` (None when not requested).
      params: the final parameters.
    """

    steps: np.ndarray
    loss: np.ndarray
    f_train: np.ndarray
    f_eval: np.ndarray | None
    params: object


def linearize(apply_fn: Callable, params0) -> Callable:
    """The first-order Taylor model f_lin(θ, x) = f(θ₀, x) + J(x)(θ − θ₀), via one JVP.

    Example:
      >>> import jax.numpy as jnp
      >>> from ntk_helpers.models import mlp
      >>> net = mlp(width=8, depth=1)
      >>> p0 = net.init(0, 2)
      >>> f_lin = linearize(net.apply, p0)
      >>> bool(jnp.allclose(f_lin(p0, jnp.ones((3, 2))), net.apply(p0, jnp.ones((3, 2)))))
      True
    """
    if not callable(apply_fn):
        raise TypeError(f"apply_fn must be callable apply(params, x), got {apply_fn!r}")

    def apply_lin(params, x):
        return _linear_apply(apply_fn, params0, params, x)

    return apply_lin


def _linear_apply(apply_fn, params0, params, x):
    delta = jax.tree_util.tree_map(lambda a, b: a - b, params, params0)
    f0, df = jax.jvp(lambda p: apply_fn(p, x), (params0,), (delta,))
    return f0 + df


# Divergence rule (see train's docstring). Monitor state: step t, step of divergence (−1: none),
# reason, loss at step 0, running minimum and its step, loss at the previous step.
_BLOWUP, _GROWTH, _FLOOR = 1e8, 2.0, 1e-6


@partial(jax.jit, static_argnames=("apply_fn", "n_records", "every", "linear"))
def _train_chunk(apply_fn, params0, params, x, y, lr, x_eval, state, *, n_records, every, linear):
    """``n_records × every`` steps of gradient descent from ``params``; records after every ``every``."""

    def f(p, inp):
        return _linear_apply(apply_fn, params0, p, inp) if linear else apply_fn(p, inp)

    def loss_fn(p):
        r = f(p, x) - y
        return 0.5 * jnp.sum(r * r)

    half_y2 = 0.5 * jnp.sum(y * y)

    def live(p, st):
        t, bad, why, loss0, lmin, tmin, _ = st
        loss, g = jax.value_and_grad(loss_fn)(p)
        loss = loss.astype(loss0.dtype)
        loss0 = jnp.where(t == 0, loss, loss0)
        scale = jnp.maximum(jnp.maximum(loss0, half_y2), jnp.finfo(loss.dtype).tiny)
        grows = linear & (loss > _GROWTH * lmin + _FLOOR * scale)  # a linear model's loss is log-convex in t
        why = jnp.select([~jnp.isfinite(loss), loss > _BLOWUP * scale, grows], [1, 2, 3], 0).astype(jnp.int32)
        bad = jnp.where(why > 0, t, -1).astype(jnp.int32)
        tmin = jnp.where(loss < lmin, t, tmin)
        p = jax.tree_util.tree_map(lambda a, b: a - lr * b, p, g)
        return p, (t + 1, bad, why, loss0, jnp.minimum(lmin, loss), tmin, loss)

    def steps(carry):  # up to ``every`` steps, stopping at the first one that diverges
        def body(c):
            return (*live(c[0], c[1]), c[2] + 1)

        p, st, _ = jax.lax.while_loop(lambda c: (c[2] < every) & (c[1][1] < 0), body, (*carry, 0))
        return p, st

    def outputs(p, inp, name):  # shapes are checked while tracing, i.e. once per compilation
        try:
            out = f(p, inp)
        except (TypeError, ValueError) as exc:  # the model refuses these inputs or parameters: say where
            raise type(exc)(f"apply_fn(params, {name}) fails: {exc}") from None
        if getattr(out, "shape", None) != inp.shape[:1] or not jnp.issubdtype(out.dtype, jnp.floating):
            raise ValueError(f"apply_fn(params, {name}) must return a float array of shape {inp.shape[:1]}, got "
                             f"{getattr(out, 'shape', out)} {getattr(out, 'dtype', '')}")
        return out

    def record(p):
        fx = outputs(p, x, "x_train")
        r = fx - y
        return 0.5 * jnp.sum(r * r), fx, outputs(p, x_eval, "x_eval") if x_eval is not None else None

    def skipped(p):  # after a divergence: placeholders, never returned
        return jax.tree_util.tree_map(lambda s: jnp.zeros(s.shape, s.dtype), jax.eval_shape(record, p))

    def chunk(carry, _):
        carry = steps(carry)
        return carry, jax.lax.cond(carry[1][1] >= 0, skipped, record, carry[0])

    first = record(params)
    (params, state), recs = jax.lax.scan(chunk, (params, state), None, length=n_records)
    return params, state, first, recs


def _check_params(params):
    leaves = jax.tree_util.tree_leaves(params)
    for i, leaf in enumerate(leaves):
        a = np.asarray(leaf)
        if a.dtype.kind != "f":
            raise TypeError(f"params must hold floating-point arrays, leaf {i} has dtype {a.dtype}")
        if not np.all(np.isfinite(a)):
            raise ValueError(f"params contain NaN or infinite values (leaf {i} of shape {a.shape}): "
                             "training cannot start from them")
    return leaves


def _chunk_steps(steps, record_every, chunk_steps, progress):
    if progress is not None and not callable(progress):
        raise TypeError(f"progress must be callable progress(done, total) or None, got {progress!r}")
    records = steps // record_every
    if chunk_steps is None:  # one run, or about 10 equal chunks when progress is reported
        return steps if progress is None else record_every * (records // max(
            c for c in range(1, min(records, 10) + 1) if records % c == 0))
    chunk_steps = check_positive_int("chunk_steps", chunk_steps)
    if chunk_steps % record_every or steps % chunk_steps:
        raise ValueError(f"chunk_steps ({chunk_steps}) must be a multiple of record_every ({record_every}) "
                         f"and divide steps ({steps})")
    return chunk_steps


def _train(apply_fn, params, x_train, y_train, learning_rate, steps, record_every, x_eval, linear,
           chunk_steps, progress):
    if not callable(apply_fn):
        raise TypeError(f"apply_fn must be callable apply(params, x), got {apply_fn!r}")
    steps = check_positive_int("steps", steps)
    record_every = check_positive_int("record_every", record_every)
    if steps % record_every:
        raise ValueError(f"steps ({steps}) must be a multiple of record_every ({record_every})")
    chunk = _chunk_steps(steps, record_every, chunk_steps, progress)
    eta = check_positive("learning_rate", learning_rate)
    x = as_float_array("x_train", x_train, ndim=(2, 3), network=True)
    y = as_float_array("y_train", y_train, ndim=1)
    if y.shape[0] != x.shape[0]:
        raise ValueError(f"y_train must have {x.shape[0]} entries (one per row of x_train), got {y.shape[0]}")
    xe = None
    if x_eval is not None:
        xe = as_float_array("x_eval", x_eval, ndim=x.ndim, network=True)
        if xe.shape[1:] != x.shape[1:]:
            raise ValueError(f"x_eval must have feature shape {x.shape[1:]} like x_train, got {xe.shape[1:]}")
    leaves = _check_params(params)
    # y and η in the floating type the network computes in: never truncated to an integer x's type
    dtype = jax.dtypes.canonicalize_dtype(np.result_type(x.dtype, *(leaf.dtype for leaf in leaves)))
    half_y2 = float(0.5 * np.sum(y * y))
    x, y, xe = (None if a is None else np.asarray(a, dtype) for a in (x, y, xe))  # numpy: no device dispatch here
    state = (np.int32(0), np.int32(-1), np.int32(0), dtype.type(0), dtype.type(np.inf), np.int32(0), dtype.type(0))
    p, parts = params, []
    for done in range(chunk, steps + 1, chunk):
        p, state, first, recs = _train_chunk(apply_fn, params, p, x, y, dtype.type(eta), xe, state,
                                             n_records=chunk // record_every, every=record_every, linear=linear)
        state = tuple(np.asarray(v) for v in jax.device_get(state))
        parts.append(jax.device_get((first, recs)))
        if state[1] >= 0:
            break
        if progress is not None:
            progress(done, steps)
    _check_divergence(state, parts[-1][1][0][-1], steps, eta, half_y2)
    first = parts[0][0]
    loss, fx, fe = (None if first[i] is None else np.concatenate([first[i][None]] + [r[1][i] for r in parts])
                    for i in range(3))
    return Trajectory(np.arange(0, steps + 1, record_every), loss, fx, fe, p)


def _check_divergence(state, final_loss, steps, eta, half_y2):
    _, bad, why, loss0, lmin, tmin, last = (v.item() for v in state)
    final_loss = float(final_loss)
    if bad == 0 and why == 1:
        raise ValueError("the loss at the initial parameters is not finite: apply_fn(params, x_train) overflows "
                         "(check the scale of x_train, y_train and params)")
    if bad >= 0:
        msg = {1: f"the loss is not finite at step {bad}",
               2: f"the loss grew from {loss0:.3g} to {last:.3g} (over {_BLOWUP:.0e} times its start) by step {bad}",
               3: f"the linearised model's loss grew from its minimum {lmin:.3g} (step {tmin}) to {last:.3g} at "
                  f"step {bad}; a linear model's loss only ever grows when η is above 2/λ_max of its kernel"}[why]
        raise DivergenceError(f"training diverges: {msg} (η = {eta:.4g} is too large)", step=bad)
    scale = max(loss0, half_y2, np.finfo(np.float64).tiny)
    if not np.isfinite(final_loss) or final_loss > _BLOWUP * scale or (
            final_loss > loss0 + _FLOOR * scale and final_loss > last):
        raise DivergenceError(
            f"training diverges: at the end of the run (step {steps}) the loss {final_loss:.3g} is above its start "
            f"{loss0:.3g} and still growing (η = {eta:.4g} is too large; a catapult that has not come back down yet "
            "looks the same: train longer to tell)", step=steps)


def train(apply_fn, params, x_train, y_train, *, learning_rate, steps, record_every=1, x_eval=None,
          chunk_steps=None, progress=None) -> Trajectory:
    """Full-batch gradient descent on ½‖f − y‖², θ ← θ − η ∇L, as one jit-compiled loop.

    Divergence is detected inside the compiled loop, from the loss Lₜ at every step (not only at
    the records), and the remaining steps are skipped, so a run that blows up at step 10 of
    20 000 returns at once. :class:`~ntk_helpers.errors.DivergenceError` (with the step in its
    message and ``.step``) is raised when

    * Lₜ is not finite, or Lₜ > 10⁸ · s, where s = max(L₀, ½‖y‖²);
    * (linearised model only) Lₜ > 2 · min_{τ≤t} L_τ + 10⁻⁶ s: gradient descent on a linear model
      has a loss Σᵢ cᵢ² (1 − ηλᵢ)^{2t} that is log-convex in t, so once it grows it grows for ever,
      and it grows only if ηλ_max > 2 (this catches the slow runaway just above 2/λ_max);
    * at the end of the run, L_T > L₀ + 10⁻⁶ s and L_T > L_{T−1}: the loss is above its start
      and still growing.

    A real network's catapult (Lewkowycz et al. 2020, arXiv:2003.02218: for η between 2/λ_max and
    a few times that, the loss of a wide network first grows, here by up to ~10³, while its kernel
    shrinks, and then converges) is not flagged, unless the run ends while the loss is still above
    its start and growing: train longer to tell the two apart.
    A non-finite loss at step 0 (overflowing inputs) is a ``ValueError``.

    Compiled once per (apply_fn, shapes, chunk length, record_every): the learning rate is a
    traced argument, so changing it does not recompile.

    Args:
      apply_fn: ``apply(params, x) -> (N,)``; params: the initial parameters (finite floats).
      x_train: (N, d) (or (N, length, c) for a CNN); integer or boolean inputs become float32.
      y_train: (N,) targets, kept in floating point whatever the dtype of x_train.
      learning_rate: η > 0; steps: number of steps; record_every: record the state every k steps.
      x_eval: optional (M, d) inputs whose outputs are recorded too.
      chunk_steps: run the same compiled loop in chunks of this many steps (a multiple of
        record_every dividing steps); the trajectory is identical to one run.
      progress: optional ``progress(done, total)``, called with the steps done after each chunk
        (about 10 chunks when ``chunk_steps`` is not given).

    Returns:
      A :class:`Trajectory` with steps//record_every + 1 records (step 0 included).

    Raises:
      DivergenceError: see above. ValueError, TypeError: bad arguments, named.
    """
    return _train(apply_fn, params, x_train, y_train, learning_rate, steps, record_every, x_eval, False,
                  chunk_steps, progress)


def train_linearized(apply_fn, params, x_train, y_train, *, learning_rate, steps, record_every=1, x_eval=None,
                     chunk_steps=None, progress=None) -> Trajectory:
    """Gradient descent on the linearisation of ``apply_fn`` around ``params``; see :func:`train`.

    The trajectory's ``params`` are θ of the linear model f_lin(θ, x) = f(θ₀, x) + J(x)(θ − θ₀).
    Same arguments, records and divergence rules as :func:`train`.
    """
    return _train(apply_fn, params, x_train, y_train, learning_rate, steps, record_every, x_eval, True,
                  chunk_steps, progress)

