"""Kernels computed block by block and sharded over JAX devices equal the unsharded ones.

Runs in a subprocess with 4 forced CPU devices (XLA_FLAGS must be set before JAX starts), so the
same code path as on several GPUs is exercised without one.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np

from ntk_helpers import kernels, sharded
from ntk_helpers.network import Network

SCRIPT = textwrap.dedent(
    """
    import json, resource, sys, tempfile
    import jax, numpy as np
    from jax.sharding import Mesh
    from ntk_helpers import empirical, kernels, models, sharded
    from ntk_helpers.network import Network

    assert len(jax.devices()) == 4, jax.devices()
    mesh = Mesh(np.array(jax.devices()), ("d",))
    rng = np.random.default_rng(0)
    x1, x2 = rng.normal(size=(203, 5)), rng.normal(size=(77, 5))
    report = {}
    for net in (Network(width=None, depth=3, W_std=1.4, b_std=0.1), Network(width=None, depth=2, activation="erf")):
        for args in ((x1, None), (x1, x2)):
            want = kernels.analytic(net, *args)
            got = sharded.kernel_blocks(sharded.analytic_fn(net), *args, mesh=mesh, max_block_bytes=2e5)
            for a, b in zip(got, want):
                report.setdefault("analytic", []).append(float(np.abs(a - b).max() / np.abs(b).max()))
    with jax.enable_x64(True):
        for model in (models.resnet(16, 2, b_std=0.2), models.mlp(16, 2)):
            params = models.astype(model.init(0, 5), np.float64)
            want = empirical.empirical_ntk(model, params, x1[:41], x2[:13], strategy="jacobian")
            got = sharded.kernel_blocks(sharded.empirical_fn(model, params), x1[:41], x2[:13], mesh=mesh,
                                        max_block_bytes=5e3)[0]
            report.setdefault("empirical", []).append(float(np.abs(got - want).max() / np.abs(want).max()))
    # a kernel bigger than the cap on one block: written block by block into memory-mapped files
    big = rng.normal(size=(2400, 4))
    with tempfile.TemporaryDirectory() as tmp:
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        nngp, ntk = sharded.kernel_blocks(sharded.analytic_fn(Network(width=None, depth=2)), big, mesh=mesh,
                                          max_block_bytes=4e6, out=tmp + "/k")
        report["maxrss_growth_mb"] = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
        report["kernel_mb"] = 2 * nngp.nbytes / 2**20
        want = kernels.analytic(Network(width=None, depth=2), big[:300], big)
        report["memmap"] = float(max(np.abs(nngp[:300] - want.nngp).max() / np.abs(want.nngp).max(),
                                     np.abs(ntk[:300] - want.ntk).max() / np.abs(want.ntk).max()))
        report["is_memmap"] = isinstance(nngp, np.memmap)
    print(json.dumps(report))
    """
)


def test_sharded_kernels_on_four_forced_devices_equal_unsharded():
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=4", JAX_PLATFORMS="cpu")
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    import json

    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert max(report["analytic"]) < 1e-12, report
    assert max(report["empirical"]) < 1e-12, report
    assert report["memmap"] < 1e-12 and report["is_memmap"], report
    # 2 × 44 MB of kernel, written block by block: the process grew by far less than the kernel
    assert report["maxrss_growth_mb"] < 0.5 * report["kernel_mb"], report


def test_sharded_analytic_kernel_on_one_device_and_its_refusals():
    x = np.random.default_rng(1).normal(size=(30, 3))
    net = Network(width=None, depth=2, b_std=0.3)
    got = sharded.kernel_blocks(sharded.analytic_fn(net), x, max_block_bytes=1e4)
    want = kernels.analytic(net, x)
    np.testing.assert_allclose(got[1], want.ntk, rtol=1e-12, atol=1e-14)
    # a point with itself: θ = 0 exactly, as in the tiled path
    np.testing.assert_allclose(np.diag(got[0]), np.diag(want.nngp), rtol=1e-14)
    import pytest

    with pytest.raises(ValueError, match="net"):
        sharded.analytic_fn(Network(width=None, depth=1, activation="tanh"))
    with pytest.raises(ValueError, match="x2"):
        sharded.kernel_blocks(sharded.analytic_fn(net), x, np.ones((3, 4)))
