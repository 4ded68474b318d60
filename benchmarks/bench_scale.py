"""Throughput of batched fits: one device, two host devices, a Dask LocalCluster, and Stan.

The workload is the fitting step of a simulation-based calibration of eight schools
(non-centred): ``--sims`` datasets simulated from the prior predictive (the schools'
standard errors fixed), each fitted with NUTS, ``--chains`` x (``--warmup`` + ``--draws``).
Every row runs in its own process, one after another, in one invocation of this script:

* ``bayesuq 1 device``: ``bayesuq.nuts_many(..., devices=1)``;
* ``bayesuq 2 host devices``: the same with ``XLA_FLAGS=--xla_force_host_platform_device_count=2``
  and ``devices=2`` (chunks run on both at once with ``shard_map``);
* ``bayesuq Dask 2 workers``: ``client=`` a ``LocalCluster`` of 2 worker processes with
  1 thread each (one compile, then one task per chunk);
* ``stan``: pystan 3, one ``stan.build`` then one ``posterior.sample`` per dataset (run by
  the interpreter of ``.benchvenv``, which has pystan; skipped with a message otherwise).

Fits per second are ``datasets / sampling seconds`` (compiling and building excluded; they
are shown apart) and ``datasets / total seconds``. Ratios are against Stan and against the
one-device row of the same run. The load average of the machine is printed for each row:
on a shared machine, read the ratios, not the absolute figures.

Usage::

    .venv/bin/python benchmarks/bench_scale.py                  # 200 datasets
    .venv/bin/python benchmarks/bench_scale.py --sims 40 --stan-sims 10   # quicker
    .venv/bin/python benchmarks/bench_scale.py --json results/scale.json
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SIGMA = [15.0, 10.0, 16.0, 11.0, 9.0, 11.0, 10.0, 18.0]

STAN_CODE = """
data { int<lower=0> J; array[J] real y; array[J] real<lower=0> sigma; }
parameters { real mu; real<lower=0> tau; vector[J] eta; }
transformed parameters { vector[J] theta = mu + tau * eta; }
model {
  mu ~ normal(0, 5);
  tau ~ cauchy(0, 5);
  eta ~ std_normal();
  y ~ normal(theta, sigma);
}
"""


def simulate(n_sims: int, seed: int):
    """Prior-predictive datasets of eight schools: ``(n_sims, 8)``."""
    import numpy as np

    rng = np.random.default_rng(seed)
    mu = rng.normal(0.0, 5.0, n_sims)
    tau = np.abs(5.0 * rng.standard_cauchy(n_sims))
    theta = mu[:, None] + tau[:, None] * rng.normal(size=(n_sims, 8))
    return theta + np.asarray(SIGMA) * rng.normal(size=(n_sims, 8))


def child_bayesuq(args: argparse.Namespace) -> dict:
    """One bayesuq row (in this process); prints nothing, returns the measurements."""
    import numpy as np

    import bayesuq
    from bayesuq.data.examples import eight_schools_noncentered

    ys = simulate(args.sims, args.seed)
    options = {
        "batched": ["y"],
        "chains": args.chains,
        "warmup": args.warmup,
        "draws": args.draws,
        "seed": 1,
        "progress": False,
        "chunk_size": args.chunk_size,
    }
    data = {"sigma": np.asarray(SIGMA), "y": ys}
    client = None
    if args.child == "dask":
        from distributed import Client, LocalCluster

        cluster = LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        )
        client = Client(cluster)
        client.run(lambda: __import__("bayesuq.batch.chunks"))  # workers import JAX first
    else:
        options["devices"] = 2 if args.child == "two" else 1
    start = time.perf_counter()
    fits = bayesuq.nuts_many(eight_schools_noncentered, data, client=client, **options)
    total = time.perf_counter() - start
    if client is not None:
        client.close()
        cluster.close()
    divergent = int((fits.divergences() > 0).sum())
    return {
        "compile_s": fits.attrs["compile_seconds"],
        "sampling_s": fits.attrs["sampling_seconds"],
        "total_s": total,
        "n": args.sims,
        "chunk_size": fits.attrs["chunk_size"],
        "chunks": fits.attrs["chunks"],
        "devices": fits.attrs["devices"],
        "workers": fits.attrs["workers"],
        "divergent_fits": divergent,
    }


def child_stan(args: argparse.Namespace) -> dict:
    """The Stan row: one build, then one sample per dataset."""
    import stan

    ys = simulate(args.stan_sims, args.seed)
    start = time.perf_counter()
    data = {"J": 8, "y": ys[0].tolist(), "sigma": SIGMA}
    posterior = stan.build(STAN_CODE, data=data, random_seed=1)
    build = time.perf_counter() - start
    sampling = 0.0
    for y in ys:
        t = time.perf_counter()
        posterior = stan.build(STAN_CODE, data={**data, "y": y.tolist()}, random_seed=1)
        posterior.sample(num_chains=args.chains, num_warmup=args.warmup, num_samples=args.draws)
        sampling += time.perf_counter() - t
    return {
        "compile_s": build,
        "sampling_s": sampling,
        "total_s": time.perf_counter() - start,
        "n": args.stan_sims,
    }


def run_child(kind: str, args: argparse.Namespace, python: str, env: dict) -> dict:
    cmd = [
        python,
        str(Path(__file__).resolve()),
        "--child",
        kind,
        *(
            f"--{k.replace('_', '-')}={v}"
            for k, v in vars(args).items()
            if k not in ("child", "json") and v is not None
        ),
    ]
    load_before = os.getloadavg()[0]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=ROOT)
    if done.returncode != 0:
        raise RuntimeError(f"{kind} failed:\n{done.stderr[-3000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["load"] = round((load_before + os.getloadavg()[0]) / 2, 1)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sims", type=int, default=200)
    parser.add_argument("--stan-sims", type=int, default=40, help="datasets Stan fits")
    parser.add_argument("--chains", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=500)
    parser.add_argument("--draws", type=int, default=500)
    parser.add_argument("--chunk-size", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--child", choices=["one", "two", "dask", "stan"], default=None)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    if args.child == "stan":
        print(json.dumps(child_stan(args)))
        return
    if args.child:
        print(json.dumps(child_bayesuq(args)))
        return

    cache = tempfile.mkdtemp(prefix="bench-scale-")
    base_env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    rows = {}
    plans = [
        ("bayesuq 1 device", "one", {}),
        (
            "bayesuq 2 host devices",
            "two",
            {"XLA_FLAGS": "--xla_force_host_platform_device_count=2"},
        ),
        ("bayesuq Dask 2 workers", "dask", {}),
    ]
    print(
        f"eight schools, {args.sims} datasets, {args.chains} chains x ({args.warmup} + "
        f"{args.draws}); {os.cpu_count()} CPUs; load average at start "
        f"{os.getloadavg()[0]:.1f}",
        flush=True,
    )
    for label, kind, extra in plans:
        # A fresh compilation cache per row: every row compiles cold.
        env = {**base_env, **extra, "BAYESUQ_CACHE_DIR": f"{cache}/{kind}"}
        rows[label] = run_child(kind, args, sys.executable, env)
        print(f"  {label}: {rows[label]}", flush=True)
    stan_python = ROOT / ".benchvenv" / "bin" / "python"
    if stan_python.exists():
        try:
            rows["stan (pystan)"] = run_child("stan", args, str(stan_python), base_env)
            print(f"  stan: {rows['stan (pystan)']}", flush=True)
        except RuntimeError as err:
            print(f"Stan skipped: {err}")
    else:
        print(
            f"Stan skipped: no {stan_python} (python -m venv .benchvenv; "
            f".benchvenv/bin/pip install pystan)"
        )
    one = rows["bayesuq 1 device"]
    one_rate = one["n"] / one["sampling_s"]
    stan = rows.get("stan (pystan)")
    stan_rate = stan["n"] / stan["sampling_s"] if stan else float("nan")
    print(
        f"\n{'engine':24s} {'fits':>5s} {'compile s':>10s} {'sampling s':>11s} "
        f"{'fits/s':>8s} {'fits/s total':>13s} {'x 1 device':>11s} {'x Stan':>8s} {'load':>5s}"
    )
    for label, row in rows.items():
        rate = row["n"] / row["sampling_s"]
        total_rate = row["n"] / row["total_s"]
        print(
            f"{label:24s} {row['n']:5d} {row['compile_s']:10.1f} {row['sampling_s']:11.1f} "
            f"{rate:8.2f} {total_rate:13.2f} {rate / one_rate:11.2f} {rate / stan_rate:8.2f} "
            f"{row['load']:5.1f}"
        )
    print(
        "fits/s = datasets / sampling seconds (compile or Stan build excluded); fits/s "
        "total includes them. Stan's per-dataset time includes pystan's per-fit overhead "
        "(stan.build from its cache and the sample call)."
    )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(
            json.dumps({"args": vars(args) | {"json": None}, "rows": rows}, indent=1, default=str)
        )


if __name__ == "__main__":
    main()
