"""Run every notebook once so that JAX's compilation cache ships in the Binder image.

binder/postBuild runs this (through binder/start, so with the same environment a session
has). Each notebook is executed top to bottom in a fresh kernel, in its own folder, exactly
as a reader would run it; the outputs are thrown away. What stays is the cache that
``nh.setup_notebook()`` points JAX at (``$NTK_JAX_CACHE``, default
``~/.cache/ntk_course/jax``), so a reader's first run finds its compiled functions there.

A notebook that fails or times out is reported and skipped: the image still works, only
colder. ``--strict`` makes any failure the exit status instead.

Usage:
    python binder/warm_up.py [--notebooks DIR] [--timeout SECONDS] [--strict]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def cache_dir() -> Path:
    """The folder ``nh.setup_notebook()`` gives JAX's persistent compilation cache."""
    return Path(os.environ.get("NTK_JAX_CACHE") or Path.home() / ".cache" / "ntk_course" / "jax")


def cache_size() -> tuple[int, int]:
    """(number of files, bytes) in the compilation cache; (0, 0) when it does not exist."""
    files = [p for p in cache_dir().rglob("*") if p.is_file()]
    return len(files), sum(p.stat().st_size for p in files)


def execute(path: Path, timeout: float) -> None:
    """Execute one notebook in a fresh ``python3`` kernel in its folder; keep nothing.

    Args:
      path: the .ipynb file.
      timeout: seconds one cell may run before it is interrupted (finite: a kernel that
        stops answering must not hang the image build).
    """
    import nbformat
    from nbclient import NotebookClient

    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(
        notebook,
        timeout=timeout,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
    )
    client.execute()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notebooks", type=Path, default=ROOT / "notebooks")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per cell")
    parser.add_argument("--strict", action="store_true", help="exit 1 if a notebook fails")
    args = parser.parse_args(argv)
    if not args.timeout > 0:
        parser.error(f"--timeout must be positive, got {args.timeout}")
    notebooks = sorted(args.notebooks.glob("[0-9][0-9]_*.ipynb"))
    if not notebooks:
        parser.error(f"no NN_*.ipynb notebooks in {args.notebooks}")

    failed = []
    start = time.perf_counter()
    for path in notebooks:
        began = time.perf_counter()
        try:
            execute(path, args.timeout)
        except Exception as error:  # noqa: BLE001 - any failure: report it, warm the rest
            failed.append(path.name)
            first_line = (str(error).strip().splitlines() or [type(error).__name__])[-1]
            print(f"warm-up: {path.name} FAILED ({type(error).__name__}: {first_line})")
        else:
            print(f"warm-up: {path.name} ran in {time.perf_counter() - began:.1f} s")
    files, size = cache_size()
    print(
        f"warm-up: {len(notebooks) - len(failed)}/{len(notebooks)} notebooks in "
        f"{time.perf_counter() - start:.0f} s; JAX cache {cache_dir()}: "
        f"{files} files, {size / 1e6:.1f} MB"
    )
    if failed:
        print(f"warm-up: WARNING: not warmed: {', '.join(failed)}")
    return 1 if (failed and args.strict) else 0


if __name__ == "__main__":
    sys.exit(main())
