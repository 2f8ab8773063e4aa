"""The empirical NTK of any JAX function: K = J Jᵀ, vectorised, jit-compiled and blocked.

For a function f(params, x) with scalar output and pytree ``params``,

    K(x, x′) = Σ_θ ∂f(x)/∂θ · ∂f(x′)/∂θ = ⟨∇_θ f(x), ∇_θ f(x′)⟩,

the alignment of two gradients (Jacot et al. 2018, arXiv:1806.07572). For a vector-valued f the
kernel is averaged over outputs, (1/O) Σ_o J_o J_oᵀ, as neural-tangents does by default.

Three strategies, all exact:

* ``"jacobian"``: build the Jacobians of both batches and contract them (memory N·P).
* ``"ntvp"``: NTK-vector products: the gradients of the second batch are pushed through a JVP of
  the first, so the first batch's Jacobian is never stored.
* ``"structured"``: for models built from a :class:`~ntk_helpers.network.Network` (mlp, resnet,
  cnn1d), the per-layer structure of dense-layer gradients,
  K = Σ_l s_l² (H_{l−1} H′_{l−1}ᵀ) ⊙ (Δ_l Δ′_lᵀ) (+ bias terms), which never forms a per-example
  gradient, and per-example gradients of each convolution (Novak et al. 2022, arXiv:2206.08720).
  ``mlp`` models use a numpy version with nothing to compile (:func:`layer_ntk`). For any other
  function the same rule is read from its jaxpr (:mod:`ntk_helpers._structured_jaxpr`): weights
  used once as ``a @ W`` and biases added as ``z + c·b`` get it, every other leaf goes to
  per-example Jacobian contraction.

``"auto"`` is ``"structured"``: a forward and a backward pass per input (one per output) plus an
N1 × N2 product per layer, against the Jacobian contraction's N·P gradient entries and N1·N2·P
products — the fastest and leanest whenever a function has dense layers, and the Jacobian
contraction itself for a function without any. Like neural-tangents with ``vmap_axes=0``, every
strategy takes example n's output to depend on row n of the inputs only.

Inputs are processed in blocks of ``block_size`` rows padded to a fixed shape, so memory stays
bounded and every block reuses one compiled function. Introduced in notebook 01.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from . import _structured_jaxpr
from .budget import check as check_budget
from .errors import as_float_array, check_choice, check_positive_int
from .models import Model, check_params, forward_with_taps

STRATEGIES = ("auto", "jacobian", "ntvp", "structured")

# Above this many Jacobian entries per block, "auto" splits the inputs into blocks.
_MAX_JACOBIAN_ENTRIES = 2**27  # 0.5 GB of float32


def _flat_jacobian(apply_fn, params, x):
    """(N, O, P) Jacobian of apply_fn(params, x) (output reshaped to (N, O)).

    Per example: ``vmap`` over the inputs of the reverse-mode Jacobian of one example's output,
    O(N·P) work. (``jax.jacrev`` of the whole batch's output would pull each of the N cotangents
    back through all N examples: O(N²·P).)
    """

    def one(xi):
        def f(p):
            return apply_fn(p, xi[None]).reshape(-1)

        jac = jax.jacrev(f)(params)
        leaves = jax.tree_util.tree_leaves(jac)
        return jnp.concatenate([leaf.reshape(leaf.shape[0], -1) for leaf in leaves], axis=-1)  # (O, P)

    return jax.vmap(one)(x)


def _ntk_jacobian(apply_fn, params, x1, x2):
    j1 = _flat_jacobian(apply_fn, params, x1)
    j2 = _flat_jacobian(apply_fn, params, x2)
    return jnp.einsum("nop,mop->nm", j1, j2) / j1.shape[1]


# NTK-vector products pushed through the first batch at a time: bounds the memory of the
# forward-mode pass (activations of x1 for this many tangents) whatever N2 is.
_NTVP_BATCH = 32


def _ntk_ntvp(apply_fn, params, x1, x2):
    """K(x1, x2) column by column: JVPs of f(x1) along the per-example gradients of f(x2).

    The per-example gradients come from a vmap of one example's VJP (O(N2·P); a VJP of the whole
    batch per one-hot cotangent would cost O(N2²·P)); the JVPs run ``_NTVP_BATCH`` tangents at a
    time (``lax.map`` with a batch size), so x1's Jacobian is never stored.
    """
    def one(xi):
        out, vjp = jax.vjp(lambda p: apply_fn(p, xi[None]).reshape(-1), params)
        return jax.vmap(lambda c: vjp(c)[0])(jnp.eye(out.shape[0], dtype=out.dtype))  # O pytrees

    grads = jax.vmap(one)(x2)  # leaves (N2, O, ...)
    n2, n_out = x2.shape[0], jax.tree_util.tree_leaves(grads)[0].shape[1]
    tangents = jax.tree_util.tree_map(lambda g: g.reshape((n2 * n_out,) + g.shape[2:]), grads)

    def column(tangent):
        return jax.jvp(lambda p: apply_fn(p, x1), (params,), (tangent,))[1].reshape(x1.shape[0], n_out)

    cols = jax.lax.map(column, tangents, batch_size=min(_NTVP_BATCH, n2 * n_out))  # (N2·O, N1, O)
    cols = cols.reshape(n2, n_out, x1.shape[0], n_out)
    return jnp.einsum("mono->nm", cols) / n_out


def _layer_parts(net, params, x):
    """Each layer's inputs (what its weights multiply) and the cotangents ∂f/∂z of its output.

    One forward pass records the inputs through :func:`ntk_helpers.models.forward_with_taps`;
    one backward pass of Σ_n f(x_n) with respect to a zero perturbation added to every z gives
    all per-example cotangents at once (example n's output depends on row n only).
    """
    shapes = []

    def probe(i, inputs, z):
        shapes.append(z.shape)
        return z

    jax.eval_shape(lambda p, v: forward_with_taps(net, p, v, probe), params, x)
    zeros = [jnp.zeros(shape, x.dtype) for shape in shapes]

    def total(eps):
        inputs = []

        def tap(i, a, z):
            inputs.append(a)
            return z + eps[i]

        return jnp.sum(forward_with_taps(net, params, x, tap)), inputs

    deltas, inputs = jax.grad(total, has_aux=True)(zeros)
    return inputs, deltas


def _ntk_structured(net, params, x1, x2):
    """K = Σ_layers ⟨∂f(x)/∂W_l, ∂f(x′)/∂W_l⟩ + bias terms, from per-layer inputs and cotangents.

    Dense layer (z = s·aW + c·b): s² (A Aᵀ) ⊙ (Δ Δ′ᵀ) + c² Δ Δ′ᵀ, never forming a per-example
    gradient. Convolution: the per-example gradient s Σ_p patches[p] ⊗ δ[p] (k·c_in·c_out
    numbers, cheaper than the length² position pairs), contracted, plus c² (Σ_p δ)(Σ_p δ′)ᵀ.
    Novak et al. 2022 (arXiv:2206.08720) derive this structure in general.
    """
    a1, d1 = _layer_parts(net, params, x1)
    a2, d2 = _layer_parts(net, params, x2)
    k = jnp.zeros((x1.shape[0], x2.shape[0]), d1[0].dtype)
    for layer, u1, u2, v1, v2 in zip(params, a1, a2, d1, d2):
        if u1.ndim == 2:  # dense
            s, c = net.forward_scales(u1.shape[1])
            dd = v1 @ v2.T
            k = k + (s * s) * (u1 @ u2.T) * dd
        else:  # convolution: patches (N, length, k, c_in), cotangents (N, length, c_out)
            s, c = net.forward_scales(u1.shape[2] * u1.shape[3])
            g1 = jnp.einsum("nlkc,nlo->nkco", u1, v1).reshape(u1.shape[0], -1)
            g2 = jnp.einsum("nlkc,nlo->nkco", u2, v2).reshape(u2.shape[0], -1)
            k = k + (s * s) * (g1 @ g2.T)
            v1, v2 = v1.sum(axis=1), v2.sum(axis=1)
            dd = v1 @ v2.T
        if "b" in layer:
            k = k + (c * c) * dd
    return k


def _pad(x, size):
    n = x.shape[0]
    if n == size:
        return x
    pad = jnp.zeros((size - n,) + x.shape[1:], dtype=x.dtype)
    return jnp.concatenate([x, pad], axis=0)


def _apply_of(model_or_apply):
    apply_fn = model_or_apply.apply if isinstance(model_or_apply, Model) else model_or_apply
    if not callable(apply_fn):
        raise TypeError(f"model_or_apply must be a Model or a callable apply(params, x), got {model_or_apply!r}")
    return apply_fn


def _check_points(name, x, feature_shape=None):
    """x as a JAX array of real numbers with at least one point and finite entries."""
    arr = as_float_array(name, x, ndim=(2, 3, 4), network=True)
    if feature_shape is not None and arr.shape[1:] != tuple(feature_shape):
        raise ValueError(f"{name} must have feature shape {tuple(feature_shape)}, got {arr.shape[1:]}")
    dtype = jax.dtypes.canonicalize_dtype(arr.dtype)  # float32 unless JAX runs in 64 bits
    with np.errstate(over="ignore"):
        if not np.all(np.isfinite(arr.astype(dtype))):
            raise ValueError(f"{name} has entries too large for {dtype} (up to {float(np.max(np.abs(arr))):.3g})")
    return jnp.asarray(arr)


def _check_model_inputs(model_or_apply, params, x, name="x1"):
    """For a Model: params must be its network's, and x (named ``name``) the inputs params expect."""
    if not isinstance(model_or_apply, Model):
        return
    d_in = check_params(model_or_apply.network, params)
    rank = 3 if model_or_apply.network.kind == "cnn1d" else 2
    if x.ndim != rank:
        what = "(N, length, channels)" if rank == 3 else "(N, d_in)"
        raise ValueError(f"{name} must have rank {rank} {what} for a {model_or_apply.network.kind}, got shape {x.shape}")
    if x.shape[-1] != d_in:
        raise ValueError(f"{name} must have last dimension {d_in} (the d_in of params), got shape {x.shape}")


def _finite_kernel(k, x1, x2):
    if not np.all(np.isfinite(k)):
        scale = max(float(jnp.max(jnp.abs(x1))), float(jnp.max(jnp.abs(x2))))
        raise ValueError(f"the empirical NTK overflows {k.dtype} for inputs up to |x| = {scale:.3g}: rescale x1/x2")
    return k


# Rough speeds of this kind of CPU, for refusing work that would take hours (see ntk_helpers.budget).
_GRADIENT_ENTRIES_PER_SECOND = 2e8  # per-example gradient entries (forward + backward)
_CONTRACTION_FLOPS_PER_SECOND = 1e10


def _generic_budget(params, n1, n2):
    p = sum(leaf.size for leaf in jax.tree_util.tree_leaves(params))
    seconds = (n1 + n2) * p / _GRADIENT_ENTRIES_PER_SECOND + 2.0 * n1 * n2 * p / _CONTRACTION_FLOPS_PER_SECOND
    check_budget(f"the empirical NTK of {p:.3g} parameters on {n1} × {n2} points (generic strategy)",
                 seconds=seconds, bytes=8.0 * n1 * n2 + 4.0 * p * min(n1 + n2, default_block_size(params)),
                 fix="use fewer points, a smaller network, or the structured strategy of an mlp model")


def _jaxpr_plan(apply_fn, params, x1, n1, n2, memo):
    """Rows per block for the jaxpr rule, after checking its estimated cost against the budget.

    Per input row the rule holds each dense layer's input and its cotangents (fan_in + O·fan_out
    numbers), O cotangents per bias and O·P_rest Jacobian entries for the other leaves; its work is
    a forward and O backward passes per row plus an N1 × N2 product per stored number. The sizes
    are read from the jaxpr once per parameter and feature shape (``memo``).
    """
    leaves, treedef = jax.tree_util.tree_flatten(params)
    key = (treedef, tuple((np.shape(a), str(getattr(a, "dtype", type(a)))) for a in leaves), tuple(x1.shape[1:]),
           str(x1.dtype))
    if key not in memo:
        plan = _structured_jaxpr.analyse(apply_fn, params, jnp.asarray(x1[:1]))
        outs = int(np.prod(plan.jaxpr.jaxpr.outvars[0].aval.shape[1:], dtype=int))
        eqns = plan.jaxpr.jaxpr.eqns
        memo[key] = (sum(eqns[i].invars[0].aval.shape[1] + outs * eqns[i].outvars[0].aval.shape[1] for i in plan.dense)
                     + sum(outs * eqns[i].outvars[0].aval.shape[1] for i in plan.bias)
                     + outs * sum(leaves[i].size for i in plan.rest)), outs
    per_row, outs = memo[key]
    p = sum(leaf.size for leaf in leaves)
    seconds = (n1 + n2) * 6.0 * p * outs / _CONTRACTION_FLOPS_PER_SECOND + 2.0 * n1 * n2 * per_row / _CONTRACTION_FLOPS_PER_SECOND
    check_budget(f"the empirical NTK of {p:.3g} parameters on {n1} × {n2} points (structured, from the jaxpr)",
                 seconds=seconds, bytes=8.0 * n1 * n2 + 4.0 * per_row * (n1 + n2),
                 fix="use fewer points or a smaller network")
    return max(1, _MAX_JACOBIAN_ENTRIES // max(per_row, 1))


def default_block_size(params) -> int:
    """Rows per block that keep one block's Jacobian (rows × P float32 numbers) under 0.5 GB."""
    p = sum(leaf.size for leaf in jax.tree_util.tree_leaves(params))
    return max(1, _MAX_JACOBIAN_ENTRIES // max(p, 1))


def empirical_ntk_fn(model_or_apply, *, strategy: str = "auto", block_size: int | None = None):
    """Return ``ntk(params, x1, x2=None) -> K`` of shape (N1, N2), jit-compiled once per shape.

    Args:
      model_or_apply: a :class:`~ntk_helpers.models.Model` or any ``apply(params, x)``.
      strategy: ``"auto"`` (= ``"structured"``), ``"jacobian"``, ``"ntvp"`` or ``"structured"``
        (the Network's layer rule for a Model with one output; for any other function the rule read
        from its jaxpr, :mod:`ntk_helpers._structured_jaxpr`).
      block_size: rows per block; ``None`` picks one that keeps a block's Jacobian under 0.5 GB.

    Returns:
      A function of (params, x1 (N1, ...), x2 (N2, ...) or None) returning a numpy array (N1, N2)
      (float64 from the structured strategy, the parameters' precision from the others).

    Example:
      >>> import jax.numpy as jnp
      >>> from ntk_helpers.models import mlp
      >>> net = mlp(width=32, depth=1)
      >>> k = empirical_ntk_fn(net)(net.init(0, 2), jnp.ones((3, 2)))
      >>> k.shape
      (3, 3)
    """
    check_choice("strategy", strategy, STRATEGIES)
    if block_size is not None:
        block_size = check_positive_int("block_size", block_size)
    structured = None
    net = model_or_apply.network if isinstance(model_or_apply, Model) else None
    if net is not None and net.out_dim == 1:
        # mlp: numpy, nothing to compile; resnet, cnn1d: one jit-compiled function per block shape
        structured = partial(_structured_total, net) if net.kind == "mlp" else jax.jit(partial(_ntk_structured, net))
    apply_fn = _apply_of(model_or_apply)
    if strategy == "auto":
        strategy = "structured"
    jaxpr_path = strategy == "structured" and structured is None  # any other function: the rule from its jaxpr
    numpy_path = strategy == "structured" and net is not None and net.kind == "mlp" and not jaxpr_path
    if jaxpr_path:
        block_fn = jax.jit(partial(_structured_jaxpr.kernel, apply_fn, _flat_jacobian))
    elif strategy == "structured":
        block_fn = structured
    else:
        block_fn = jax.jit(partial(_ntk_jacobian if strategy == "jacobian" else _ntk_ntvp, apply_fn))

    memo = {}  # the jaxpr rule's sizes, per parameter and feature shape

    def ntk(params, x1, x2=None):
        x1 = _check_points("x1", x1)
        x2_ = x1 if x2 is None else _check_points("x2", x2, x1.shape[1:])
        _check_model_inputs(model_or_apply, params, x1)
        return _finite_kernel(compute(params, x1, x2, x2_), x1, x2_)

    def compute(params, x1, x2, x2_):
        if numpy_path:
            return block_fn(params, x1, None if x2 is None else x2_)
        n1, n2 = x1.shape[0], x2_.shape[0]
        plan_rows = _jaxpr_plan(apply_fn, params, x1, n1, n2, memo) if jaxpr_path else None
        if strategy != "structured":
            _generic_budget(params, n1, n2)
        size = min(max(n1, n2), block_size or plan_rows or default_block_size(params))
        if n1 <= size and n2 <= size:
            if jaxpr_path and x2 is None:  # K(x, x): the layers' inputs and cotangents once
                return np.asarray(block_fn(params, x1, None))
            return np.asarray(block_fn(params, x1, x2_))
        # Fixed-shape blocks: every block reuses one compiled function.
        rows = []
        for i in range(0, n1, size):
            b1 = _pad(x1[i : i + size], size)
            row = [block_fn(params, b1, _pad(x2_[j : j + size], size)) for j in range(0, n2, size)]
            rows.append(np.concatenate([np.asarray(r) for r in row], axis=1)[: min(size, n1 - i), :n2])
        return np.concatenate(rows, axis=0)

    return ntk


def empirical_ntk(model_or_apply, params, x1, x2=None, **kwargs):
    """One-shot empirical NTK; see :func:`empirical_ntk_fn` (reuse that one in loops).

    Example:
      >>> import jax.numpy as jnp
      >>> from ntk_helpers.models import mlp
      >>> net = mlp(width=16, depth=2)
      >>> k = empirical_ntk(net, net.init(1, 2), jnp.eye(2))
      >>> bool(jnp.allclose(k, k.T))
      True
    """
    return empirical_ntk_fn(model_or_apply, **kwargs)(params, x1, x2)


def jacobian(model_or_apply, params, x):
    """The flattened Jacobian J = ∂f(x)/∂θ of a scalar-output function, shape (N, P).

    The columns follow the order of ``jax.flatten_util.ravel_pytree(params)``.
    """
    apply_fn = _apply_of(model_or_apply)
    x = _check_points("x", x)
    _check_model_inputs(model_or_apply, params, x, "x")
    _generic_budget(params, x.shape[0], 0)
    jac = _flat_jacobian(apply_fn, params, x)
    if not bool(jnp.all(jnp.isfinite(jac))):
        raise ValueError(f"the Jacobian overflows {jac.dtype} for inputs up to |x| = {float(jnp.max(jnp.abs(x))):.3g}")
    if jac.shape[1] != 1:
        raise ValueError(f"jacobian needs a scalar-output function, got {jac.shape[1]} outputs")
    return jac[:, 0, :]


def ntk_row(model_or_apply, params, x0, x):
    """One kernel row K(x0, x_j) for all j, with one VJP and a batch of JVPs (no full Jacobian).

    Args:
      x0: one input, shape (d,) (or the feature shape of the model).
      x: inputs, shape (N, d).

    Returns:
      (N,) array.
    """
    apply_fn = _apply_of(model_or_apply)
    x = _check_points("x", x)
    _check_model_inputs(model_or_apply, params, x, "x")  # x first: x0 is then measured against a valid x
    x0 = as_float_array("x0", x0, ndim=x.ndim - 1, network=True)
    if x0.shape != x.shape[1:]:
        raise ValueError(f"x0 must be one input of shape {x.shape[1:]} (the feature shape of x), got {x0.shape}")
    x0 = _check_points("x0", x0[None])
    row = np.asarray(_ntk_row_jit(apply_fn, params, x0, x))
    return _finite_kernel(row, x0, x)


@partial(jax.jit, static_argnums=0)
def _ntk_row_jit(apply_fn, params, x0, x):
    out, vjp0 = jax.vjp(lambda p: apply_fn(p, x0), params)
    (g0,) = vjp0(jnp.ones_like(out))
    return jax.jvp(lambda p: apply_fn(p, x), (params,), (g0,))[1]


from ._layer_ntk import LayerNTK, _structured_total, layer_ntk  # noqa: E402,F401
