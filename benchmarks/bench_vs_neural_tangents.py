"""This package and neural-tangents side by side, on the same work, in one run.

Run:  python benchmarks/bench_vs_neural_tangents.py [--rounds 3] [--only NAME ...] [--scaling]

neural-tangents 0.6.5 needs jax 0.5 (it does not import with current JAX), so it runs in a
throw-away environment that this script creates once (``build/nt-venv``: jax/jaxlib 0.5.3 and
neural-tangents 0.6.5 without its TensorFlow-only ``experimental`` subpackage, which is stubbed).
Every measurement runs in a fresh subprocess (one library, one case), the two libraries
alternate, and each case is repeated ``--rounds`` times; the table gives the median seconds of
the work after one warm-up call (compilation excluded for both; work under 0.1 s is repeated for
up to 1 s and its median call taken), the peak resident memory of the process, and the ratio of medians (neural-tangents / this package: > 1 means this package is faster).

``--scaling`` adds this package's cost against N (1000 … 8000) for the analytic kernels and the
closed-form predictions (t = ∞: one Cholesky solve; 20 finite times: one eigen-decomposition),
with the fitted exponents of time and of the memory above the imports.
"""

from __future__ import annotations

import argparse
import functools
import json
import pathlib
import resource
import statistics
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
NT_VENV = ROOT / "build" / "nt-venv"

CASES = {
    "fc-relu-d5-N2000": "analytic FC ReLU depth 5, N = 2000, d = 10, NNGP+NTK float64",
    "fc-relu-d5-N5000": "analytic FC ReLU depth 5, N = 5000, d = 10, NNGP+NTK float64",
    "fc-erf-d3-N2000": "analytic FC erf depth 3, N = 2000, d = 10, NNGP+NTK float64",
    "emp-mlp-3x2048-N1024": "empirical NTK, MLP 3 × 2048, N = 1024, float32",
    "emp-mlp-3x512-N2048": "empirical NTK, MLP 3 × 512, N = 2048, float32",
    "emp-resnet-3x256-N256": "empirical NTK, residual MLP 3 blocks × 256, N = 256, float32",
    "emp-plain-resnet-3x256-N256": "empirical NTK of the same residual MLP as a plain JAX function, best strategy each",
    "predict-N3000-M1000-x20": "gradient_descent_mse, N = 3000 train, M = 1000 test, 20 calls",
    "predict-N3000-M1000-inf": "gradient_descent_mse, N = 3000 train, M = 1000 test, t = ∞",
}


# --------------------------------------------------------------------------- the work, both sides


def _inputs(n, d=10, seed=0):
    import numpy as np

    return np.random.default_rng(seed).normal(size=(n, d))


def _timed(fn, warmup=True):
    """Seconds of one call of ``fn``: the median of repeated calls when one takes under 0.1 s."""
    import statistics

    import jax

    if warmup:
        jax.block_until_ready(fn())
    times = []
    while not times or (sum(times) < 1.0 and len(times) < 25 and times[0] < 0.1):
        t0 = time.perf_counter()
        jax.block_until_ready(fn())
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _ours(case):
    import numpy as np

    from ntk_helpers import dynamics, empirical, kernels, models
    from ntk_helpers.network import Network

    if case.startswith("fc-"):
        act, depth, n = ("relu", 5, int(case.split("N")[-1])) if "relu" in case else ("erf", 3, 2000)
        net = Network(width=None, depth=depth, activation=act, W_std=1.5, b_std=0.1)
        x = _inputs(n)
        return _timed(lambda: kernels.analytic(net, x), warmup=False)
    if case.startswith("emp-mlp"):
        width, n = (2048, 1024) if "2048" in case else (512, 2048)
        model = models.mlp(width, 3, W_std=1.5, b_std=0.1)
        params, x = model.init(0, 10), _inputs(n).astype(np.float32)
        fn = empirical.empirical_ntk_fn(model)
        return _timed(lambda: fn(params, x))
    if case.startswith("emp-resnet"):
        model = models.resnet(256, 3, W_std=1.5, b_std=0.1)
        params, x = model.init(0, 10), _inputs(256).astype(np.float32)
        fn = empirical.empirical_ntk_fn(model)
        return _timed(lambda: fn(params, x))
    if case.startswith("emp-plain"):  # a function not built from a Network: no structure to exploit
        params, apply_fn = _plain_resnet()
        x = _inputs(256).astype(np.float32)
        fn = empirical.empirical_ntk_fn(apply_fn)  # auto: structured, read from the jaxpr (the best here)
        return _timed(lambda: fn(params, x))
    if case.startswith("predict"):
        k, y, kt = _prediction_problem()
        f0, ft0 = np.zeros(len(y)), np.zeros(len(kt))

        def run():
            predict = dynamics.gradient_descent_mse(k, y, learning_rate=1.0 / np.trace(k))
            return [predict(t, f0, ft0, kt).test for t in _times(case)]

        return _timed(run, warmup=False)
    raise ValueError(case)


def _plain_resnet(width=256, blocks=3, d=10):
    """The residual MLP of the resnet cases written directly in jax.numpy: (params, apply)."""
    import jax.numpy as jnp
    import numpy as np

    rng = np.random.default_rng(0)
    shapes = [(d, width)] + [(width, width)] * blocks + [(width, 1)]
    params = [dict(W=jnp.asarray(rng.normal(size=s), jnp.float32), b=jnp.asarray(rng.normal(size=s[1]), jnp.float32))
              for s in shapes]

    def apply(p, x):
        h = x @ p[0]["W"] * (1.5 / d**0.5) + 0.1 * p[0]["b"]
        for layer in p[1:-1]:
            h = h + jnp.maximum(h, 0) @ layer["W"] * (1.5 / width**0.5) + 0.1 * layer["b"]
        return jnp.maximum(h, 0) @ p[-1]["W"] * (1.5 / width**0.5) + 0.1 * p[-1]["b"]

    return params, apply


def _times(case):
    import numpy as np

    return [np.inf] if case.endswith("inf") else np.geomspace(1, 1e4, 20)


def _prediction_problem():
    import numpy as np

    rng = np.random.default_rng(0)
    x = rng.normal(size=(4000, 10))
    g = x @ x.T / 10
    k = np.exp(g - 1)  # a dense, well-conditioned positive-definite kernel
    return k[:3000, :3000] + 1e-3 * np.eye(3000), np.sin(x[:3000, 0]), k[3000:, :3000]


def _nt(case):
    import types

    sys.modules["neural_tangents.experimental"] = types.ModuleType("neural_tangents.experimental")
    import jax

    jax.config.update("jax_enable_x64", case.startswith(("fc-", "predict")))
    import jax.interpreters.ad as ad
    import jax.numpy as jnp
    from jax._src import source_info_util

    ad.source_info_util = source_info_util  # structured derivatives expect these two there (gone in jax 0.4.26)
    ad.config = jax.config
    import neural_tangents as nt
    import numpy as np
    from neural_tangents import stax

    if case.startswith("fc-"):
        act, depth, n = ("relu", 5, int(case.split("N")[-1])) if "relu" in case else ("erf", 3, 2000)
        layer = stax.Relu if act == "relu" else stax.Erf
        layers = []
        for _ in range(depth):
            layers += [stax.Dense(512, 1.5, 0.1), layer()]
        _, _, kernel_fn = stax.serial(*layers, stax.Dense(1, 1.5, 0.1))
        x = jnp.asarray(_inputs(n))
        return _timed(lambda: kernel_fn(x, None, ("nngp", "ntk")), warmup=False)
    if case.startswith("emp-plain"):
        params, apply_fn = _plain_resnet()
        x = jnp.asarray(_inputs(256), jnp.float32)
        best = []
        for impl in (nt.NtkImplementation.STRUCTURED_DERIVATIVES, nt.NtkImplementation.JACOBIAN_CONTRACTION):
            fn = jax.jit(nt.empirical_ntk_fn(apply_fn, vmap_axes=0, implementation=impl))
            best.append(_timed(lambda fn=fn: fn(x, None, params)))
        return min(best)
    if case.startswith("emp-"):
        if "mlp" in case:
            width, n = (2048, 1024) if "2048" in case else (512, 2048)
            layers = []
            for _ in range(3):
                layers += [stax.Dense(width, 1.5, 0.1), stax.Relu()]
            init_fn, apply_fn, _ = stax.serial(*layers, stax.Dense(1, 1.5, 0.1))
        else:
            n = 256
            block = stax.serial(stax.FanOut(2), stax.parallel(stax.Identity(), stax.serial(stax.Relu(), stax.Dense(256, 1.5, 0.1))), stax.FanInSum())
            init_fn, apply_fn, _ = stax.serial(stax.Dense(256, 1.5, 0.1), block, block, block, stax.Relu(), stax.Dense(1, 1.5, 0.1))
        x = jnp.asarray(_inputs(n), jnp.float32)
        _, params = init_fn(jax.random.PRNGKey(0), x.shape)
        best = []
        for impl in (nt.NtkImplementation.STRUCTURED_DERIVATIVES, nt.NtkImplementation.JACOBIAN_CONTRACTION):
            try:
                fn = jax.jit(nt.empirical_ntk_fn(apply_fn, vmap_axes=0, implementation=impl))
                best.append(_timed(lambda fn=fn: fn(x, None, params)))
            except Exception:  # noqa: BLE001 - a mode that runs out of memory is simply not the best
                continue
        return min(best)
    if case.startswith("predict"):
        k, y, kt = _prediction_problem()
        f0, ft0 = np.zeros((len(y), 1)), np.zeros((len(kt), 1))
        n = len(y)

        def run():  # neural-tangents' loss is 1/(2N)‖f − y‖² and t = η × steps: η_nt = η N
            predict = nt.predict.gradient_descent_mse(k, y[:, None], learning_rate=n / np.trace(k), diag_reg=0.0)
            return [predict(t, f0, ft0, kt)[1] for t in _times(case)]

        return _timed(run, warmup=False)
    raise ValueError(case)


def worker(side, case):
    seconds = (_ours if side == "ours" else _nt)(case)
    print(json.dumps({"seconds": seconds, "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


# --------------------------------------------------------------------------- driver


def ensure_nt_venv() -> pathlib.Path:
    python = NT_VENV / "bin" / "python"
    if python.exists():
        return python
    print(f"creating {NT_VENV} (jax 0.5.3 + neural-tangents 0.6.5; once)", flush=True)
    subprocess.run([sys.executable, "-m", "venv", str(NT_VENV)], check=True)
    pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run(pip + ["jax==0.5.3", "jaxlib==0.5.3", "numpy<2.3", "scipy"], check=True)
    subprocess.run(pip + ["--no-deps", "neural-tangents==0.6.5", "frozendict"], check=True)
    return python


def measure(python, side, case):
    env = {"OPENBLAS_NUM_THREADS": "2", "PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}
    out = subprocess.run([str(python), __file__, "--worker", side, case], capture_output=True, text=True, env=env,
                         timeout=1800)
    if out.returncode:
        return {"error": out.stderr.strip().splitlines()[-1] if out.stderr.strip() else "failed"}
    return json.loads(out.stdout.strip().splitlines()[-1])


def scaling():
    """This package's cost against N for the analytic kernels and the closed-form predictions."""
    import numpy as np

    kinds = {
        "analytic": "r = kernels.analytic(net, x)",
        "predict t=inf": "r = dynamics.gradient_descent_mse(k, x[:, 0], 1.0 / np.trace(k))(np.inf, np.zeros(n))",
        "predict 20 t": "r = dynamics.gradient_descent_mse(k, x[:, 0], 1.0 / np.trace(k))(np.geomspace(1, 1e4, 20), "
                        "np.zeros(n))",
    }
    rows = []
    for kind, work in kinds.items():
        ns, ts, ms = [], [], []
        for n in (1000, 2000, 4000, 8000):
            code = (f"import json, resource, time, numpy as np\n"
                    f"from ntk_helpers import kernels, dynamics\nfrom ntk_helpers.network import Network\n"
                    f"n = {n}; net = Network(width=None, depth=5, W_std=1.5, b_std=0.1)\n"
                    f"x = np.random.default_rng(0).normal(size=(n, 10))\n"
                    f"k = None if '{kind}' == 'analytic' else kernels.analytic(net, x).ntk + 1e-3 * np.eye(n)\n"
                    f"t0 = time.perf_counter()\n{work}\n"
                    f"print(json.dumps([time.perf_counter() - t0, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024]))")
            env = {"OPENBLAS_NUM_THREADS": "2", "PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}
            out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
            t, m = json.loads(out.stdout.strip().splitlines()[-1])
            ns.append(n), ts.append(t), ms.append(m)
            rows.append((kind, n, t, m))
            print(f"  {kind:13s} N = {n:5d}: {t:7.2f} s, peak {m:7.0f} MB", flush=True)
        lt = np.polyfit(np.log(ns[1:]), np.log(ts[1:]), 1)[0]
        lm = np.polyfit(np.log(ns[1:]), np.log(np.array(ms[1:]) - _baseline_mb()), 1)[0]
        print(f"  {kind}: time ∝ N^{lt:.2f}, memory above the imports ∝ N^{lm:.2f} (fitted over N = 2000…8000)",
              flush=True)
    return rows


@functools.cache
def _baseline_mb():
    """Peak RSS of a process that only imports the package (what the memory fit subtracts)."""
    code = ("import resource, numpy as np\nfrom ntk_helpers import kernels, dynamics\n"
            "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    return float(out.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", nargs=2, metavar=("SIDE", "CASE"), help=argparse.SUPPRESS)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--only", nargs="*", choices=sorted(CASES), default=None)
    parser.add_argument("--scaling", action="store_true")
    parser.add_argument("--json", help="write the results to this file")
    args = parser.parse_args()
    if args.worker:
        return worker(*args.worker)
    nt_python = ensure_nt_venv()
    ours_python = ROOT / ".venv" / "bin" / "python"
    results = {}
    for case in args.only or CASES:
        runs = {"ours": [], "nt": []}
        for r in range(args.rounds):
            order = ("ours", "nt") if r % 2 == 0 else ("nt", "ours")
            for side in order:
                runs[side].append(measure(ours_python if side == "ours" else nt_python, side, case))
        summary = {}
        for side, rs in runs.items():
            ok = [x for x in rs if "seconds" in x]
            summary[side] = ({"seconds": statistics.median(x["seconds"] for x in ok),
                              "maxrss_mb": max(x["maxrss_mb"] for x in ok)} if ok else {"error": rs[0]["error"]})
        if "seconds" in summary["ours"] and "seconds" in summary["nt"]:
            summary["ratio"] = summary["nt"]["seconds"] / summary["ours"]["seconds"]
        results[case] = summary
        o, n = summary["ours"], summary["nt"]
        fmt = lambda s: f"{s['seconds']:.3f} s, {s['maxrss_mb']:.0f} MB" if "seconds" in s else s["error"][:40]  # noqa: E731
        print(f"| {CASES[case]} | {fmt(o)} | {fmt(n)} | {summary.get('ratio', float('nan')):.2f} |", flush=True)
    if args.scaling:
        results["scaling"] = scaling()
    if args.json:
        pathlib.Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        pathlib.Path(args.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
