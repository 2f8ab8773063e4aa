"""Structured derivatives for any JAX function, read from its jaxpr (dense layers and biases).

For a weight W used once, as ``z = a @ W`` with a per-example input a (N, fan_in), the gradient
of example n is the outer product a_n ⊗ δ_n with δ_n = ∂f_n/∂z_n, so its share of the kernel is

    K_W(x, x′) = (A A′ᵀ) ⊙ (Δ Δ′ᵀ),

an N1 × N2 product per layer instead of N·|W| per-example gradients (the rule neural-tangents'
structured derivatives apply, Novak et al. 2022, arXiv:2206.08720); a bias b added as
``z + c·b`` (through a scalar factor and a broadcast to a row) contributes c² Δ Δ′ᵀ.
:func:`analyse` finds them in the function's jaxpr: a parameter leaf of rank 2 whose only use is
the right operand of a ``dot_general`` contracting the last axis of a rank-2 left operand with the
weight's first axis, and a rank-1 leaf whose only use is such a chain into an ``add`` with an
(N, F) operand. Every other parameter leaf (weights used twice, scaled before use, inside nested
calls, convolutions) goes to per-example Jacobian contraction, which for the small leaves usually
left costs little. The inputs a and the cotangents δ come from one forward pass of the jaxpr
(evaluated equation by equation, with a zero added to each such output) and one backward pass per
output of Σ_n f_o(x_n). Like every strategy of :mod:`ntk_helpers.empirical` (and neural-tangents'
``vmap_axes=0``), it takes example n's output to depend on row n of x only. Equal to the Jacobian
contraction to round-off (``tests/test_models_empirical.py``). Used by :mod:`ntk_helpers.empirical`
for functions not built from a Network.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax.extend import core as jex_core


class Plan(NamedTuple):
    """Which leaves are dense weights or biases (their equation index) and which are left to the Jacobian."""

    jaxpr: object  # ClosedJaxpr of apply(params_leaves..., x)
    dense: dict  # equation index of z = a @ W -> leaf index of W
    bias: dict  # equation index of z + c·b -> (leaf index of b, c)
    rest: tuple  # leaf indices handled by per-example Jacobians

    @property
    def taps(self) -> list:
        """The equations whose outputs get a zero added (to read their cotangents), in order."""
        return sorted({*self.dense, *self.bias})


def _bias_chain(eqns, users, uses, v, n):
    """Follow a rank-1 leaf through ``c·b`` and a broadcast to a row, into ``z + row`` with z (N, F).

    Returns (equation index of the add, c) or None.
    """
    scale = 1.0
    while uses.get(v, 0) == 1:
        i = users[v]
        eqn, others = eqns[i], [u for u in eqns[i].invars if u is not v]
        name = eqn.primitive.name
        if name == "mul" and len(others) == 1 and isinstance(others[0], jex_core.Literal) and others[0].aval.shape == ():
            scale *= float(others[0].val)
        elif name == "broadcast_in_dim" and eqn.outvars[0].aval.shape == (1, v.aval.shape[-1]) and v.aval.ndim == 1:
            pass
        elif (name == "add" and len(others) == 1 and not isinstance(others[0], jex_core.Literal)
              and v.aval.ndim == 2 and v.aval.shape[0] == 1 and others[0].aval.shape == (n, v.aval.shape[1])):
            return i, scale
        else:
            return None
        v = eqn.outvars[0]
    return None


def analyse(apply_fn, params, x) -> Plan:
    """The jaxpr of ``apply_fn(params, x)`` and its dense-weight leaves."""
    leaves, treedef = jax.tree_util.tree_flatten(params)

    def flat(*args):
        return apply_fn(jax.tree_util.tree_unflatten(treedef, args[:-1]), args[-1])

    closed = jax.make_jaxpr(flat)(*leaves, x)
    invars = closed.jaxpr.invars
    leaf_of = {v: i for i, v in enumerate(invars[:-1])}
    uses, users = {}, {}  # how often each variable is read, and by which equation (the last one)
    for i, eqn in enumerate(closed.jaxpr.eqns):
        for v in eqn.invars:
            if not isinstance(v, jex_core.Literal):
                uses[v], users[v] = uses.get(v, 0) + 1, i
    for v in closed.jaxpr.outvars:
        if not isinstance(v, jex_core.Literal):
            uses[v] = uses.get(v, 0) + 2  # an output is never a private intermediate
    dense = {}
    for i, eqn in enumerate(closed.jaxpr.eqns):
        if eqn.primitive.name != "dot_general" or len(eqn.invars) != 2:
            continue
        lhs, rhs = eqn.invars
        if isinstance(rhs, jex_core.Literal) or rhs not in leaf_of or uses.get(rhs, 0) != 1:
            continue
        if isinstance(lhs, jex_core.Literal) or lhs in leaf_of:
            continue
        (contract, batch) = eqn.params["dimension_numbers"]
        if rhs.aval.ndim == 2 and lhs.aval.ndim == 2 and contract == ((1,), (0,)) and batch == ((), ()):
            dense[i] = leaf_of[rhs]
    bias = {}
    for v, leaf in leaf_of.items():
        if v.aval.ndim == 1 and uses.get(v, 0) == 1:
            found = _bias_chain(closed.jaxpr.eqns, users, uses, v, x.shape[0])
            if found is not None and found[0] not in dense and found[0] not in bias:
                bias[found[0]] = (leaf, found[1])
    rest = tuple(sorted(set(range(len(leaves))) - set(dense.values()) - {b for b, _ in bias.values()}))
    return Plan(closed, dense, bias, rest)


def _run(plan: Plan, leaves, x, eps):
    """Evaluate the jaxpr; returns (output, inputs a of each dense product), eps added to their outputs."""
    jaxpr, env, taps = plan.jaxpr.jaxpr, {}, []

    def read(v):
        return v.val if isinstance(v, jex_core.Literal) else env[v]

    for v, c in zip(jaxpr.constvars, plan.jaxpr.consts):
        env[v] = c
    for v, val in zip(jaxpr.invars, (*leaves, x)):
        env[v] = val
    k, tapped = 0, set(plan.taps)
    for i, eqn in enumerate(jaxpr.eqns):
        invals = [read(v) for v in eqn.invars]
        bind = eqn.primitive.get_bind_params(eqn.params)
        subfuns, bind = bind if isinstance(bind, tuple) else ((), bind)  # older JAX: (subfuns, params)
        ctx = getattr(getattr(eqn, "ctx", None), "manager", None)
        if ctx is None:
            out = eqn.primitive.bind(*subfuns, *invals, **bind)
        else:
            with ctx:
                out = eqn.primitive.bind(*subfuns, *invals, **bind)
        if i in plan.dense:
            taps.append(invals[0])
        if i in tapped:
            out = out + eps[k]
            k += 1
        outs = out if eqn.primitive.multiple_results else [out]
        for v, val in zip(eqn.outvars, outs):
            env[v] = val
    return read(jaxpr.outvars[0]), taps


def _parts(plan: Plan, leaves, x):
    """Per dense weight: inputs A (N, fan_in) and cotangents Δ (O, N, fan_out), one per output."""
    zeros = [jnp.zeros(plan.jaxpr.jaxpr.eqns[i].outvars[0].aval.shape, x.dtype) for i in plan.taps]
    out, vjp, taps = jax.vjp(lambda e: _run(plan, leaves, x, e), zeros, has_aux=True)
    out2 = out.reshape(out.shape[0], -1)
    n_out = out2.shape[1]
    cot = jnp.eye(n_out, dtype=out.dtype)[:, None, :].repeat(out.shape[0], 1).reshape((n_out,) + out.shape)
    (deltas,) = jax.vmap(vjp)(cot)  # one (O, N, fan_out) per tapped equation, in plan.taps order
    where = {i: j for j, i in enumerate(plan.taps)}
    return taps, [deltas[where[i]] for i in sorted(plan.dense)], [deltas[where[i]] for i in sorted(plan.bias)]


def kernel(apply_fn, flat_jacobian, params, x1, x2=None):
    """(N1, N2) empirical NTK by the structured rule for dense weights + Jacobians for the rest.

    ``x2=None`` means x2 = x1 (computed once). Traceable (call it under ``jax.jit``): the jaxpr
    is read for each input shape.
    """
    leaves, treedef = jax.tree_util.tree_flatten(params)
    plan1 = analyse(apply_fn, params, x1)
    plan2 = plan1 if x2 is None else analyse(apply_fn, params, x2)
    if list(plan1.dense.values()) != list(plan2.dense.values()):  # the same weights, in the same order
        raise ValueError("apply_fn's dense layers differ between the two input shapes")
    if [b for b, _ in plan1.bias.values()] != [b for b, _ in plan2.bias.values()]:
        raise ValueError("apply_fn's biases differ between the two input shapes")
    a1, d1, e1 = _parts(plan1, leaves, x1)
    a2, d2, e2 = (a1, d1, e1) if x2 is None else _parts(plan2, leaves, x2)
    x2 = x1 if x2 is None else x2
    k = jnp.zeros((x1.shape[0], x2.shape[0]), x1.dtype)
    for a, b, da, db in zip(a1, a2, d1, d2):  # weights: (A A′ᵀ) ⊙ (Δ Δ′ᵀ)
        k = k + (a @ b.T) * jnp.einsum("onf,omf->nm", da, db) / da.shape[0]
    for (_, c), da, db in zip((plan1.bias[i] for i in sorted(plan1.bias)), e1, e2):  # biases: c² Δ Δ′ᵀ
        k = k + c**2 * jnp.einsum("onf,omf->nm", da, db) / da.shape[0]
    if plan1.rest:
        def restricted(sub, x):
            full = list(leaves)
            for i, leaf in zip(plan1.rest, sub):
                full[i] = leaf
            return apply_fn(jax.tree_util.tree_unflatten(treedef, full), x)

        sub = [leaves[i] for i in plan1.rest]
        j1 = flat_jacobian(restricted, sub, x1)
        j2 = j1 if x2 is x1 else flat_jacobian(restricted, sub, x2)
        k = k + jnp.einsum("nop,mop->nm", j1, j2) / j1.shape[1]
    return k
