# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#   kernelspec:
#     display_name: Python 3
#     name: python3
# ---

# %% [markdown]
# # DEUP on a misspecified regression: uncertainty that sees the model's bias
#
# Lahlou et al. (2023, TMLR) define the epistemic uncertainty of a predictor `f` as its
# excess risk, `E[(Y - f(x))^2 | x] - Var(Y | x) = (f(x) - E[Y | x])^2`: the error the model
# could lose with more data or a better model class, bias included. A GP's posterior
# variance measures only the spread of functions the GP itself considers plausible; when
# the GP's assumptions are wrong, it is confidently wrong.
#
# Design (bayesuq's, after the paper's Figure 1): the truth is `sin(2 pi x)` outside
# `(0.5, 1.5)` and a fast product of sines with amplitude 7.2 inside, observed without
# noise at 100 inputs in `[0, 0.5] U [1.5, 2]`. A Matern-5/2 GP (MAP hyperparameters) is the
# main predictor. DEUP wraps the same GP; its error model is trained on the GP's
# out-of-sample errors (2-fold pre-fill, twice) and on its errors at the five inputs of the
# paper's Figure 1, `x in {-0.5, 0.7, 1, 1.3, 2.5}`, never used to train the GP. Baselines:
# the GP variance, a deep ensemble (5 MLPs) and MC dropout. Each estimator is compared with
# the true excess risk of its own mean predictor on a grid over `[-0.5, 2.5]`.
#
# Run: `bayesuq run case_studies/deup_misspecified.py -- [--smoke] [--out DIR]`.
#
# In the documentation this study is shown but not executed: its smoke run alone compiles
# several GP and network programs; the
# DEUP guide (`docs/deup.md`) shows the figures and tables of a full run.

# %%
import argparse
from pathlib import Path

from bayesuq.case_study import case_study_args
from bayesuq.models.deup import misspecified_figure, spearman_study

parser = argparse.ArgumentParser()
parser.add_argument("--smoke", action="store_true", help="tiny run for the tests")
parser.add_argument("--out", default="results/deup_misspecified")
parser.add_argument("--seed", type=int, default=0)
args = case_study_args(parser, __name__)
out = Path(args.out)
out.mkdir(parents=True, exist_ok=True)

# %% [markdown]
# ## Fit the four estimators and rank-correlate them with the true excess risk

# %%
study = spearman_study(seed=args.seed, smoke=args.smoke)
table = study["table"]
table.to_csv(out / "spearman.csv", index=False)
print(table.to_string(index=False, float_format="%.3f"))

# %% [markdown]
# ## The fit and the two uncertainty bands
#
# Left: the truth, the GP mean and `f +- 2 sd` under the GP variance (blue) and under DEUP's
# epistemic estimate (red). Right, on a log scale: the true excess risk `(f - g)^2` and the
# two estimates. The GP variance is largest where it extrapolates (left and right ends)
# and ranks the gap below them; its error is largest in the gap.

# %%
misspecified_figure(study, out / "misspecified.png")
summary = {row.estimator: round(row.spearman, 3) for row in table.itertuples()}
print(summary)
