"""Benchmark: what exact kernel regression with the analytic NTK costs against N, and what Nyström saves.

Notebook 11, section 6, measures a small version of this in the notebook; this is the full sweep.
Training sets are N points drawn from the digits' training pool with Gaussian jitter of 0.5 per
standardised feature (``ntk_helpers.kernel_methods.resample``); the test set is the digits' 540
test points; the kernel is the analytic NTK of a one-hidden-layer ReLU network (W_std = √2,
b_std = 0.1), the ridge 10⁻³ of the mean diagonal.

* **exact**: Θ(X, X) (N × N), Cholesky solve, prediction; N doubling from ``--start`` while the
  next N fits the memory limit and the time left. Each N runs in a fresh process, which reports its
  stage times (best of ``--repeat``), the peak memory numpy held (tracemalloc) and its peak RSS.
  Memory rule: the exact method may use min(``ntk_helpers.budget.LIMITS["bytes"]``, half the
  machine's RAM) (``kernel_methods.memory_limit``); the bytes per kernel entry are measured at the
  largest N run, and the largest N allowed is √(limit / bytes per entry). Beyond the last measured
  N, rows up to that N are extrapolated with the fitted exponents and marked as such.
* **Nyström** with rank m (``--ranks``, 200 and 1000 by default): the same N and beyond, up to
  ``--nystrom-max``, each in a fresh process; its cost grows linearly in N.

Printed: one table (extrapolated rows: times from the fitted exponents, memory from the measured
bytes per entry), the fitted exponents (log-log slope over the measured N ≥ 2000), and for each
rank the crossover: the smallest measured N from which the Nyström method is faster than the
exact one, with both test accuracies there (a fixed rank m has a roughly fixed accuracy, while the
exact method's improves with N).

    python benchmarks/bench_scale.py [--start 1000] [--max-seconds 300] [--ranks 200 1000]
                                     [--nystrom-max 64000] [--repeat 1]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

import numpy as np

HEADER = f"{'method':>14s} {'N':>7s} {'kernel s':>9s} {'solve s':>8s} {'predict s':>9s} {'total s':>8s} " \
         f"{'numpy MiB':>9s} {'RSS MiB':>8s} {'accuracy':>8s}  row"


def child(method: str, n: int, m: int, repeat: int) -> None:
    """Measure one (method, N) in this process and print one line of JSON."""
    import ntk_helpers as nh
    from ntk_helpers import kernel_methods as km

    digits = nh.realdata.load("digits", seed=0)
    net = nh.Network("mlp", width=None, depth=1, W_std=2**0.5, b_std=0.1)
    x, y = km.resample(digits.x_pool, digits.y_pool, n, seed=n)
    if method == "exact":
        cost = km.exact_cost(net, x, y, digits.x_test, repeat=repeat)
    else:
        cost = km.nystrom_cost(net, x, y, digits.x_test, m=m, repeat=repeat)
    print(json.dumps({"kernel": cost.kernel, "solve": cost.solve, "predict": cost.predict, "bytes": cost.peak_bytes,
                      "rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
                      "accuracy": nh.realdata.accuracy(cost.f_test, digits.y_test)}))


def measure(method: str, n: int, m: int, repeat: int) -> dict:
    cmd = [sys.executable, __file__, "--child", method, str(n), str(m), str(repeat)]
    env = dict(os.environ, OPENBLAS_NUM_THREADS=os.environ.get("OPENBLAS_NUM_THREADS", "1"))
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def slope(ns, values) -> float:
    return float(np.polyfit(np.log(ns), np.log(values), 1)[0])


def row(name, n, r, label):
    acc = "" if r.get("accuracy") is None else f"{r['accuracy']:.3f}"
    rss = "" if r.get("rss") is None else f"{r['rss'] / 2**20:8.0f}"
    total = r["kernel"] + r["solve"] + r["predict"]
    print(f"{name:>14s} {n:7d} {r['kernel']:9.3f} {r['solve']:8.3f} {r['predict']:9.3f} {total:8.2f} "
          f"{r['bytes'] / 2**20:9.0f} {rss:>8s} {acc:>8s}  {label}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--start", type=int, default=1000)
    parser.add_argument("--max-seconds", type=float, default=300.0, help="wall-clock cap of the whole sweep")
    parser.add_argument("--ranks", type=int, nargs="+", default=[200, 1000])
    parser.add_argument("--nystrom-max", type=int, default=64000)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        method, n, m, repeat = args.child
        child(method, int(n), int(m), int(repeat))
        return

    from ntk_helpers import kernel_methods as km

    begin, limit = time.perf_counter(), km.memory_limit()
    from ntk_helpers.budget import LIMITS

    ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    print(f"memory limit for the exact method: {limit / 2**30:.2f} GiB = min(ntk_helpers.budget.LIMITS['bytes'] "
          f"{LIMITS['bytes'] / 2**30:.2f} GiB, half the RAM {ram / 2**31:.2f} GiB); "
          f"time cap {args.max_seconds:.0f} s; load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    # the Nyström sweep is about linear in N: reserve a share of the cap for it
    exact_cap = 0.6 * args.max_seconds
    exact, n, per_entry = {}, args.start, 8.0 * 3  # a first guess of bytes per entry, then measured
    while True:
        spent = time.perf_counter() - begin
        if per_entry * n * n > limit:
            break
        if len(exact) >= 2:  # predict this N's wall time from the last two
            ns = sorted(exact)[-2:]
            tot = [exact[k]["kernel"] + exact[k]["solve"] + exact[k]["predict"] for k in ns]
            guess = tot[-1] * (n / ns[-1]) ** slope(ns, tot) * (args.repeat + 1) + 3
            if spent + guess > exact_cap:
                break
        exact[n] = measure("exact", n, 0, args.repeat)
        per_entry = exact[n]["bytes"] / n**2
        n *= 2
    measured = sorted(exact)
    n_max = km.largest_n(per_entry, limit)
    fit_ns = [k for k in measured if k >= 2000] or measured
    exps = {s: slope(fit_ns, [exact[k][s] for k in fit_ns]) for s in ("kernel", "solve", "predict", "bytes")}

    def extrapolate(n):
        last = measured[-1]
        out = {s: exact[last][s] * (n / last) ** exps[s] for s in ("kernel", "solve", "predict")}
        return {**out, "bytes": per_entry * n * n}  # the memory rule, not the fitted exponent

    nys = {m: {} for m in args.ranks}
    sizes = sorted(set(measured) | {measured[-1] * 2**k for k in range(1, 8) if measured[-1] * 2**k <= args.nystrom_max})
    for m in args.ranks:
        for n in sizes:
            if n >= m and time.perf_counter() - begin < args.max_seconds:
                nys[m][n] = measure("nystrom", n, m, args.repeat)

    print(HEADER)
    for n in sizes + ([n_max] if n_max not in sizes else []):
        if n in exact:
            row("exact", n, exact[n], "measured")
        elif n <= n_max:
            row("exact", n, extrapolate(n), "extrapolated (fitted exponents)")
        for m in args.ranks:
            if n in nys[m]:
                row(f"Nyström m={m}", n, nys[m][n], "measured")
    print(f"largest N for the exact method within {limit / 2**30:.2f} GiB: {n_max} "
          f"({per_entry:.1f} bytes per kernel entry, measured at N = {measured[-1]})")
    print("fitted exponents of the exact method (N ≥ 2000 measured): "
          + ", ".join(f"{s} {e:.2f}" for s, e in exps.items()))
    for m in args.ranks:
        ns = [k for k in sorted(nys[m]) if k >= 2000]
        if len(ns) >= 2:
            total = [nys[m][k]["kernel"] + nys[m][k]["solve"] + nys[m][k]["predict"] for k in ns]
            print(f"Nyström m={m}: time exponent {slope(ns, total):.2f}, memory exponent "
                  f"{slope(ns, [nys[m][k]['bytes'] for k in ns]):.2f} (N ≥ 2000)")
        faster = [k for k in measured if k in nys[m] and all(
            sum(nys[m][j][s] for s in ("kernel", "solve", "predict")) < sum(exact[j][s] for s in ("kernel", "solve", "predict"))
            for j in measured if j >= k and j in nys[m])]
        if faster:
            k = faster[0]
            print(f"Nyström m={m} is faster than the exact method from N = {k} on (measured); test accuracy there "
                  f"{nys[m][k]['accuracy']:.3f} against {exact[k]['accuracy']:.3f}")
        else:
            print(f"Nyström m={m} is not faster than the exact method at any measured N")
    print(f"sweep took {time.perf_counter() - begin:.0f} s wall")


if __name__ == "__main__":
    main()
