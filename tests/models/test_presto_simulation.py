"""The paper's simulation designs and its headline claim at reduced scale; the CLI."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bayesuq.cli import main
from bayesuq.models.presto import (
    simulate_dense_diffs,
    simulate_sparse_diffs,
    simulation_study,
    summarise_study,
)

# Settings of the default (fast) study: PRESTO with a shorter path and 3 folds.
FAST = {"tol": 1e-6, "n_lambdas": 10, "cv": 3}


@pytest.mark.parametrize(
    ("simulate", "kwargs", "expected"),
    [
        (simulate_sparse_diffs, {"dev_prob": 0.5}, 18.0),
        (simulate_sparse_diffs, {"dev_prob": 1 / 3}, 15.0),
        (simulate_dense_diffs, {}, 15.0),
    ],
)
def test_generator_reproduces_rare_class_counts(simulate, kwargs, expected):
    """Spec table (alpha = (0, 3.5, 5.5), n = 2500): mean class-K count, +-1 table rounding."""
    counts = np.array([np.sum(simulate(seed=s, **kwargs).y == 3) for s in range(300)])
    se = counts.std(ddof=1) / np.sqrt(counts.size)
    assert abs(counts.mean() - expected) <= 1.0 + 4 * se, (counts.mean(), se)


def test_generator_rejects_invalid_truths_and_missing_classes():
    for seed in range(20):
        data = simulate_sparse_diffs(n=300, seed=seed)
        assert np.all(data.probs >= 0) and np.all(data.probs <= 1)
        assert np.unique(data.y).size == 4
        np.testing.assert_allclose(data.probs.sum(1), 1.0)
    with pytest.raises(ValueError, match="intercepts"):
        simulate_sparse_diffs(intercepts=(1.0, 0.0))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"intercepts": ()}, "at least one threshold"),
        ({"intercepts": (0.0, np.inf)}, "finite"),
        ({"n": 3}, "n must be an integer >= 4"),
        ({"n": 100.5}, "n must be an integer"),
        ({"p": 0}, "p must be an integer >= 1"),
        ({"dev_prob": 1.5}, "dev_prob must be a probability"),
        ({"seed": -1}, "seed must be an integer >= 0"),
    ],
)
def test_generator_refuses_impossible_designs(kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        simulate_sparse_diffs(**kwargs)


@pytest.mark.slow
def test_presto_beats_both_baselines_on_sparse_differences():
    """20 replications of the main design: n = 2500, p = 10, pi = 1/2, alpha = (0, 3.5, 5.5).

    Margin (the paper's claim, fixed before running): PRESTO's median rare-class MSE is below
    both baselines' medians, and PRESTO wins at least half of the paired replications against
    each. (At n = 1000, ~7 rare events, PRESTO and PO tie in median: measured, not tested.)
    """
    table = simulation_study(design="sparse", n_reps=20, n=2500, seed=100, presto_kwargs=FAST)
    summary = summarise_study(table)
    med = summary["median_mse"]
    assert med["PRESTO"] < med["PO"] and med["PRESTO"] < med["Logit"], summary
    assert summary.loc["PO", "presto_wins"] >= 0.5, summary
    assert summary.loc["Logit", "presto_wins"] >= 0.5, summary
    print(summary)


@pytest.mark.slow
@pytest.mark.parametrize("design", ["sparse", "dense"])
def test_full_scale_study_paper_settings(design):
    """n = 2500, default PRESTO (20 lambdas, 5 folds), 20 replications, paired t-test.

    Sparse: PRESTO beats both baselines in median. Dense: PRESTO beats Logit (median and
    paired t-test); against PO the 20-replication result depends on the seed (seed 7:
    median PRESTO 2.55e-5 vs PO 2.18e-5, mean 3.0e-5 vs 3.2e-5, paired p = 0.22; the case
    study's seed: PRESTO 2.12e-5 vs PO 3.60e-5), so it is reported, not asserted.
    """
    table = simulation_study(design=design, n_reps=20, n=2500, seed=7)
    summary = summarise_study(table)
    med = summary["median_mse"]
    assert med["PRESTO"] < med["Logit"], summary
    assert summary.loc["Logit", "p_paired_t"] < 0.05, summary
    if design == "sparse":
        assert med["PRESTO"] < med["PO"], summary


@pytest.mark.slow
def test_cli_smoke_mode(tmp_path):
    """``bayesuq presto --smoke``: a seconds-long run of the same study."""
    assert main(["presto", "--smoke", "-o", str(tmp_path)]) == 0
    table = pd.read_csv(tmp_path / "mse.csv")
    assert table.replication.nunique() == 2 and set(table.method) == {"PRESTO", "Logit", "PO"}


def test_cli_writes_table_and_figure(tmp_path, capsys):
    status = main(
        [
            "presto",
            "--reps",
            "2",
            "--n",
            "400",
            "--p",
            "3",
            "--intercepts",
            "0",
            "1.5",
            "-o",
            str(tmp_path),
        ]
    )
    assert status == 0
    for name in ("mse.csv", "summary.csv", "mse_boxplot.png"):
        assert (tmp_path / name).stat().st_size > 0
    assert "PRESTO" in capsys.readouterr().out


def test_vmapped_batch_matches_one_at_a_time():
    """Replication 0 of the batch uses the same folds as ``Presto(random_state=0)``."""
    from bayesuq.models.presto import Presto, presto_batch_rare_probs

    reps = [simulate_sparse_diffs(n=300, p=3, intercepts=(0.0, 1.5), seed=s) for s in range(2)]
    X = np.stack([r.X for r in reps])
    y = np.stack([r.y for r in reps])
    probs, lams = presto_batch_rare_probs(X, y, n_classes=3, n_lambdas=6, cv=3, seed=0)
    fit = Presto(n_lambdas=6, cv=3, random_state=0).fit(reps[0].X, reps[0].y)
    np.testing.assert_allclose(probs[0], fit.predict_rare_proba(reps[0].X), atol=1e-6)
    assert lams[0] == pytest.approx(fit.lambda_, rel=1e-9)
    assert probs.shape == (2, 300) and np.all((probs > 0) & (probs < 1))
