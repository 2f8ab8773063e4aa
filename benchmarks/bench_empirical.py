"""Benchmark: the empirical NTK, by strategy, and the source text's per-pair loop vs one call.

Run:  python benchmarks/bench_empirical.py  [--quick]

1. MLP with 3 hidden layers of width 2048, N = 1024 inputs in d = 10, float32: seconds (after
   compile) and peak memory of each strategy, each measured in its own process. The Jacobian and
   NTK-vector-product strategies would take far longer than the structured one at this size, so
   they are timed on one block pair (the library's default block size) and extrapolated by the
   number of block pairs (printed as such).
2. The source text's example: a two-layer ReLU network, kernel on 50 training × 100 test points.
   Its loop takes one gradient per point per pair (as written, with respect to the parameters);
   a 5 × 5 block of it is timed and extrapolated, and compared with one vectorised call.
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import subprocess
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

from ntk_helpers import data, empirical, models


def _best_of(fn, repeats=3):
    fn()  # compile
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(fn())
        times.append(time.perf_counter() - t0)
    return min(times)


def one_strategy(strategy: str, n: int, width: int, depth: int, d: int) -> dict:
    net = models.mlp(width, depth)
    params = net.init(0, d)
    x = jax.random.normal(jax.random.PRNGKey(1), (n, d))
    # the library's own block size: one block's Jacobian stays under 0.5 GB
    block = n if strategy == "structured" else min(n, empirical.default_block_size(params))
    ntk = empirical.empirical_ntk_fn(net, strategy=strategy, block_size=block)
    xb = x[:block]
    seconds = _best_of(lambda: ntk(params, xb, xb), repeats=1 if strategy != "structured" else 3)
    blocks = math.ceil(n / block) ** 2
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"strategy": strategy, "seconds": seconds * blocks, "extrapolated": blocks > 1,
            "block": block, "peak_mb": peak_mb}


def seed_loop_vs_vectorised() -> dict:
    ds = data.seed_regression(50, 100, seed=0)
    net = models.mlp(512, 1)
    params = net.init(0, 2)
    grad = jax.grad(lambda p, x: net.apply(p, x[None])[0])

    def entry(a, b):  # the source's per-pair loop body: two gradients and a dot product
        ga, gb = grad(params, a), grad(params, b)
        return sum(jnp.vdot(u, v) for u, v in zip(jax.tree_util.tree_leaves(ga), jax.tree_util.tree_leaves(gb)))

    xa, xb = jnp.asarray(ds.x_train[:5]), jnp.asarray(ds.x_test[:5])
    float(entry(xa[0], xb[0]))  # compile once, as the loop would
    t0 = time.perf_counter()
    loop_block = np.array([[float(entry(a, b)) for b in xb] for a in xa])
    per_entry = (time.perf_counter() - t0) / 25
    ntk = empirical.empirical_ntk_fn(net)
    full = lambda: ntk(params, jnp.asarray(ds.x_train), jnp.asarray(ds.x_test))  # noqa: E731
    vec = _best_of(full)
    k = np.asarray(full())
    assert np.allclose(loop_block, k[:5, :5], rtol=1e-4, atol=1e-4), "loop and vectorised kernels differ"
    return {"per_entry_s": per_entry, "loop_extrapolated_s": per_entry * 50 * 100, "vectorised_s": vec,
            "speedup": per_entry * 5000 / vec}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--one", help=argparse.SUPPRESS)
    ap.add_argument("--quick", action="store_true", help="N = 256, width 512 instead of 1024, 2048")
    args = ap.parse_args()
    n, width = (256, 512) if args.quick else (1024, 2048)
    if args.one:
        print(json.dumps(one_strategy(args.one, n, width, 3, 10)))
        return
    print(f"empirical NTK: MLP depth 3, width {width}, N = {n}, d = 10, float32")
    for strategy in ("structured", "ntvp", "jacobian"):
        cmd = [sys.executable, __file__, "--one", strategy] + (["--quick"] if args.quick else [])
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
        r = json.loads(out)
        note = f" (extrapolated from one {r['block']}x{r['block']} block)" if r["extrapolated"] else ""
        print(f"  {strategy:10s} {r['seconds']:9.2f} s  peak RSS {r['peak_mb']:7.0f} MB{note}")
    r = seed_loop_vs_vectorised()
    print("source example, two-layer ReLU (width 512), kernel 50 x 100:")
    print(f"  per-pair loop   {r['per_entry_s'] * 1e3:7.2f} ms per entry -> {r['loop_extrapolated_s']:7.1f} s (extrapolated)")
    print(f"  one call        {r['vectorised_s'] * 1e3:7.2f} ms    speed-up x{r['speedup']:.0f}")


if __name__ == "__main__":
    main()
