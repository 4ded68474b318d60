"""Predictive resampling and fitting of the copula density: bayesuq, NumPy, the authors' code.

The workload is the forward sampling of :class:`bayesuq.models.martingale.CopulaDensity`
(the paper's Section 4 method): ``B`` paths of ``T`` copula updates of the predictive at
``n_test`` evaluation points in ``d`` dimensions, starting from ``p_n`` of ``n = 50``
standard-normal data with a fixed ``rho = 0.8`` (fitting is not timed here).

Three codes run the same update (same ``n``, ``T``, ``B``, ``n_test``, ``d``, ``rho`` and
``p_n``), once in float32 and once in float64, each precision in a fresh interpreter
(JAX's x64 switch is per process):

* ``numpy``: a plain NumPy/SciPy loop over paths and steps, one step's update vectorised
  over the evaluation points and coordinates (:func:`numpy_resample`; the same equations
  as the authors' and bayesuq's code, in the chosen precision); the baseline of every
  ratio. Timed on a few paths and scaled to draws per second.
* ``bayesuq``: ``CopulaDensity.predictive_resample`` (``vmap`` over ``lax.scan``, chunked),
  the whole public call (``p_n`` replay, the convergence distance, the ``InferenceData``).
  Its first call compiles (or loads the program from bayesuq's persistent XLA cache); the
  figure is the second call, with another seed, which reuses the compiled program.
* ``authors``: ``predictive_resample_loop_B`` of github:edfong/MP (``pr_copula``), run by
  :mod:`mp_authors` from an exported copy of their tree (``--authors-src``), on the same
  ``p_n``; second call, compiled.

``--fit`` times the bandwidth fit on the Ionosphere density data (the paper's Section 5:
columns 3-34 of ``ionosphere.data``, one of each pair with ``|r| > 0.98`` dropped, a random
half for training, standardised), read from the authors' tree; without ``--authors-src``
the data are simulated of the same shape. bayesuq's ``CopulaDensity.fit`` (robust grid,
then L-BFGS-B or SLSQP) and the authors' ``fit_copula_density`` (SLSQP from ``rho = 0.9``)
run at the same precision, with the count of objective evaluations.

``--precision``: float32 against float64 on the paper's d = 10 GMM (n = 100, 1000 test
points): the fitted rho, the test log-likelihood per point and the CPU seconds of fitting
and of predictive resampling (B = 200, T = 1000 at 100 test points).

Usage::

    git --git-dir=PATH/TO/MP/.git archive HEAD pr_copula run_expts/data/ionosphere.data \\
        | tar -x -C /tmp/mp_authors                       # once: the authors' code
    python benchmarks/bench_martingale.py --authors-src /tmp/mp_authors    # resampling
    python benchmarks/bench_martingale.py --authors-src /tmp/mp_authors --fit
    python benchmarks/bench_martingale.py --quick         # smaller, for a smoke run
    python benchmarks/bench_martingale.py --precision     # float32 vs float64 on the GMM
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
from scipy.special import ndtr, ndtri

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import emit_result, run_child

RHO = 0.8
EPS = 1e-6
N_DATA = 50
PRECISIONS = ("float32", "float64")


def numpy_resample(log_pdf, cdf, *, n, steps, draws, rho, seed, dtype=np.float64):
    """Plain NumPy forward sampling (loop over paths and steps); returns pdfs (draws, m).

    Each step is the copula update of :func:`bayesuq.models.martingale.copula.copula_step`
    (and of the authors' ``update_copula_single``), vectorised over the ``m`` evaluation
    points and ``d`` coordinates, in ``dtype``.
    """
    rng = np.random.default_rng(seed)
    f = np.dtype(dtype).type
    log_pdf, cdf = np.asarray(log_pdf, dtype), np.asarray(cdf, dtype)
    rho = f(rho)
    r2 = rho * rho
    out = np.empty((draws, log_pdf.shape[0]), dtype)
    for b in range(draws):
        lp, u = log_pdf.copy(), cdf.copy()
        for t in range(steps):
            k = n + t + 1
            a_k = f((2 - 1 / k) / (k + 1))
            v = rng.uniform(size=u.shape[1]).astype(dtype)
            u = np.clip(u, f(EPS), f(1 - EPS))
            a, bb = ndtri(u), ndtri(np.clip(v, f(EPS), f(1 - EPS)))[None, :]
            log_c = -f(0.5) * np.log1p(-r2) - (r2 * (a * a + bb * bb) - 2 * rho * a * bb) / (
                2 * (1 - r2)
            )
            log_cum = np.cumsum(log_c, axis=1)
            log_prev = np.concatenate([np.zeros((u.shape[0], 1), dtype), log_cum[:, :-1]], axis=1)
            log_a, log1m_a = np.log(a_k), np.log1p(-a_k)
            lp = lp + np.logaddexp(log1m_a, log_a + log_cum)
            h = np.clip(ndtr((a - rho * bb) / np.sqrt(1 - r2)), f(EPS), f(1 - EPS))
            num = np.logaddexp(log1m_a + np.log(u), log_a + log_prev + np.log(h))
            den = np.logaddexp(log1m_a, log_a + log_prev)
            u = np.clip(np.exp(num - den), f(EPS), f(1 - EPS))
        out[b] = np.exp(lp[:, -1])
    return out


def _configure_jax(precision: str):
    """Import JAX with x64 on or off for ``precision`` (a fresh process per precision)."""
    import jax

    jax.config.update("jax_enable_x64", precision == "float64")
    return jax


def measure(config: dict, precision: str, authors_src: str | None, numpy_draws: int) -> dict:
    """bayesuq, NumPy and (with ``authors_src``) the authors' draws/s at one configuration."""
    _configure_jax(precision)
    from bayesuq.models.martingale import CopulaDensity

    B, T, m, d = config["B"], config["T"], config["n_test"], config["d"]
    data = np.random.default_rng(0).normal(size=(N_DATA, d))
    model = CopulaDensity(rho=RHO, seed=0, precision=precision).fit(data)
    points = np.random.default_rng(1).normal(size=(m, d))
    chunk = min(B, 250)
    start = time.perf_counter()
    model.predictive_resample(points, steps=T, draws=B, seed=1, chunk=chunk)
    first = time.perf_counter() - start
    start = time.perf_counter()
    res = model.predictive_resample(points, steps=T, draws=B, seed=2, chunk=chunk)
    jax_s = time.perf_counter() - start
    from bayesuq.precision import computing_in

    with computing_in(precision):
        state = model._state(points)
    start = time.perf_counter()
    ref = numpy_resample(
        np.asarray(state.log_pdf),
        np.asarray(state.cdf),
        n=N_DATA,
        steps=T,
        draws=numpy_draws,
        rho=RHO,
        seed=3,
        dtype=np.dtype(precision),
    )
    np_s = time.perf_counter() - start
    pdf = res.posterior["pdf"].values
    assert np.all(np.isfinite(ref)) and np.all(np.isfinite(pdf))
    row = {
        **config,
        "precision": precision,
        "bayesuq_dtype": str(pdf.dtype),
        "compile_s": first - jax_s,
        "bayesuq_s": jax_s,
        "bayesuq_draws_per_s": B / jax_s,
        "numpy_draws_per_s": numpy_draws / np_s,
    }
    if authors_src is not None:
        import mp_authors

        mods = mp_authors.load(authors_src)
        z = (points - model.mean_) / model.scale_
        log_cdf, log_pdf = mp_authors.averaged_state(mods, model.v_, model.rho_, z)
        mp_authors.resample(mods, log_cdf, log_pdf, model.rho_, n=N_DATA, steps=T, draws=B, seed=1)
        start = time.perf_counter()
        _, lp = mp_authors.resample(
            mods, log_cdf, log_pdf, model.rho_, n=N_DATA, steps=T, draws=B, seed=2
        )
        authors_s = time.perf_counter() - start
        # the same law: both means over paths match p_n (martingale) to Monte Carlo error
        row.update(
            authors_dtype=str(lp.dtype),
            authors_s=authors_s,
            authors_draws_per_s=B / authors_s,
            mean_pdf_bayesuq=float(pdf[0].mean()),
            mean_pdf_authors=float(np.exp(np.asarray(lp)[..., -1]).mean()),
        )
    return row


def child_resample(precision: str, configs: list[dict], authors_src, numpy_draws) -> None:
    """One precision, all configurations, in this (fresh) process; emits the rows."""
    rows = [measure(c, precision, authors_src, numpy_draws) for c in configs]
    emit_result({"rows": rows, "load_end": os.getloadavg()[0]})


def _ratio(a, b, digits: int = 1) -> str:
    return f"{a / b:.{digits}f}x" if a and b else "n/a"


def bench_resample(args) -> None:
    """Both precisions, each in a child process; prints a Markdown table."""
    import jax

    configs = (
        [{"B": 50, "T": 100, "n_test": 50, "d": 1}]
        if args.quick
        else [
            {"B": 200, "T": 500, "n_test": 100, "d": 1},
            {"B": 200, "T": 500, "n_test": 100, "d": 4},
        ]
    )
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores, "
        f"JAX {jax.__version__} backend={jax.default_backend()}; "
        f"load average at start {os.getloadavg()[0]:.2f}; n = {N_DATA}, rho = {RHO}; "
        f"NumPy timed on {args.numpy_draws} paths",
        flush=True,
    )
    print(
        "| precision | B | T | n_test | d | bayesuq draws/s | NumPy draws/s | authors draws/s "
        "| bayesuq/NumPy | bayesuq/authors | first-call overhead s |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for precision in args.precisions:
        argv = [__file__, "--child", precision, "--configs", json.dumps(configs)]
        argv += ["--numpy-draws", str(args.numpy_draws)]
        if args.authors_src:
            argv += ["--authors-src", args.authors_src]
        out = run_child(argv, timeout=3600)
        for r in out["rows"]:
            authors = r.get("authors_draws_per_s")
            print(
                f"| {precision} | {r['B']} | {r['T']} | {r['n_test']} | {r['d']} "
                f"| {r['bayesuq_draws_per_s']:.1f} | {r['numpy_draws_per_s']:.2f} "
                f"| {'n/a' if authors is None else f'{authors:.1f}'} "
                f"| {_ratio(r['bayesuq_draws_per_s'], r['numpy_draws_per_s'])} "
                f"| {_ratio(r['bayesuq_draws_per_s'], authors, 2)} "
                f"| {r['compile_s']:.1f} |",
                flush=True,
            )
    print(f"load average at end {os.getloadavg()[0]:.2f}")


def ionosphere_data(authors_src: str | None, seed: int = 100) -> tuple[np.ndarray, str]:
    """The paper's Ionosphere density training half, standardised, or a simulated stand-in.

    Columns 3-34 of ``ionosphere.data``; from each pair with ``|r| > 0.98`` one is dropped
    (the authors' ``drop_corr``); a random half (``int(0.5 n)`` rows) is kept and
    standardised with the population sd, as in their ``3_mv_copula.py``.
    """
    path = None if authors_src is None else Path(authors_src) / "run_expts/data/ionosphere.data"
    if path is not None and path.is_file():
        import pandas as pd

        frame = pd.read_csv(path, header=None).iloc[:, 2:34]
        corr = frame.corr().abs()
        upper = corr.where(np.triu(np.ones(corr.shape), k=1).astype(bool))
        drop = [c for c in upper.columns if any(upper[c] > 0.98)]
        data, source = frame.drop(columns=drop).to_numpy(dtype=float), str(path)
    else:
        data = np.random.default_rng(seed).standard_t(5, size=(351, 32))
        source = "simulated (351 x 32, Student t5), the Ionosphere shape"
    rows = np.random.default_rng(seed).permutation(data.shape[0])[: int(0.5 * data.shape[0])]
    y = data[rows]
    return (y - y.mean(0)) / y.std(0), source


def child_fit(precision: str, authors_src: str | None) -> None:
    """Fit timings at one precision (fresh process): bayesuq twice (cold, warm), authors."""
    _configure_jax(precision)
    from bayesuq.models.martingale import CopulaDensity
    from bayesuq.models.martingale import copula as cop

    y, source = ionosphere_data(authors_src)
    calls = {"value_and_grad": 0, "forward": 0}
    objective, forward = cop.negative_prequential, cop.prequential_terms

    def counted_objective(*a):
        calls["value_and_grad"] += 1
        return objective(*a)

    def counted_forward(*a):
        calls["forward"] += 1
        return forward(*a)

    cop.negative_prequential, cop.prequential_terms = counted_objective, counted_forward
    out = {"precision": precision, "shape": list(y.shape), "source": source, "bayesuq": []}
    for optimizer in ("L-BFGS-B", "L-BFGS-B", "SLSQP"):  # the first includes compilation
        calls.update(value_and_grad=0, forward=0)
        start = time.perf_counter()
        model = CopulaDensity(seed=50, optimizer=optimizer, precision=precision).fit(y)
        out["bayesuq"].append(
            {
                "optimizer": optimizer,
                "seconds": time.perf_counter() - start,
                "rho": float(model.rho_[0]),
                "prequential_loglik": model.prequential_loglik_,
                "n_iter": model.n_iter_,
                **calls,
            }
        )
    if authors_src is not None:
        import mp_authors

        mods = mp_authors.load(authors_src)
        out["authors"] = []
        start = time.perf_counter()  # their fit compiles in a warm-up of its own
        res = mp_authors.fit(mods, y, seed=50)
        seconds = time.perf_counter() - start
        res.pop("vn_perm")
        out["authors"] = [
            {
                **res,
                "rho": float(res["rho"][0]),
                "prequential_loglik": res["preq_loglik"],
                "seconds": seconds,
                "optimizer": "SLSQP",
            }
        ]
    emit_result(out)


def bench_fit(args) -> None:
    """Ionosphere fit timings at both precisions; prints one line per fit."""
    print(f"load average at start {os.getloadavg()[0]:.2f}", flush=True)
    for precision in args.precisions:
        argv = [__file__, "--child-fit", precision]
        if args.authors_src:
            argv += ["--authors-src", args.authors_src]
        out = run_child(argv, timeout=3600)
        print(f"{precision}: data {out['shape']} from {out['source']}")
        for who in ("bayesuq", "authors"):
            for i, r in enumerate(out.get(who, [])):
                label = "with compilation" if i == 0 else "compiled"
                extra = (
                    f"{r['value_and_grad']} value+gradient, {r['forward']} forward passes"
                    if who == "bayesuq"
                    else f"{r['fun_calls']} values + {r['jac_calls']} gradients "
                    f"(own warm-up {r['compile_s']:.1f} s, SLSQP {r['optimize_s']:.1f} s)"
                )
                print(
                    f"  {who} {r['optimizer']} ({label}): {r['seconds']:6.1f} s, "
                    f"rho {r['rho']:.5f}, prequential log-lik {r['prequential_loglik']:.4f}, "
                    f"{r.get('n_iter', r.get('nit'))} iterations, {extra}",
                    flush=True,
                )
    print(f"load average at end {os.getloadavg()[0]:.2f}")


def bench_precision(d: int = 10, repeats: int = 2) -> None:
    """float32 (the family's default) against float64 on the paper's GMM: CPU seconds."""
    from bayesuq.models.martingale import CopulaDensity, high_dim_gmm_data

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
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one small configuration")
    parser.add_argument("--precision", action="store_true", help="float32 vs float64 on a GMM")
    parser.add_argument("--fit", action="store_true", help="Ionosphere fit: bayesuq vs authors")
    parser.add_argument("--authors-src", help="folder holding the authors' pr_copula/")
    parser.add_argument("--precisions", nargs="+", choices=PRECISIONS, default=PRECISIONS)
    parser.add_argument("--numpy-draws", type=int, default=8, help="paths timed for NumPy")
    parser.add_argument("--child", choices=PRECISIONS, help=argparse.SUPPRESS)
    parser.add_argument("--child-fit", choices=PRECISIONS, help=argparse.SUPPRESS)
    parser.add_argument("--configs", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child_resample(args.child, json.loads(args.configs), args.authors_src, args.numpy_draws)
    elif args.child_fit:
        child_fit(args.child_fit, args.authors_src)
    elif args.precision:
        bench_precision()
    elif args.fit:
        bench_fit(args)
    else:
        bench_resample(args)


if __name__ == "__main__":
    main()
