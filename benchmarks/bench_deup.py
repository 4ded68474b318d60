"""Benchmark DEUP's compiled optimisation loop against seed-by-seed runs and BoTorch's GP-EI.

Workload: maximise ``multi_optima`` (1-D) from 6 uniform initial points, ``--steps`` steps,
``--seeds`` seeds, expected improvement.

Rows, all measured in this one run (wall time, seconds):

* ``bayesuq GP-EI, seeds vmapped``: ``optimize(surrogate="gp", seeds=S)``, all seeds in one
  compiled program; first call (compile included) and second call (other seed; the
  compiled programs are reused);
* ``bayesuq GP-EI, seed by seed``: ``optimize(..., seeds=1)`` called S times (the
  one-seed programs are compiled by an untimed call first);
* the same two rows for ``DEUP-EI`` (``surrogate="deup"``, the paper's MLP pipeline);
* ``BoTorch GP-EI``: the standard loop of BoTorch's tutorials, per step
  ``SingleTaskGP(X, Y)`` + ``fit_gpytorch_mll`` + ``optimize_acqf(LogExpectedImprovement
  or ExpectedImprovement, q=1, num_restarts=10, raw_samples=1000)``, seed by seed
  (needs torch and botorch: run with ``.benchvenv/bin/python``; skipped if missing).

Ratios are BoTorch's time to the S-seed result over ours. The BoTorch GP differs from
ours in its defaults (current BoTorch standardises ``y``, normalises inputs and uses its
own priors), so the final best values are printed next to the times: the timing compares
two standard GP-EI loops, not identical numerics.

Usage::

    .benchvenv/bin/python benchmarks/bench_deup.py                  # 50 steps, 5 seeds
    .benchvenv/bin/python benchmarks/bench_deup.py --quick          # 10 steps, 2 seeds
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

import numpy as np


def bayesuq_rows(surrogate: str, steps: int, seeds: int) -> list[dict]:
    from bayesuq.models.deup import MULTI_OPTIMA, optimize

    rows = []
    for label, seed in (("first call", 0), ("second call", 100)):
        start = time.perf_counter()
        result = optimize(MULTI_OPTIMA, surrogate=surrogate, steps=steps, seeds=seeds,
                          seed=seed, progress=False)  # fmt: skip
        total = time.perf_counter() - start
        rows.append({
            "row": f"bayesuq {surrogate}, seeds vmapped ({label})",
            "seconds": total,
            "per_step": float(result.attrs["seconds_per_step"]),
            "final_best": float(result.best.isel(step=-1).mean()),
        })  # fmt: skip
    # One seed per call: compile that program first (not timed), then time S calls.
    optimize(MULTI_OPTIMA, surrogate=surrogate, steps=steps, seeds=1, seed=999, progress=False)
    finals, per_step = [], []
    start = time.perf_counter()
    for i in range(seeds):
        result = optimize(MULTI_OPTIMA, surrogate=surrogate, steps=steps, seeds=1,
                          seed=200 + i, progress=False)  # fmt: skip
        finals.append(float(result.best.isel(step=-1).mean()))
        per_step.append(float(result.attrs["seconds_per_step"]))
    rows.append({
        "row": f"bayesuq {surrogate}, seed by seed (compiled)",
        "seconds": time.perf_counter() - start,
        "per_step": float(np.median(per_step)),
        "final_best": float(np.mean(finals)),
    })  # fmt: skip
    return rows


def botorch_row(steps: int, seeds: int) -> dict | None:
    try:
        import torch
        from botorch.acquisition import ExpectedImprovement
        from botorch.fit import fit_gpytorch_mll
        from botorch.models import SingleTaskGP
        from botorch.optim import optimize_acqf
        from gpytorch.mlls import ExactMarginalLogLikelihood
    except ImportError as err:
        print(f"BoTorch skipped: {err}")
        return None
    import warnings

    torch.set_num_threads(1)
    bounds = torch.tensor([[-1.0], [2.0]], dtype=torch.float64)

    def f(x):
        return torch.sin(x) * torch.cos(5 * x) * torch.cos(22 * x)

    finals, step_times = [], []
    start = time.perf_counter()
    for seed in range(seeds):
        torch.manual_seed(10 + seed)
        X = -1 + 3 * torch.rand(6, 1, dtype=torch.float64)
        Y = f(X)
        for _ in range(steps):
            t = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # BoTorch suggests LogEI; the paper used EI
                model = SingleTaskGP(X, Y)
                fit_gpytorch_mll(ExactMarginalLogLikelihood(model.likelihood, model))
                acq = ExpectedImprovement(model, best_f=Y.max())
                x_new, _ = optimize_acqf(acq, bounds=bounds, q=1, num_restarts=10,
                                         raw_samples=1000)  # fmt: skip
            X = torch.cat([X, x_new])
            Y = torch.cat([Y, f(x_new)])
            step_times.append(time.perf_counter() - t)
        finals.append(float(Y.max()))
    return {
        "row": "BoTorch GP-EI, seed by seed (torch CPU, 1 thread)",
        "seconds": time.perf_counter() - start,
        "per_step": float(np.median(step_times)),
        "final_best": float(np.mean(finals)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="10 steps, 2 seeds")
    parser.add_argument("--no-deup", action="store_true", help="skip the DEUP rows")
    parser.add_argument("--json", help="also write the rows and ratios here")
    args = parser.parse_args()
    steps, seeds = (10, 2) if args.quick else (args.steps, args.seeds)
    load = os.getloadavg()[0]
    cpu = platform.processor() or platform.machine()
    print(f"multi_optima, {steps} steps, {seeds} seeds; {cpu}, {os.cpu_count()} CPUs, "
          f"load {load:.1f}; no GPU (CPU-only JAX)")  # fmt: skip
    rows = bayesuq_rows("gp", steps, seeds)
    if not args.no_deup:
        rows += bayesuq_rows("deup", steps, seeds)
    botorch = botorch_row(steps, seeds)
    if botorch is not None:
        rows.append(botorch)
    print(f"\n{'row':58s} {'total s':>9s} {'s/step':>9s} {'final best':>11s}")
    for r in rows:
        print(f"{r['row']:58s} {r['seconds']:9.2f} {r['per_step']:9.4f} {r['final_best']:11.4f}")
    ratios = {}
    ours = {r["row"]: r for r in rows}
    vmapped_warm = ours["bayesuq gp, seeds vmapped (second call)"]["seconds"]
    vmapped_cold = ours["bayesuq gp, seeds vmapped (first call)"]["seconds"]
    by_seed = ours["bayesuq gp, seed by seed (compiled)"]["seconds"]
    ratios["seed by seed / vmapped (GP-EI, compiled)"] = by_seed / vmapped_warm
    if botorch is not None:
        ratios["BoTorch / bayesuq GP-EI vmapped (compiled)"] = botorch["seconds"] / vmapped_warm
        ratios["BoTorch / bayesuq GP-EI vmapped (first call, compile included)"] = (
            botorch["seconds"] / vmapped_cold
        )
        per_step_ours = ours["bayesuq gp, seeds vmapped (second call)"]["per_step"]
        ratios["BoTorch s/step (1 seed) / bayesuq s/step (all seeds)"] = (
            botorch["per_step"] / per_step_ours
        )
    if not args.no_deup:
        d_warm = ours["bayesuq deup, seeds vmapped (second call)"]["seconds"]
        d_seed = ours["bayesuq deup, seed by seed (compiled)"]["seconds"]
        ratios["seed by seed / vmapped (DEUP-EI, compiled)"] = d_seed / d_warm
        if botorch is not None:
            ratios["BoTorch GP-EI / bayesuq DEUP-EI vmapped (compiled)"] = (
                botorch["seconds"] / d_warm
            )
    print()
    for name, value in ratios.items():
        print(f"{name:66s} {value:8.2f}x")
    print(f"load average at the end: {os.getloadavg()[0]:.1f}")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"rows": rows, "ratios": ratios, "steps": steps, "seeds": seeds}, handle,
                      indent=2)  # fmt: skip


if __name__ == "__main__":
    main()
