# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#   kernelspec:
#     display_name: Python 3
#     name: python3
# ---

# %% [markdown]
# # PRESTO: better rare-class probabilities by shrinking towards proportional odds
#
# Faletto & Bien (2023, ICML) predict the top class K of an ordinal outcome (a purchase
# after click and cart, a severe adverse event) by fitting one slope vector per threshold
# and penalising the *differences* between adjacent slope vectors with an L1 penalty. The
# rare top threshold then borrows strength from the abundant lower thresholds where the
# slopes agree (proportional odds) and departs from them where the data say so.
#
# This study reproduces the paper's simulation (section 4) at reduced replication: box
# plots of the in-sample rare-class MSE of PRESTO, separate logistic regressions (Logit)
# and proportional odds (PO), on the sparse- and dense-difference designs; then the
# Bayesian version's credible intervals for the rare-class probability.
#
# Run: `bayesuq run case_studies/presto_rare_events.py -- [--smoke] [--out DIR]`; the
# simulation study alone is `bayesuq presto [--smoke]`.

# %%
import argparse
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from bayesuq.case_study import case_study_args
from bayesuq.models.presto import (
    BayesianPresto,
    Presto,
    plot_study,
    simulate_sparse_diffs,
    simulation_study,
    summarise_study,
)

parser = argparse.ArgumentParser()
parser.add_argument("--smoke", action="store_true", help="tiny run for the tests")
parser.add_argument("--out", default="results/presto")
args = case_study_args(parser, __name__)
out = Path(args.out)
out.mkdir(parents=True, exist_ok=True)
if args.smoke:
    study = {"n_reps": 2, "n": 600, "p": 4, "presto_kwargs": {"n_lambdas": 6, "cv": 3, "tol": 1e-6}}
    bayes_settings = {"n": 600, "p": 3, "chains": 2, "draws": 150, "warmup": 150}
else:
    study = {"n_reps": 20, "n": 2500, "p": 10}
    bayes_settings = {"n": 2500, "p": 10, "chains": 4, "draws": 500, "warmup": 500}

# %% [markdown]
# ## The simulation study: rare-class MSE over replications
#
# Main settings of the paper: n = 2500, p = 10, K = 4, X ~ U(-1, 1)^p, intercepts
# (0, 3.5, 5.5) (about 15-18 class-4 observations). Sparse design: each slope starts at 0.5
# with probability 1/2 and jumps by +-0.5 at each threshold with probability 1/2; dense
# design: every difference ~ U(-0.5, 0.5). PRESTO tunes lambda by 5-fold CV on the Brier
# score.

# %%
tables = {}
for design in ("sparse", "dense"):
    tables[design] = simulation_study(design=design, seed=2390812, **study)
    summary = summarise_study(tables[design])
    summary.to_csv(out / f"summary_{design}.csv")
    print(f"--- {design} differences ---")
    print(summary.to_string(float_format=lambda v: f"{v:.3g}"))

plot_study({f"{d} differences": t for d, t in tables.items()}, out / "mse_boxplots.png")
pd.concat(tables, names=["design"]).to_csv(out / "mse.csv")

# %% [markdown]
# ## Bayesian PRESTO: credible intervals for the rare-class probability
#
# A Laplace prior on the slope differences, with the scale matched to the CV-chosen
# penalty (scale = 1 / (n lambda)), sampled with `bayesuq.nuts`. The 90% intervals for
# P(y = 4 | x) are compared with the truth on 40 training rows.

# %%
n, p = bayes_settings["n"], bayes_settings["p"]
data = simulate_sparse_diffs(n=n, p=p, seed=11)
X = pd.DataFrame(data.X, columns=[f"x{j + 1}" for j in range(p)])
labels = np.array(["view", "click", "cart", "buy"])
y = pd.Series(pd.Categorical(labels[data.y], categories=labels, ordered=True))
pen = Presto(penalize_first=False).fit(X, y)
bayes = BayesianPresto(
    scale=BayesianPresto.matching_scale(pen.lambda_, n),
    chains=bayes_settings["chains"],
    draws=bayes_settings["draws"],
    warmup=bayes_settings["warmup"],
    seed=1,
).fit(X, y)
report = bayes.diagnose()
print(report)
interval = bayes.rare_interval(X, prob=0.9)
truth = data.probs[:, -1]
coverage = float(np.mean((interval["lower"] <= truth) & (truth <= interval["upper"])))
mse_bayes = float(np.mean((interval["mean"] - truth) ** 2))
mse_pen = float(np.mean((pen.predict_rare_proba(X) - truth) ** 2))
print(
    f"lambda* = {pen.lambda_:.3g}; rare-class MSE: penalised {mse_pen:.3g}, "
    f"posterior mean {mse_bayes:.3g}"
)
print(f"pointwise coverage of the 90% intervals of P(y = buy | x): {coverage:.2f}")

order = np.argsort(truth)[:: max(n // 40, 1)][:40]
fig = Figure(figsize=(7, 3.5), layout="tight")
ax = fig.subplots()
ax.errorbar(
    np.arange(order.size),
    interval["mean"].values[order],
    yerr=[
        interval["mean"].values[order] - interval["lower"].values[order],
        interval["upper"].values[order] - interval["mean"].values[order],
    ],
    fmt="o",
    ms=3,
    label="posterior mean, 90% interval",
)
ax.plot(np.arange(order.size), truth[order], "k_", ms=10, label="true probability")
ax.plot(
    np.arange(order.size), pen.predict_rare_proba(X)[order], "rx", ms=4, label="PRESTO (penalised)"
)
ax.set_xlabel("training rows, sorted by true P(buy)")
ax.set_ylabel("P(y = buy | x)")
ax.legend(fontsize=8)
fig.savefig(out / "bayes_rare_intervals.png", dpi=120)
pd.DataFrame(
    {
        "mse_penalised": [mse_pen],
        "mse_bayes": [mse_bayes],
        "coverage90": [coverage],
        "ok": [report.ok],
    }
).to_csv(out / "bayes_summary.csv", index=False)
print(f"wrote figures and tables to {out}")
