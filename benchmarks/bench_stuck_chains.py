"""Frozen chains on a near-unit-root ARMA(1,1): plain NumPyro against bayesuq.

For each seed, 4 chains (300 warm-up + 300 draws) of the bundled ``arma11`` example are
run three ways: plain NumPyro (``MCMC`` with vectorised chains and its default
``init_to_uniform`` start), bayesuq without recovery (robust starts only) and bayesuq with
its default recovery. A chain counts as stuck by :func:`bayesuq.diagnostics.find_stuck_chains`
(step size below 1e-8 or 1e-3 x the other chains', or a frozen log density).

Usage::

    python benchmarks/bench_stuck_chains.py --seeds 10
"""

from __future__ import annotations

import argparse
import time
import warnings

import jax
import numpy as np
from _harness import describe_machine
from numpyro.infer import MCMC, NUTS

import bayesuq
from bayesuq.data import arma11, simulate_arma11
from bayesuq.diagnostics import find_stuck_chains

SETTINGS = {"chains": 4, "warmup": 300, "draws": 300}


def numpyro_stuck(y: np.ndarray, seed: int) -> list[int]:
    """Stuck chains of one plain-NumPyro run."""
    mcmc = MCMC(
        NUTS(arma11),
        num_warmup=SETTINGS["warmup"],
        num_samples=SETTINGS["draws"],
        num_chains=SETTINGS["chains"],
        chain_method="vectorized",
        progress_bar=False,
    )
    mcmc.run(
        jax.random.PRNGKey(seed), y=y, extra_fields=("adapt_state.step_size", "potential_energy")
    )
    fields = mcmc.get_extra_fields(group_by_chain=True)
    stuck = find_stuck_chains(
        np.asarray(fields["adapt_state.step_size"]), -np.asarray(fields["potential_energy"])
    )
    return sorted(stuck)


def bayesuq_stuck(y: np.ndarray, seed: int, recover: bool) -> tuple[list[int], str]:
    """Stuck chains left in one bayesuq result, and the chains it recovered."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        idata = bayesuq.nuts(
            arma11,
            {"y": y},
            seed=seed,
            recover=recover,
            progress=False,
            chain_method="vectorized",
            **SETTINGS,
        )
    stats = idata.sample_stats
    stuck = find_stuck_chains(stats["step_size"].values, stats["lp"].values)
    return sorted(stuck), idata.attrs["recovered_chains"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10, help="number of seeds (0, 1, ...)")
    args = parser.parse_args()
    y = simulate_arma11(seed=1)
    engines = {
        "numpyro": lambda seed: (numpyro_stuck(y, seed), ""),
        "bayesuq, recover=False": lambda seed: bayesuq_stuck(y, seed, recover=False),
        "bayesuq (default)": lambda seed: bayesuq_stuck(y, seed, recover=True),
    }
    print(f"ARMA(1,1), T=300, phi=0.999, theta=-0.8; {SETTINGS}; seeds 0-{args.seeds - 1}")
    print(describe_machine())
    print(f"{'engine':24s} {'stuck chains':>13s} {'wall [s]':>9s}  details")
    for name, run in engines.items():
        start = time.perf_counter()
        details, total = [], 0
        for seed in range(args.seeds):
            stuck, recovered = run(seed)
            total += len(stuck)
            if stuck or recovered:
                details.append(f"seed {seed}: stuck {stuck} recovered [{recovered}]")
        wall = time.perf_counter() - start
        chains = args.seeds * SETTINGS["chains"]
        print(f"{name:24s} {total:>6d} of {chains:<4d} {wall:9.1f}  {'; '.join(details)}")


if __name__ == "__main__":
    main()
