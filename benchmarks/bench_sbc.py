"""Benchmark the fits of simulation-based calibration: one batched program vs loops of fits.

The same ``n_sims`` simulated datasets of a small regression (``mu``, ``sigma``, 10
observations) are fitted with NUTS, 2 chains x (250 warm-up + 250 draws) each, by

* ``numpyro loop``: plain NumPyro, one ``MCMC`` object with ``jit_model_args=True`` re-run
  on each dataset (what a careful NumPyro user writes; run first, before bayesuq is
  imported, so it gets no persistent compilation cache);
* ``bayesuq loop``: ``bayesuq.nuts`` on each dataset (one compile, then the in-process
  program cache);
* ``bayesuq batched``: :func:`bayesuq.infer.many.nuts_many`, all datasets in one compiled
  program (``vmap`` over datasets and chains), which is what ``bayesuq.sbc`` runs.

Times are wall-clock seconds in one process (``first`` = the first fit, compile included;
``all`` = every fit). Ratios are against the NumPyro loop measured in the same run. The
compilation cache of bayesuq points at a fresh temporary folder, so its compile is cold.

Usage::

    python benchmarks/bench_sbc.py              # 100 datasets
    python benchmarks/bench_sbc.py --sims 20    # quicker
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time

import jax
import numpy as np
import numpyro
import numpyro.distributions as dist
from numpyro.infer import MCMC, NUTS, Predictive

X = np.linspace(-1.0, 1.0, 10)
CHAINS, WARMUP, DRAWS = 2, 250, 250


def regression(x, y=None):
    mu = numpyro.sample("mu", dist.Normal(0.0, 1.0))
    sigma = numpyro.sample("sigma", dist.HalfNormal(1.0))
    with numpyro.plate("obs", x.shape[0]):
        numpyro.sample("y", dist.Normal(mu + x, sigma), obs=y)


def simulate(n_sims: int, seed: int) -> np.ndarray:
    draws = Predictive(regression, num_samples=n_sims)(jax.random.PRNGKey(seed), X)
    return np.asarray(draws["y"])


def numpyro_loop(ys: np.ndarray) -> tuple[float, float]:
    mcmc = MCMC(
        NUTS(regression),
        num_warmup=WARMUP,
        num_samples=DRAWS,
        num_chains=CHAINS,
        chain_method="vectorized",
        jit_model_args=True,
        progress_bar=False,
    )
    start = time.perf_counter()
    first = None
    for i, y in enumerate(ys):
        mcmc.run(jax.random.PRNGKey(i), X, y)  # positional: jit_model_args traces them
        mcmc.get_samples()["mu"].block_until_ready()
        first = first or time.perf_counter() - start
    return first, time.perf_counter() - start


def bayesuq_loop(ys: np.ndarray) -> tuple[float, float]:
    import bayesuq

    start = time.perf_counter()
    first = None
    for i, y in enumerate(ys):
        bayesuq.nuts(
            regression,
            {"x": X, "y": y},
            chains=CHAINS,
            warmup=WARMUP,
            draws=DRAWS,
            seed=i,
            chain_method="vectorized",
            progress=False,
        )
        first = first or time.perf_counter() - start
    return first, time.perf_counter() - start


def bayesuq_batched(ys: np.ndarray) -> tuple[float, float]:
    from bayesuq.infer.many import nuts_many

    start = time.perf_counter()
    fits = nuts_many(
        regression,
        {"x": X, "y": ys},
        batched=["y"],
        chains=CHAINS,
        warmup=WARMUP,
        draws=DRAWS,
        progress=False,
    )
    total = time.perf_counter() - start
    return fits.attrs["compile_seconds"], total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sims", type=int, default=100)
    args = parser.parse_args()
    ys = simulate(args.sims, seed=0)
    print(
        f"{args.sims} datasets, {CHAINS} chains x ({WARMUP} + {DRAWS}); "
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"JAX {jax.__version__} on {jax.default_backend()}"
    )
    rows = {"numpyro loop": numpyro_loop(ys)}
    os.environ["BAYESUQ_CACHE_DIR"] = tempfile.mkdtemp(prefix="bench-sbc-")
    rows["bayesuq loop"] = bayesuq_loop(ys)
    rows["bayesuq batched"] = bayesuq_batched(ys)
    base = rows["numpyro loop"][1]
    print(
        f"{'engine':18s} {'first fit s':>12s} {'all fits s':>11s} {'per fit s':>10s} {'ratio':>7s}"
    )
    for name, (first, total) in rows.items():
        label = "compile s" if name == "bayesuq batched" else ""
        print(
            f"{name:18s} {first:12.2f} {total:11.2f} {total / args.sims:10.3f} "
            f"{total / base:7.2f} {label}"
        )
    print("ratio = all fits / numpyro loop (lower is faster); batched 'first' = its compile")


if __name__ == "__main__":
    main()
