"""Steps of ``benchmarks/gpu_check.sh``: GPU throughput against the CPU of the same machine.

Each step runs in its own process (``--step NAME --platform gpu|cpu``) so that JAX picks the
platform from ``JAX_PLATFORMS``; the driver (``--all``) runs the GPU and CPU versions of
every step, writes ``gpu_check.json`` and a figure ``gpu_check.png`` to ``--out``.

Steps:

* ``sbc``: nuts_many on eight schools (non-centred), ``--sbc-sims`` prior-predictive
  datasets on the GPU (1000 by default), a tenth of them on the CPU: fits per second;
* ``posterior``: one logistic regression posterior with N = 5000 observations and 10
  covariates, ``bayesuq.nuts(chain_method="auto")``, 4 chains: bulk ESS per second;
* ``martingale``: predictive resampling of the normal model (``bayesuq.models.martingale``),
  5000 paths x 1000 steps: paths per second;
* ``deup``: the DEUP seeds loop (``bayesuq.models.deup``), if that family is installed.

A step whose module is missing prints ``SKIP <step>: ...`` and the others go on.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import time
from pathlib import Path

SIGMA = [15.0, 10.0, 16.0, 11.0, 9.0, 11.0, 10.0, 18.0]


def step_sbc(n_sims: int) -> dict:
    import numpy as np

    import bayesuq
    from bayesuq.data.examples import eight_schools_noncentered

    rng = np.random.default_rng(0)
    mu = rng.normal(0.0, 5.0, n_sims)
    tau = np.abs(5.0 * rng.standard_cauchy(n_sims))
    ys = mu[:, None] + tau[:, None] * rng.normal(size=(n_sims, 8))
    ys = ys + np.asarray(SIGMA) * rng.normal(size=(n_sims, 8))
    start = time.perf_counter()
    fits = bayesuq.nuts_many(
        eight_schools_noncentered,
        {"sigma": np.asarray(SIGMA), "y": ys},
        batched=["y"],
        chains=2,
        warmup=500,
        draws=500,
        progress=False,
    )
    total = time.perf_counter() - start
    return {
        "fits": n_sims,
        "compile_s": fits.attrs["compile_seconds"],
        "sampling_s": fits.attrs["sampling_seconds"],
        "total_s": total,
        "rate": n_sims / fits.attrs["sampling_seconds"],
        "unit": "fits/s",
        "chunk_size": fits.attrs["chunk_size"],
        "devices": fits.attrs["devices"],
    }


def logistic(x, y=None):
    import numpyro
    import numpyro.distributions as dist

    beta = numpyro.sample("beta", dist.Normal(0.0, 1.0).expand([x.shape[1]]).to_event(1))
    alpha = numpyro.sample("alpha", dist.Normal(0.0, 2.0))
    with numpyro.plate("obs", x.shape[0]):
        numpyro.sample("y", dist.Bernoulli(logits=alpha + x @ beta), obs=y)


def step_posterior(n_obs: int) -> dict:
    import arviz as az
    import numpy as np

    import bayesuq

    rng = np.random.default_rng(1)
    x = rng.normal(size=(n_obs, 10))
    beta = rng.normal(size=10)
    y = (rng.uniform(size=n_obs) < 1 / (1 + np.exp(-(0.3 + x @ beta)))).astype(np.int32)
    idata = bayesuq.nuts(
        logistic,
        {"x": x, "y": y},
        chains=4,
        warmup=1000,
        draws=1000,
        chain_method="auto",
        progress=False,
    )
    ess = float(az.ess(idata, method="bulk").to_array().min())
    sampling = float(idata.attrs["sampling_seconds"])
    return {
        "n_obs": n_obs,
        "min_bulk_ess": ess,
        "compile_s": float(idata.attrs["compile_seconds"]),
        "sampling_s": sampling,
        "rate": ess / sampling,
        "unit": "ESS/s",
        "chain_method": str(idata.attrs.get("chain_method")),
    }


def step_martingale(paths: int) -> dict:
    if importlib.util.find_spec("bayesuq.models.martingale") is None:
        return {"skip": "bayesuq.models.martingale is not installed"}
    import numpy as np

    from bayesuq.models.martingale import normal_martingale_posterior

    y = np.random.default_rng(2).normal(1.0, 1.0, 50)
    normal_martingale_posterior(y, steps=1000, draws=min(paths, 256), seed=0)  # compile
    start = time.perf_counter()
    normal_martingale_posterior(y, steps=1000, draws=paths, seed=1)
    seconds = time.perf_counter() - start
    return {"paths": paths, "seconds": seconds, "rate": paths / seconds, "unit": "paths/s"}


def step_deup() -> dict:
    if importlib.util.find_spec("bayesuq.models.deup") is None:
        return {"skip": "bayesuq.models.deup is not installed (DEUP is not merged yet)"}
    import bayesuq.models.deup as deup

    runner = getattr(deup, "gpu_check_seeds", None)
    if runner is None:
        return {"skip": "bayesuq.models.deup has no gpu_check_seeds() entry point yet"}
    start = time.perf_counter()
    report = dict(runner())
    report.setdefault("seconds", time.perf_counter() - start)
    return report


def run_step(name: str, platform: str, args: argparse.Namespace) -> dict:
    env = {**os.environ, "JAX_PLATFORMS": "cuda" if platform == "gpu" else "cpu"}
    cmd = [
        sys.executable,
        __file__,
        "--step",
        name,
        "--platform",
        platform,
        f"--sbc-sims={args.sbc_sims}",
        f"--n-obs={args.n_obs}",
        f"--paths={args.paths}",
    ]
    try:
        done = subprocess.run(
            cmd, env=env, capture_output=True, text=True, timeout=args.step_timeout
        )
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {args.step_timeout} s"}
    if done.returncode != 0:
        return {"error": done.stderr.strip().splitlines()[-1] if done.stderr else "failed"}
    return json.loads(done.stdout.strip().splitlines()[-1])


def figure(results: dict, path: Path) -> None:
    from matplotlib.figure import Figure

    names = [
        n for n, r in results.items() if "rate" in r.get("gpu", {}) and "rate" in r.get("cpu", {})
    ]
    fig = Figure(figsize=(3.2 * max(len(names), 1), 3.0))
    axes = fig.subplots(1, max(len(names), 1), squeeze=False)[0]
    for ax, name in zip(axes, names, strict=False):
        gpu, cpu = results[name]["gpu"], results[name]["cpu"]
        ax.bar(["CPU", "GPU"], [cpu["rate"], gpu["rate"]], color=["0.6", "C2"])
        ax.set_title(f"{name}: x{gpu['rate'] / cpu['rate']:.1f}", fontsize=10)
        ax.set_ylabel(gpu["unit"])
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--step", choices=["sbc", "posterior", "martingale", "deup"])
    parser.add_argument("--platform", choices=["gpu", "cpu"], default="gpu")
    parser.add_argument("--sbc-sims", type=int, default=1000)
    parser.add_argument("--n-obs", type=int, default=5000)
    parser.add_argument("--paths", type=int, default=5000)
    parser.add_argument("--step-timeout", type=int, default=150)
    parser.add_argument("--out", type=Path, default=Path("results/gpu_check"))
    args = parser.parse_args()
    if args.step:
        n_sims = args.sbc_sims if args.platform == "gpu" else max(args.sbc_sims // 10, 20)
        paths = args.paths if args.platform == "gpu" else max(args.paths // 5, 256)
        result = {
            "sbc": lambda: step_sbc(n_sims),
            "posterior": lambda: step_posterior(args.n_obs),
            "martingale": lambda: step_martingale(paths),
            "deup": step_deup,
        }[args.step]()
        import jax

        result["backend"] = jax.default_backend()
        print(json.dumps(result))
        return
    args.out.mkdir(parents=True, exist_ok=True)
    results: dict = {}
    for name in ("sbc", "posterior", "martingale", "deup"):
        results[name] = {}
        for platform in ("gpu", "cpu"):
            started = time.perf_counter()
            results[name][platform] = run_step(name, platform, args)
            took = time.perf_counter() - started
            print(f"{name} on {platform} ({took:.0f} s): {results[name][platform]}", flush=True)
            if "skip" in results[name][platform]:
                print(f"SKIP {name}: {results[name][platform]['skip']}")
                break
    (args.out / "gpu_check.json").write_text(json.dumps(results, indent=1))
    figure(results, args.out / "gpu_check.png")
    print(f"wrote {args.out / 'gpu_check.json'} and {args.out / 'gpu_check.png'}")


if __name__ == "__main__":
    main()
