"""Which factorisation closed-form predictions should use, on this CPU: eigensolvers and Cholesky.

Run:  python benchmarks/bench_eigh.py [--n 3000] [--rounds 2]

Times numpy's ``eigh`` (LAPACK ``syevd``), SciPy's ``eigh`` with the ``evd`` and ``evr`` drivers,
JAX's ``jnp.linalg.eigh`` (float64, compiled once before timing) and SciPy's Cholesky factorisation
on the kernel of ``bench_vs_neural_tangents.py``'s prediction problem, each in a fresh process
(peak memory of the process included). ``ntk_helpers.dynamics`` uses ``evr`` (O(N) workspace) for
finite times and Cholesky for t = ∞.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time

METHODS = ("numpy", "scipy-evd", "scipy-evr", "jax", "cholesky")


def worker(method: str, n: int) -> None:
    import numpy as np
    import scipy.linalg as sl

    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 10))
    k = np.exp(x @ x.T / 10 - 1) + 1e-3 * np.eye(n)
    if method == "jax":
        import jax

        jax.config.update("jax_enable_x64", True)
        import jax.numpy as jnp

        f = jax.jit(jnp.linalg.eigh)
        kj = jnp.asarray(k)
        jax.block_until_ready(f(kj))  # compile

        def run():
            return jax.block_until_ready(f(kj))
    else:
        run = {
            "numpy": lambda: np.linalg.eigh(k),
            "scipy-evd": lambda: sl.eigh(k, driver="evd", check_finite=False),
            "scipy-evr": lambda: sl.eigh(k, driver="evr", check_finite=False),
            "cholesky": lambda: sl.cho_factor(k, check_finite=False),
        }[method]
    t0 = time.perf_counter()
    run()
    seconds = time.perf_counter() - t0
    print(json.dumps({"seconds": seconds, "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args.worker, args.n)
    results = {m: [] for m in METHODS}
    for _ in range(args.rounds):
        for method in METHODS:
            out = subprocess.run([sys.executable, __file__, "--worker", method, "--n", str(args.n)],
                                 capture_output=True, text=True, check=True)
            results[method].append(json.loads(out.stdout.strip().splitlines()[-1]))
    print(f"| factorisation, N = {args.n} | seconds (median of {args.rounds}) | peak MB |")
    print("| --- | --- | --- |")
    for method, runs in results.items():
        print(f"| {method} | {statistics.median(r['seconds'] for r in runs):.2f} | "
              f"{max(r['maxrss_mb'] for r in runs):.0f} |")


if __name__ == "__main__":
    main()
