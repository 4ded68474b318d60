"""Benchmark: PRESTO's lambda path with 5-fold CV, and a vmapped batch of replications.

Design: the paper's main setting (n = 2500, p = 10, K = 4, sparse differences, pi = 1/2,
alpha = (0, 3.5, 5.5)). Figures are wall-clock seconds (median of ``--repeat`` runs after
one warm-up run that includes compilation) and ratios against statsmodels'
``OrderedModel`` (proportional odds, BFGS) measured in the same run.

Run: ``.venv/bin/python benchmarks/bench_presto.py [--repeat 3] [--reps 4]``
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
from sklearn.linear_model import LogisticRegression

from bayesuq.models.presto import (
    CumulativeLogit,
    Presto,
    ProportionalOdds,
    presto_batch_rare_probs,
    simulate_sparse_diffs,
)


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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--reps", type=int, default=4, help="replications in the batch")
    args = parser.parse_args()
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
    rows[f"Presto vmapped batch of {args.reps} replications"] = timed(
        lambda: presto_batch_rare_probs(Xb, yb, n_classes=4), args.repeat
    )
    base = rows["statsmodels OrderedModel (PO)"][1]
    print(f"n=2500, p=10, K=4; median of {args.repeat} warm runs; ratio = time / statsmodels PO")
    print(f"{'method':48s} {'first (s)':>10s} {'warm (s)':>10s} {'ratio':>8s}")
    for name, (first, warm) in rows.items():
        print(f"{name:48s} {first:10.3f} {warm:10.3f} {warm / base:8.1f}")


if __name__ == "__main__":
    main()
