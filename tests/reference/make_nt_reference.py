"""Regenerate ``nt_kernels.json``: reference kernels computed by neural-tangents.

neural-tangents 0.6.5 does not import with the JAX this project uses, so this script runs in a
separate, throw-away environment and is not run by the test suite:

    python3.11 -m venv /tmp/nt-venv
    /tmp/nt-venv/bin/pip install jax==0.5.3 jaxlib==0.5.3
    /tmp/nt-venv/bin/pip install --no-deps neural-tangents==0.6.5 frozendict
    /tmp/nt-venv/bin/python tests/reference/make_nt_reference.py

Its TensorFlow-only subpackage ``neural_tangents.experimental`` is replaced by an empty module
before the import. Every case stores its inputs, the keyword arguments of the matching function
of ``ntk_helpers.kernels`` and neural-tangents' NNGP and NTK (float64);
``tests/test_kernels.py`` compares them.

Activations: ReLU, Erf (a·erf(bx) + c with a = b = 1, c = 0), Gelu (exact x Φ(x)) and Sin
(sin x) have closed forms in neural-tangents; tanh has none there, so its reference comes from
neural-tangents' own Gauss–Hermite layer ``ElementwiseNumerical`` with 200 nodes, on inputs small
enough for it to converge (with pre-activation variances of ~10 its error reaches 1e-4).
"""

from __future__ import annotations

import json
import pathlib
import sys
import types

import numpy as np

sys.modules["neural_tangents.experimental"] = types.ModuleType("neural_tangents.experimental")

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import neural_tangents as nt  # noqa: E402
from neural_tangents import stax  # noqa: E402

OUT = pathlib.Path(__file__).with_name("nt_kernels.json")
WIDTH = 64  # hidden width / channel count of the standard-parameterization cases


def act_layer(name):
    return {
        "relu": stax.Relu,
        "erf": stax.Erf,
        "gelu": lambda: stax.Gelu(approximate=False),
        "sin": stax.Sin,
        "tanh": lambda: stax.ElementwiseNumerical(jnp.tanh, deg=200),
    }[name]()


def dense(n, cfg):
    return stax.Dense(n, cfg["W_std"], cfg["b_std"], parameterization=cfg["parameterization"])


def fc_net(cfg):
    layers = []
    for _ in range(cfg["depth"]):
        layers += [dense(WIDTH, cfg), act_layer(cfg["activation"])]
    return stax.serial(*layers, dense(1, cfg))


def resnet_net(cfg):
    block = stax.serial(
        stax.FanOut(2),
        stax.parallel(
            stax.Identity(), stax.serial(act_layer(cfg["activation"]), dense(WIDTH, cfg))
        ),
        stax.FanInSum(),
    )
    blocks = [block] * cfg["depth"]
    return stax.serial(dense(WIDTH, cfg), *blocks, act_layer(cfg["activation"]), dense(1, cfg))


def cnn1d_net(cfg):
    layers = []
    for _ in range(cfg["depth"]):
        conv = stax.Conv(
            WIDTH,
            (cfg["filter_size"],),
            padding="CIRCULAR",
            W_std=cfg["W_std"],
            b_std=cfg["b_std"],
            dimension_numbers=("NWC", "WIO", "NWC"),
            parameterization=cfg["parameterization"],
        )
        layers += [conv, act_layer(cfg["activation"])]
    return stax.serial(*layers, stax.GlobalAvgPool(), dense(1, cfg))


NETS = {"fc": fc_net, "resnet": resnet_net, "cnn1d": cnn1d_net}


def case(name, kind, x1, x2, **cfg):
    cfg = {"activation": "relu", "W_std": 1.0, "b_std": None, "parameterization": "ntk", **cfg}
    if kind == "cnn1d":
        cfg.setdefault("filter_size", 3)
    _, _, kernel_fn = NETS[kind](cfg)
    k = kernel_fn(jnp.asarray(x1), None if x2 is None else jnp.asarray(x2), ("nngp", "ntk"))
    kwargs = dict(cfg)
    if cfg["parameterization"] == "standard":
        kwargs["channels" if kind == "cnn1d" else "width"] = WIDTH
    return {
        "name": name,
        "kind": kind,
        "kwargs": kwargs,
        "x1": np.asarray(x1).tolist(),
        "x2": None if x2 is None else np.asarray(x2).tolist(),
        "nngp": np.asarray(k.nngp, dtype=np.float64).tolist(),
        "ntk": np.asarray(k.ntk, dtype=np.float64).tolist(),
    }


def main():
    rng = np.random.default_rng(20240601)
    xa = rng.normal(size=(5, 3))
    xb = rng.normal(size=(4, 3))
    xa[1] = -xa[0]  # exactly opposite points: cos θ = −1
    xa[2] = 2.5 * xa[3]  # parallel points of different norms: cos θ = 1 off the diagonal
    sa = rng.normal(size=(3, 6, 2))
    sb = rng.normal(size=(2, 6, 2))
    cases = [
        case("fc relu depth 1", "fc", xa, None, depth=1),
        case("fc relu depth 3 bias", "fc", xa, xb, depth=3, W_std=1.5, b_std=0.1),
        case("fc relu depth 5 symmetric bias", "fc", xa, None, depth=5, W_std=1.2, b_std=0.4),
        case("fc erf depth 2 bias", "fc", xa, xb, depth=2, activation="erf", W_std=1.2, b_std=0.3),
        case("fc erf depth 3 symmetric", "fc", xa, None, depth=3, activation="erf", W_std=2.0),
        case(
            "fc gelu depth 2 bias", "fc", xa, xb, depth=2, activation="gelu", W_std=1.3, b_std=0.2
        ),
        case("fc sin depth 2", "fc", xa, None, depth=2, activation="sin", W_std=1.1),
        # Gauss-Hermite with 200 nodes is accurate for tanh only at small variances (q ≲ 1).
        case(
            "fc tanh depth 2 bias",
            "fc",
            0.6 * xb,
            0.6 * xa[3:],
            depth=2,
            activation="tanh",
            b_std=0.3,
        ),
        case("fc relu standard", "fc", xa, xb, depth=2, parameterization="standard"),
        case(
            "fc relu standard bias",
            "fc",
            xa,
            None,
            depth=3,
            W_std=1.3,
            b_std=0.2,
            parameterization="standard",
        ),
        case(
            "fc erf standard bias",
            "fc",
            xa,
            xb,
            depth=2,
            activation="erf",
            b_std=0.5,
            parameterization="standard",
        ),
        case("resnet relu depth 2 bias", "resnet", xa, xb, depth=2, W_std=1.1, b_std=0.2),
        case("resnet relu depth 4 symmetric", "resnet", xa, None, depth=4),
        case("resnet erf depth 3", "resnet", xa, xb, depth=3, activation="erf", W_std=0.9),
        case(
            "resnet relu standard bias",
            "resnet",
            xa,
            None,
            depth=2,
            b_std=0.3,
            parameterization="standard",
        ),
        case("cnn1d relu depth 2 bias", "cnn1d", sa, sb, depth=2, W_std=1.2, b_std=0.2),
        case("cnn1d relu depth 3 symmetric", "cnn1d", sa, None, depth=3),
        case(
            "cnn1d erf depth 2 filter 2", "cnn1d", sa, sb, depth=2, activation="erf", filter_size=2
        ),
        case(
            "cnn1d relu standard bias",
            "cnn1d",
            sa,
            None,
            depth=2,
            b_std=0.3,
            parameterization="standard",
        ),
    ]
    meta = {
        "generated_by": "tests/reference/make_nt_reference.py",
        "neural_tangents": nt.__version__,
        "jax": jax.__version__,
        "dtype": "float64",
        "cases": cases,
    }
    OUT.write_text(json.dumps(meta, indent=1) + "\n")
    print(f"wrote {len(cases)} cases to {OUT}")


if __name__ == "__main__":
    main()
