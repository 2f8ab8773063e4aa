"""Kernels that outgrow one process: computed block by block, sharded over JAX devices.

An N × N float64 kernel needs 8 N² bytes: 20 GB at N = 50 000. :func:`kernel_blocks` computes any
kernel block by block: the rows of each block are split over the devices of a
``jax.sharding.Mesh`` (all GPUs, or CPU devices), each finished block is copied to the output —
a numpy array, or a memory-mapped ``.npy`` file that never has to fit in memory — and only one
block lives in device memory at a time. The same code runs on one CPU, on several forced host
devices (``XLA_FLAGS=--xla_force_host_platform_device_count=4``, as the tests do), on several
GPUs, or across hosts after ``jax.distributed.initialize()`` (a mesh over ``jax.devices()``).

Two kernels come ready: :func:`analytic_fn` (the fully connected recursion of
:func:`ntk_helpers.kernels.reference`, in JAX, ReLU/erf/identity closed forms) and
:func:`empirical_fn` (the empirical NTK of a model at fixed parameters).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from .budget import LIMITS
from .errors import check_array, check_positive_int
from .network import Network, as_network

_SNAP = 16 * np.finfo(np.float64).eps


def _angle(rho):
    rho = jnp.clip(rho, -1.0, 1.0)
    rho = jnp.where(rho > 1 - _SNAP, 1.0, jnp.where(rho < -1 + _SNAP, -1.0, rho))
    sin = jnp.sqrt((1 - rho) * (1 + rho))
    return rho, jnp.arctan2(sin, rho), sin


def analytic_fn(net) -> Callable:
    """``fn(x1, x2, same) -> (nngp, ntk)``: the fully connected recursion in JAX, for blocks.

    ``same`` (N1, N2) bool marks pairs of a point with itself (cos γ = 1 exactly there). Runs in
    float64 (call under ``jax.enable_x64(True)``, as :func:`kernel_blocks` does). Equal to
    :func:`ntk_helpers.kernels.analytic` to round-off (tested to 1e-12).
    """
    net = as_network(net)
    if net.kind != "mlp" or net.activation not in ("relu", "erf", "identity"):
        raise ValueError(f"net must be an mlp with relu, erf or identity for the sharded analytic kernel, got {net.name}")
    W2, b2 = net.W_std**2, (net.b_std or 0.0) ** 2

    def fn(x1, x2, same):
        d = x1.shape[1]
        sigma = x1 @ x2.T / d
        q1, q2 = jnp.sum(x1 * x1, 1) / d, jnp.sum(x2 * x2, 1) / d
        a, c = net.kernel_coefficients(d)
        theta = jnp.zeros_like(sigma)
        for layer in range(net.depth + 1):
            theta = a * sigma + c + W2 * theta
            sigma, q1, q2 = W2 * sigma + b2, W2 * q1 + b2, W2 * q2 + b2
            if layer == net.depth:
                return sigma, theta
            s = jnp.sqrt(q1[:, None] * q2[None, :])
            if net.activation == "relu":
                rho, ang, sin = _angle(jnp.where(same, 1.0, jnp.where(s > 0, sigma / jnp.where(s > 0, s, 1.0), 0.0)))
                e, ed = s * (sin + (math.pi - ang) * rho) / (2 * math.pi), (math.pi - ang) / (2 * math.pi)
                q1, q2 = q1 / 2, q2 / 2
            elif net.activation == "erf":
                prod = (1 + 2 * q1[:, None]) * (1 + 2 * q2[None, :])
                e = (2 / math.pi) * jnp.arcsin(jnp.clip(2 * sigma / jnp.sqrt(prod), -1.0, 1.0))
                ed = (4 / math.pi) / jnp.sqrt(prod - 4 * sigma * sigma)
                q1, q2 = (2 / math.pi) * jnp.arcsin(2 * q1 / (1 + 2 * q1)), (2 / math.pi) * jnp.arcsin(2 * q2 / (1 + 2 * q2))
            else:
                e, ed = sigma, jnp.ones_like(sigma)
            theta, sigma = theta * ed, e
            a, c = net.kernel_coefficients(net.width)

    return fn


def empirical_fn(model, params, strategy: str = "auto") -> Callable:
    """``fn(x1, x2, same) -> (ntk, ntk)``: the empirical NTK of ``model`` at ``params``, for blocks.

    (The kernel is returned twice so that :func:`kernel_blocks` handles analytic and empirical
    kernels alike; use the first.)
    """
    from .empirical import _ntk_jacobian, _ntk_structured

    net = getattr(model, "network", None)
    if strategy == "auto":
        strategy = "structured" if isinstance(net, Network) and net.out_dim == 1 else "jacobian"

    def fn(x1, x2, same):
        k = _ntk_structured(net, params, x1, x2) if strategy == "structured" else _ntk_jacobian(model.apply, params, x1, x2)
        return k, k

    return fn


class _NpyWriter:
    """An (n1, n2) ``.npy`` file written tile by tile with positioned writes.

    Unlike a writable memory map, written tiles go to the file (the page cache), not into this
    process's resident memory, so the process holds one block at a time.
    """

    def __init__(self, path, shape, dtype):
        self.path, self.shape, self.dtype = path, shape, np.dtype(dtype)
        header = {"descr": np.lib.format.dtype_to_descr(self.dtype), "fortran_order": False, "shape": shape}
        with open(path, "wb") as f:
            np.lib.format.write_array_header_1_0(f, header)
            self.offset = f.tell()
            f.truncate(self.offset + shape[0] * shape[1] * self.dtype.itemsize)
        self.fd = os.open(path, os.O_WRONLY)

    def __setitem__(self, index, tile):
        rows, cols = index
        tile = np.ascontiguousarray(tile, dtype=self.dtype)
        size = self.dtype.itemsize
        for r, i in enumerate(range(rows.start, rows.stop)):
            os.pwrite(self.fd, tile[r].tobytes(), self.offset + (i * self.shape[1] + cols.start) * size)

    def close(self):
        os.close(self.fd)
        return np.load(self.path, mmap_mode="r")


def kernel_blocks(fn, x1, x2=None, *, mesh: Mesh | None = None, max_block_bytes: float | None = None,
                  out: str | None = None, dtype=np.float64):
    """Compute ``fn`` on all pairs of x1 and x2 block by block, rows sharded over ``mesh``.

    Args:
      fn: ``fn(x1_block, x2_block, same) -> (A, B)``, each (n1, n2) (e.g. :func:`analytic_fn`).
      x1: (N1, …) inputs; x2: (N2, …) or None for x1 with itself.
      mesh: a one-axis ``Mesh`` of devices (default: all of ``jax.devices()``).
      max_block_bytes: memory allowed for one block's two outputs (default: 1/8 of
        :data:`ntk_helpers.budget.LIMITS` ``["bytes"]``); blocks are square-ish, with a row count
        divisible by the number of devices.
      out: a path prefix: the two kernels are written to ``{out}_0.npy`` and ``{out}_1.npy`` as
        memory-mapped files (the full kernels never need to fit in memory); None returns arrays.
      dtype: the outputs' dtype (float64; computation is float64 too).

    Returns:
      (A, B): numpy arrays, or read-only memory maps of the files when ``out`` is given (the
      files are written tile by tile, so the process holds one block at a time).
    """
    x1 = np.asarray(check_array("x1", x1, ndim=(2, 3)), dtype=np.float64)
    x2_ = x1 if x2 is None else np.asarray(check_array("x2", x2, ndim=x1.ndim), dtype=np.float64)
    if x2_.shape[1:] != x1.shape[1:]:
        raise ValueError(f"x2 must have feature shape {x1.shape[1:]}, got {x2_.shape[1:]}")
    mesh = mesh or Mesh(np.array(jax.devices()), ("d",))
    n_dev = mesh.devices.size
    cap = max_block_bytes or LIMITS["bytes"] / 8
    entries = max(int(cap // (2 * 8 * 3)), n_dev)  # two outputs plus temporaries, float64
    side = max(n_dev, int(math.sqrt(entries)) // n_dev * n_dev)
    rows, cols = min(side, -(-len(x1) // n_dev) * n_dev), max(1, min(side, len(x2_), entries // side))
    rows = check_positive_int("rows", rows)
    n1, n2 = len(x1), len(x2_)
    if out is None:
        results = [np.empty((n1, n2), dtype) for _ in range(2)]
    else:
        results = [_NpyWriter(f"{out}_{k}.npy", (n1, n2), dtype) for k in range(2)]
    row_sharding = NamedSharding(mesh, PartitionSpec("d"))
    replicated = NamedSharding(mesh, PartitionSpec())
    with jax.enable_x64(True):
        block = jax.jit(fn, in_shardings=(row_sharding, replicated, row_sharding), out_shardings=(row_sharding, row_sharding))
        for i0 in range(0, n1, rows):
            a = x1[i0 : i0 + rows]
            pad = rows - len(a)
            a = np.concatenate([a, np.zeros((pad,) + a.shape[1:])]) if pad else a
            for j0 in range(0, n2, cols):
                b = x2_[j0 : j0 + cols]
                bpad = cols - len(b)
                b = np.concatenate([b, np.zeros((bpad,) + b.shape[1:])]) if bpad else b
                same = np.zeros((rows, cols), bool)
                if x2 is None:
                    ii, jj = np.arange(i0, i0 + rows)[:, None], np.arange(j0, j0 + cols)[None, :]
                    same = (ii == jj) & (ii < n1)
                pieces = block(jnp.asarray(a), jnp.asarray(b), jnp.asarray(same))
                for res, piece in zip(results, pieces):
                    tile = np.asarray(piece)[: rows - pad, : cols - bpad]
                    res[slice(i0, i0 + rows - pad), slice(j0, j0 + cols - bpad)] = tile
    if out is not None:
        return tuple(res.close() for res in results)
    return tuple(results)
