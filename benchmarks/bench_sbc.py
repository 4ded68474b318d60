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

Times are wall-clock seconds in one process: compile, sampling (as recorded by bayesuq),
and total for all fits. Ratios are against the NumPyro loop measured in the same run. The
compilation cache of bayesuq points at a fresh temporary folder, so its compile is cold.

Usage::

    python benchmarks/bench_sbc.py              # 100 datasets (NumPyro loop on 20)
    python benchmarks/bench_sbc.py --sims 20    # quicker
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import jax
import numpy as np
import numpyro
import numpyro.distributions as dist
from _harness import describe_machine, timed
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


def numpyro_loop(ys: np.ndarray) -> tuple[float, float, float]:
    mcmc = MCMC(
        NUTS(regression),
        num_warmup=WARMUP,
        num_samples=DRAWS,
        num_chains=CHAINS,
        chain_method="vectorized",
        jit_model_args=True,
        progress_bar=False,
    )

    def fit_all() -> None:
        for i, y in enumerate(ys):
            mcmc.run(jax.random.PRNGKey(i), X, y)  # positional: jit_model_args traces them
            mcmc.get_samples()["mu"].block_until_ready()

    # NumPyro 0.22 on jax 0.10 re-compiles on every run: compile and sampling are mixed.
    return float("nan"), float("nan"), timed(fit_all)[1]


def bayesuq_loop(ys: np.ndarray) -> tuple[float, float, float]:
    import bayesuq

    start = time.perf_counter()
    compile_s = sampling_s = 0.0
    for i, y in enumerate(ys):
        idata = bayesuq.nuts(
            regression,
            {"x": X, "y": y},
            chains=CHAINS,
            warmup=WARMUP,
            draws=DRAWS,
            seed=i,
            chain_method="vectorized",
            progress=False,
        )
        compile_s += idata.attrs["compile_seconds"]
        sampling_s += idata.attrs["sampling_seconds"]
    return compile_s, sampling_s, time.perf_counter() - start


def bayesuq_batched(ys: np.ndarray) -> tuple[float, float, float]:
    from bayesuq.infer.many import nuts_many

    fits, total = timed(
        lambda: nuts_many(
            regression,
            {"x": X, "y": ys},
            batched=["y"],
            chains=CHAINS,
            warmup=WARMUP,
            draws=DRAWS,
            progress=False,
        )
    )
    return fits.attrs["compile_seconds"], fits.attrs["sampling_seconds"], total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sims", type=int, default=100)
    parser.add_argument(
        "--baseline-sims",
        type=int,
        default=20,
        help="datasets for the (slow) NumPyro loop; its per-fit time is compared",
    )
    args = parser.parse_args()
    ys = simulate(args.sims, seed=0)
    print(
        f"{args.sims} datasets, {CHAINS} chains x ({WARMUP} + {DRAWS}); {describe_machine()}; "
        f"JAX {jax.__version__} on {jax.default_backend()}"
    )
    n_base = min(args.baseline_sims, args.sims)
    rows = {"numpyro loop": numpyro_loop(ys[:n_base])}
    os.environ["BAYESUQ_CACHE_DIR"] = tempfile.mkdtemp(prefix="bench-sbc-")
    rows["bayesuq loop"] = bayesuq_loop(ys)
    rows["bayesuq batched"] = bayesuq_batched(ys)
    sizes = {"numpyro loop": n_base}
    base = rows["numpyro loop"][2] / n_base
    print(
        f"{'engine':16s} {'compile s':>10s} {'sampling s':>11s} {'total s':>9s} "
        f"{'per fit s':>10s} {'ratio':>7s}"
    )
    for name, (compile_s, sampling_s, total) in rows.items():
        per_fit = total / sizes.get(name, args.sims)
        print(
            f"{name:16s} {compile_s:10.2f} {sampling_s:11.2f} {total:9.2f} "
            f"{per_fit:10.3f} {per_fit / base:7.3f}"
        )
    print(
        f"ratio = time per fit / NumPyro loop's (lower is faster); the NumPyro loop ran on "
        f"{n_base} of the {args.sims} datasets. NumPyro re-compiles on every run, so its "
        f"compile and sampling times are not separable (nan)."
    )


if __name__ == "__main__":
    main()
