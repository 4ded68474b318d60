"""Benchmark: PRESTO's lambda path with 5-fold CV, and a vmapped batch of replications.

Design: the paper's main setting (n = 2500, p = 10, K = 4, sparse differences, pi = 1/2,
alpha = (0, 3.5, 5.5)). Figures are wall-clock seconds (the first call, which includes
compilation, and the median of ``--repeat`` later calls) and ratios against statsmodels'
``OrderedModel`` (proportional odds, BFGS) measured in the same run. The batch of
replications is timed as a Python loop of ``Presto`` fits and as one compiled program
(``lax.map`` and ``vmap`` over replications).

``--r AUTHORS_DIR`` also fits PRESTO with the authors' R code (a checkout of their
repository, gregfaletto/presto on GitHub, with its modified ordinalNet) through
``benchmarks/presto_authors.R`` on the same data and the same folds, written to CSV here,
and compares the time (the R run against bayesuq's first call, compilation included) and
the in-sample rare-class MSE against the true probabilities, which must agree within
``MSE_RTOL``.

Run: ``.venv/bin/python benchmarks/bench_presto.py [--repeat 3] [--reps 4] [--r DIR]``
"""

from __future__ import annotations

import argparse
import csv
import subprocess
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression

from bayesuq.models.presto import (
    CumulativeLogit,
    Presto,
    ProportionalOdds,
    presto_batch_rare_probs,
    simulate_sparse_diffs,
)
from bayesuq.models.presto.penalised import fold_weights

MSE_RTOL = 0.05
"""Largest relative difference of the two rare-class MSEs accepted as "equal"."""


def timed(fn, repeat: int) -> tuple[float, float]:
    """(first call incl. compilation, median of ``repeat`` later calls) in seconds."""
    start = time.perf_counter()
    fn()
    first = time.perf_counter() - start
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return first, float(np.median(times))


def compare_with_r(authors_dir: str, seed: int = 0) -> dict:
    """Fit PRESTO with the authors' R code and with bayesuq on the same data and folds.

    bayesuq's time is a first call in this process (it compiles there, unless an earlier
    row compiled the same shapes; call this first for a cold figure).
    """
    data = simulate_sparse_diffs(seed=seed)
    n, p = data.X.shape
    w = fold_weights(n, 5, np.random.default_rng(0))  # what Presto(random_state=0) draws
    fold = np.argmin(w[:-1], axis=0) + 1
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        np.savetxt(
            folder / "X.csv",
            data.X,
            delimiter=",",
            comments="",
            header=",".join(f"x{j + 1}" for j in range(p)),
            fmt="%.17g",
        )
        np.savetxt(folder / "y.csv", data.y + 1, header="y", comments="", fmt="%d")
        np.savetxt(folder / "folds.csv", fold, header="fold", comments="", fmt="%d")
        script = Path(__file__).with_name("presto_authors.R")
        start = time.perf_counter()
        subprocess.run(["Rscript", str(script), authors_dir, tmp], check=True)
        r_wall = time.perf_counter() - start
        r_rare = np.loadtxt(folder / "r_rare.csv", skiprows=1)
        with open(folder / "r_result.csv") as handle:
            r_result = {k: float(v) for k, v in next(csv.DictReader(handle)).items()}
    start = time.perf_counter()
    fit = Presto(random_state=0).fit(data.X, data.y)
    py_first = time.perf_counter() - start
    start = time.perf_counter()
    Presto(random_state=0).fit(data.X, data.y)
    py_warm = time.perf_counter() - start
    truth = data.probs[:, -1]
    py_rare = fit.predict_rare_proba(data.X)
    mse_py = float(np.mean((py_rare - truth) ** 2))
    mse_r = float(np.mean((r_rare - truth) ** 2))
    return {
        "r_seconds": r_result["seconds"],
        "r_wall": r_wall,
        "py_first": py_first,
        "py_warm": py_warm,
        "mse_r": mse_r,
        "mse_py": mse_py,
        "mse_equal": abs(mse_r - mse_py) <= MSE_RTOL * mse_py,
        "max_prob_diff": float(np.max(np.abs(r_rare - py_rare))),
        "lambda_r": r_result["lambda_star"],
        "lambda_py": fit.lambda_,
        "lambda_max_r": r_result["lambda_max"],
        "lambda_max_py": fit.lambda_max_,
    }


def report_r(out: dict) -> None:
    print("\nPRESTO, authors' R code vs bayesuq (same data, same 5 folds, 20 lambdas)")
    print(
        f"R (source + tune + refit + predict): {out['r_seconds']:.2f} s "
        f"(Rscript wall {out['r_wall']:.2f} s)"
    )
    print(
        f"bayesuq Presto first call (compilation included): {out['py_first']:.2f} s; "
        f"second call {out['py_warm']:.2f} s"
    )
    print(
        f"ratio R / bayesuq: first call {out['r_wall'] / out['py_first']:.1f}x, "
        f"second call {out['r_wall'] / out['py_warm']:.1f}x (Rscript wall time)"
    )
    print(
        f"rare-class MSE: R {out['mse_r']:.4e}, bayesuq {out['mse_py']:.4e}; "
        f"equal within {MSE_RTOL:.0%}: {out['mse_equal']}; "
        f"max |p_R - p_bayesuq| = {out['max_prob_diff']:.2e}"
    )
    print(
        f"lambda*: R {out['lambda_r']:.6g}, bayesuq {out['lambda_py']:.6g}; "
        f"lambda_max: R {out['lambda_max_r']:.6g}, bayesuq {out['lambda_max_py']:.6g}"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--reps", type=int, default=4, help="replications in the batch")
    parser.add_argument("--r", metavar="AUTHORS_DIR", help="also run the authors' R code")
    parser.add_argument("--r-only", action="store_true", help="only the R comparison")
    args = parser.parse_args()
    if args.r:
        r_out = compare_with_r(args.r)  # first: bayesuq's first call compiles here
        report_r(r_out)
        if args.r_only:
            return
    data = simulate_sparse_diffs(seed=0)
    X, y = data.X, data.y

    def statsmodels_po():
        from statsmodels.miscmodels.ordinal_model import OrderedModel

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            OrderedModel(y, X, distr="logit").fit(method="bfgs", disp=False, maxiter=2000)

    def sklearn_logits():
        for k in range(3):
            LogisticRegression(C=np.inf, max_iter=1000).fit(X, y <= k)

    rows = {
        "statsmodels OrderedModel (PO)": timed(statsmodels_po, args.repeat),
        "sklearn LogisticRegression x3 (Logit)": timed(sklearn_logits, args.repeat),
        "bayesuq ProportionalOdds (Newton)": timed(
            lambda: ProportionalOdds().fit(X, y), args.repeat
        ),
        "bayesuq CumulativeLogit (Newton)": timed(lambda: CumulativeLogit().fit(X, y), args.repeat),
        "Presto: 20-lambda path + 5-fold CV": timed(lambda: Presto().fit(X, y), args.repeat),
    }
    reps = [simulate_sparse_diffs(seed=s) for s in range(args.reps)]
    Xb, yb = np.stack([r.X for r in reps]), np.stack([r.y for r in reps])
    rows[f"Presto loop over {args.reps} replications"] = timed(
        lambda: [Presto(random_state=s).fit(r.X, r.y) for s, r in enumerate(reps)], args.repeat
    )
    for method in ("map", "vmap"):
        rows[f"Presto batch of {args.reps} replications ({method})"] = timed(
            lambda method=method: presto_batch_rare_probs(Xb, yb, n_classes=4, method=method),
            args.repeat,
        )
    base = rows["statsmodels OrderedModel (PO)"][1]
    print(f"n=2500, p=10, K=4; median of {args.repeat} warm runs; ratio = time / statsmodels PO")
    print(f"{'method':48s} {'first (s)':>10s} {'warm (s)':>10s} {'ratio':>8s}")
    for name, (first, warm) in rows.items():
        print(f"{name:48s} {first:10.3f} {warm:10.3f} {warm / base:8.1f}")


if __name__ == "__main__":
    main()
