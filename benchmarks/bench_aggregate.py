"""Benchmark the aggregate-data likelihood modes (Weber et al. 2018, linear example).

Two measurements, each printed as ratios against a baseline measured in the same run:

1. **Fits**: wall time (compile + sampling, from ``attrs``) and minimum bulk ESS per
   second of sampling over the population parameters for ``exact`` (the baseline: the
   analytic likelihood of the means), ``approx`` (simulated likelihood, J_tilde given by
   ``--J-tilde``) and ``full`` (raw data of both trials), with ``bayesuq.nuts``.
2. **Cost against J_tilde**: time of one value-and-gradient evaluation of the approximate
   log-likelihood (jitted; vmapped over simulated patients) for growing J_tilde, against
   the exact log-likelihood's evaluation.

Usage::

    python benchmarks/bench_aggregate.py            # 4 chains, 1000 + 1000, J_tilde 500
    python benchmarks/bench_aggregate.py --quick    # 2 chains, 300 + 300
"""

from __future__ import annotations

import argparse
import time

import arviz as az
import jax
import jax.numpy as jnp
import numpy as np

from bayesuq.models.aggregate import (
    draw_xi,
    fit,
    linear_average_logliks,
    linear_model,
    simulate_linear,
)
from bayesuq.precision import computing_in

# The family's precision: fit() runs in float64 by itself; the pure likelihood functions
# timed below run inside the same context (no global flag).
PRECISION = "float64"

POPULATION = ["mu_a", "sigma_a", "beta", "sigma_y", "delta"]


def _min_ess(idata) -> float:
    ess = az.ess(idata.posterior[POPULATION], method="bulk")
    return float(min(float(ess[v].min()) for v in POPULATION))


def bench_fits(*, J_tilde: int, chains: int, draws: int, warmup: int) -> list[dict]:
    sim = simulate_linear()
    with computing_in(PRECISION):
        xi = draw_xi(jax.random.key(0), J_tilde, 2)
    rows = []
    for mode in ("exact", "approx", "full"):
        idata = fit(
            linear_model(mode),
            sim.model_data(mode, xi=xi),
            seed=1,
            chains=chains,
            draws=draws,
            warmup=warmup,
            progress=False,
        )
        sampling = float(idata.attrs["sampling_seconds"])
        rows.append(
            {
                "mode": mode,
                "compile_s": float(idata.attrs["compile_seconds"]),
                "sampling_s": sampling,
                "min_ess": _min_ess(idata),
                "min_ess_per_s": _min_ess(idata) / sampling,
            }
        )
    return rows


def _time(fn, *args, repeats: int = 20) -> float:
    jax.block_until_ready(fn(*args))  # compile
    start = time.perf_counter()
    for _ in range(repeats):
        jax.block_until_ready(fn(*args))
    return (time.perf_counter() - start) / repeats


def bench_J_tilde(levels) -> tuple[float, list[tuple[int, float]]]:
    sim = simulate_linear()
    approx, exact = linear_average_logliks(sim)
    delta = jnp.array([0.1, 0.1])
    exact_t = _time(jax.jit(jax.value_and_grad(exact)), delta)
    grad = jax.jit(jax.value_and_grad(lambda d, xi: approx(d, xi, None)))
    return exact_t, [(n, _time(grad, delta, draw_xi(jax.random.key(n), n, 2))) for n in levels]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--J-tilde", type=int, default=500, dest="J_tilde")
    args = parser.parse_args()
    chains, draws, warmup = (2, 300, 300) if args.quick else (4, 1000, 1000)
    print(f"jax {jax.__version__}, backend {jax.default_backend()}, devices {jax.devices()}")
    rows = bench_fits(J_tilde=args.J_tilde, chains=chains, draws=draws, warmup=warmup)
    with computing_in(PRECISION):
        base = rows[0]
        print(f"\nFits ({chains} chains, {warmup} + {draws}; approx J_tilde = {args.J_tilde})")
        print(
            f"{'mode':8s} {'compile s':>10s} {'sampling s':>11s} {'x exact':>8s} "
            f"{'min ESS':>8s} {'ESS/s':>8s} {'x exact':>8s}"
        )
        for r in rows:
            print(
                f"{r['mode']:8s} {r['compile_s']:10.1f} {r['sampling_s']:11.1f} "
                f"{r['sampling_s'] / base['sampling_s']:8.2f} {r['min_ess']:8.0f} "
                f"{r['min_ess_per_s']:8.1f} {r['min_ess_per_s'] / base['min_ess_per_s']:8.2f}"
            )
        levels = [100, 500, 2000] if args.quick else [100, 250, 500, 1000, 2000, 5000, 20000]
        exact_t, costs = bench_J_tilde(levels)
        print("\nOne value-and-gradient of the log-likelihood of the means")
        print(f"exact: {exact_t * 1e6:.1f} us")
        for n, t in costs:
            print(f"approx J_tilde={n:6d}: {t * 1e6:9.1f} us  ({t / exact_t:7.1f} x exact)")
        sizes = np.log([n for n, _ in costs])
        slope = np.polyfit(sizes, np.log([t for _, t in costs]), 1)[0]
        print(f"log-log slope of cost against J_tilde: {slope:.2f}")


if __name__ == "__main__":
    main()
