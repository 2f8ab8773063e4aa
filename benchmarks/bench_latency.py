"""How fast do the notebooks' sliders answer? A benchmark script (not a test).

For each ``notebooks/NN_*.ipynb``: execute it in a fresh kernel, then, in that same kernel, find
every ``ntk_helpers.widgets.Explorer`` the notebook created and sweep each of its controls
through its values (every option of a selection slider, ``--points`` values across a numeric
slider), there and back, twice.
The first visit of each value is the warm-up (JIT compilation, caches filling); every later
visit is a steady-state sample.
Per control it prints the median, p95 and max latency of the steady-state samples (seconds from
the value change to the updated figure, as recorded by the explorer), the slowest first visit,
and the number of JAX compilations (XLA backend compiles, counted by
``ntk_helpers.runtime.jax_compilations``) after the warm-up. This is the kernel's side;
``tests/test_browser.py`` measures the same moves in the page, from the key press to the redraw
(``build/browser_latency.json``).

Targets: controls that do not retrain: median ≤ 50 ms, p95 ≤ 150 ms; controls that retrain a
network: median ≤ 300 ms, p95 ≤ 1 s; no compilation after the warm-up.

Usage:
    python benchmarks/bench_latency.py                       # every notebook
    python benchmarks/bench_latency.py --notebooks 02 03     # names containing 02 or 03
    python benchmarks/bench_latency.py --json build/latency.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MARKER = "NTK_LATENCY_RESULT "

# Runs inside the notebook's kernel after the notebook itself; prints one JSON line.
SWEEP_CODE = r'''
def _ntk_latency_sweep(points):
    import json

    import ipywidgets
    import numpy as np

    from ntk_helpers.runtime import jax_compilations, jax_traces
    from ntk_helpers.widgets import Explorer

    def values_of(control):
        if isinstance(control, ipywidgets.widgets.widget_selection._Selection):
            return list(control._options_values)
        if isinstance(control, ipywidgets.FloatLogSlider):
            exps = np.linspace(control.min, control.max, points)
            return [float(control.base ** e) for e in exps]
        if isinstance(control, ipywidgets.IntSlider):
            return sorted({int(round(v)) for v in np.linspace(control.min, control.max, points)})
        if isinstance(control, ipywidgets.FloatSlider):
            step = control.step or (control.max - control.min) / (points - 1)
            grid = np.linspace(control.min, control.max, points)
            snapped = control.min + np.round((grid - control.min) / step) * step
            return sorted({float(min(max(v, control.min), control.max)) for v in snapped})
        if isinstance(control, ipywidgets.Checkbox | ipywidgets.ToggleButton):
            return [False, True]
        return None

    explorers = sorted(Explorer.instances, key=lambda e: e.number)
    rows = []
    for explorer in explorers:
        title = explorer.title or ", ".join(explorer.controls)
        for name, control in explorer.controls.items():
            values = values_of(control)
            row = {"explorer": explorer.number, "title": title, "control": name,
                   "kind": type(control).__name__}
            if not values or len(values) < 2:
                rows.append(dict(row, skipped="not a sweepable control"))
                continue
            start = control.value
            there_and_back = values + values[-2::-1]
            seen, first, steady = set(), [], []
            errors_before = explorer.errors[name]
            warm = None  # (compilations, traces) when the warm-up ended
            for sweep in range(2):
                for value in there_and_back:
                    key = repr(value)
                    if key in seen and warm is None:  # every value visited once: warm-up over
                        warm = (jax_compilations(), jax_traces())
                    seconds = explorer.set(name, value)
                    (steady if key in seen else first).append(seconds)
                    seen.add(key)
            after = (jax_compilations(), jax_traces())
            explorer.set(name, start)
            rows.append(dict(
                row, values=len(values), first=first, steady=steady,
                compiles=0 if warm is None else after[0] - warm[0],
                traces=0 if warm is None else after[1] - warm[1],
                errors=explorer.errors[name] - errors_before,
            ))
    print("NTK_LATENCY_RESULT " + json.dumps(rows))


_ntk_latency_sweep(POINTS)
'''


def _stats(samples):
    import numpy as np

    if not samples:
        return {}
    a = np.asarray(samples) * 1e3
    return {"median_ms": float(np.median(a)), "p95_ms": float(np.percentile(a, 95)),
            "max_ms": float(a.max()), "n": int(a.size)}


def run_notebook(path: Path, *, cell_timeout: int, sweep_timeout: int, points: int):
    """Executes ``path`` and the sweep in one kernel; returns (rows, seconds to execute)."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb, timeout=cell_timeout, kernel_name=nb.metadata.get("kernelspec", {}).get(
            "name", "python3"),
        resources={"metadata": {"path": str(path.parent)}},
    )
    n_cells = len(nb.cells)
    probe = nbformat.v4.new_code_cell(SWEEP_CODE.replace("POINTS", str(points)))
    nb.cells.append(probe)  # nbclient addresses cells by index into the notebook
    with client.setup_kernel():
        start = time.perf_counter()
        for index in range(n_cells):
            client.execute_cell(nb.cells[index], index)
        executed = time.perf_counter() - start
        client.timeout = sweep_timeout
        client.execute_cell(probe, n_cells)
    for output in probe.outputs:
        text = output.get("text", "")
        if output.get("output_type") == "stream" and MARKER in text:
            line = text[text.index(MARKER) + len(MARKER):].splitlines()[0]
            return json.loads(line), executed
    raise RuntimeError(f"{path.name}: the sweep printed no result: {probe.outputs}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notebooks", nargs="*", default=None,
                        help="only notebooks whose file name contains one of these strings")
    parser.add_argument("--notebook-dir", type=Path, default=REPO / "notebooks")
    parser.add_argument("--points", type=int, default=7,
                        help="values swept across a numeric slider's range (default 7)")
    parser.add_argument("--cell-timeout", type=int, default=300,
                        help="seconds per notebook cell (default 300)")
    parser.add_argument("--sweep-timeout", type=int, default=1800,
                        help="seconds for all sweeps of one notebook (default 1800)")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args(argv)
    if args.points < 2:
        parser.error("--points must be at least 2")

    paths = sorted(args.notebook_dir.glob("[0-9][0-9]_*.ipynb"))
    if args.notebooks:
        paths = [p for p in paths if any(s in p.name for s in args.notebooks)]
    if not paths:
        print(f"no notebooks matched in {args.notebook_dir}", file=sys.stderr)
        return 1

    header = (f"{'notebook':<28} {'explorer / control':<34} {'n':>3} {'first max':>9} "
              f"{'median':>8} {'p95':>8} {'max':>8} {'compiles':>8} {'errors':>6}")
    report = []
    failed = False
    for path in paths:
        try:
            rows, executed = run_notebook(path, cell_timeout=args.cell_timeout,
                                          sweep_timeout=args.sweep_timeout, points=args.points)
        except Exception as exc:  # report and go on with the next notebook
            print(f"{path.name}: FAILED: {type(exc).__name__}: {str(exc)[:2000]}")
            report.append({"notebook": path.name, "error": f"{type(exc).__name__}: {exc}"})
            failed = True
            continue
        print(f"\n{path.name}: executed in {executed:.1f} s, {len(rows)} controls"
              " (latencies in ms; first max = slowest first visit, the rest after warm-up)")
        print(header)
        for row in rows:
            label = f"#{row['explorer']} {row['control']} ({row['kind']})"
            if "skipped" in row:
                print(f"{path.name:<28} {label:<34}   skipped: {row['skipped']}")
                report.append(dict(row, notebook=path.name))
                continue
            steady, first = _stats(row["steady"]), _stats(row["first"])
            print(f"{path.name:<28} {label:<34} {row['values']:>3} {first['max_ms']:>9.1f} "
                  f"{steady['median_ms']:>8.1f} {steady['p95_ms']:>8.1f} {steady['max_ms']:>8.1f} "
                  f"{row['compiles']:>8} {row['errors']:>6}")
            report.append(dict(row, notebook=path.name, executed_s=executed,
                               first_stats=first, steady_stats=steady))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=1))
        print(f"\nwrote {args.json}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
