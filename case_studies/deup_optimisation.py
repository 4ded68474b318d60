# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#   kernelspec:
#     display_name: Python 3
#     name: python3
# ---

# %% [markdown]
# # DEUP for sequential model optimisation
#
# Lahlou et al. (2023, TMLR, Section 5.1) choose where to evaluate an expensive function
# next by expected improvement under `N(f(x), u(x))`, with `u` DEUP's estimate of the
# predictor's error. This study reruns their comparisons with `bayesuq.models.deup.optimize`
# (every step of every seed in one compiled program):
#
# 1. `multi_optima` (`sin x cos 5x cos 22x` on `[-1, 2]`, 13 local maxima) and Levi N.13
#    (negated, `[-10, 10]^2`): DEUP-EI (MLP predictor, features `x` and the GP variance,
#    fixed-kernel GP error model), GP-EI, MC-dropout-EI, ensemble-EI and random search;
#    6 uniform initial points, 50 steps, 5 seeds.
# 2. Ackley (negated, `[-10, 15]^d`) for `d = 2, 5, 10`: TuRBO-EI against TuRBO-DEUP-EI
#    (GP predictor, log-variance feature, MAP GP error model); 20 scrambled-Sobol initial
#    points, 100 steps, 5 seeds.
#
# Curves are the best value found, mean +- one standard error over seeds. The networks'
# training budget of the two network baselines is cut from the authors' 200 epochs per
# refit to 50 (warm-started), to fit the full run into ~1 hour on 2 CPU cores.
#
# Run: `bayesuq run case_studies/deup_optimisation.py -- [--smoke] [--out DIR]`.
#
# In the documentation this study is shown but not executed: even its smoke run compiles a
# dozen optimisation programs (minutes on 2 cores); the
# DEUP guide (`docs/deup.md`) shows the figures and tables of a full run.

# %%
import argparse
from pathlib import Path

from bayesuq.case_study import case_study_args
from bayesuq.models.deup import (
    LEVI_N13,
    MULTI_OPTIMA,
    SMO_METHODS,
    TURBO_METHODS,
    ackley,
    compare,
    curves_figure,
    random_search_expected_best,
    summary_table,
)

parser = argparse.ArgumentParser()
parser.add_argument("--smoke", action="store_true", help="tiny run for the tests")
parser.add_argument("--out", default="results/deup_optimisation")
parser.add_argument("--seeds", type=int, default=5)
parser.add_argument("--seed", type=int, default=0)
args = case_study_args(parser, __name__)
out = Path(args.out)
out.mkdir(parents=True, exist_ok=True)
if args.smoke:
    smo = {
        "steps": 3,
        "seeds": 2,
        "hidden": (16,),
        "fit_steps": 10,
        "epochs": 2,
        "passes": 4,
        "raw_samples": 32,
        "restarts": 2,
        "iterations": 3,
        "fast_compile": True,
    }
    turbo = {**smo, "n_init": 6}
    dims = (2,)
    methods = {k: SMO_METHODS[k] for k in ("DEUP-EI", "GP-EI", "Random")}
else:
    smo = {"steps": 50, "seeds": args.seeds}
    turbo = {"steps": 100, "seeds": args.seeds, "n_init": 20}
    dims = (2, 5, 10)
    methods = SMO_METHODS
baselines = {"MC-dropout-EI": {"epochs": 50}, "Ensemble-EI": {"epochs": 50}}

# %% [markdown]
# ## multi_optima and Levi N.13

# %%
smo_results = {}
for function in (MULTI_OPTIMA, LEVI_N13):
    runs = {name: {**options, **baselines.get(name, {})} for name, options in methods.items()}
    smo_results[function.name] = compare(function, runs, seed=args.seed, **smo)
    for name, ds in smo_results[function.name].items():
        ds.to_netcdf(out / f"{function.name}_{name}.nc")
reference = {
    f.name: random_search_expected_best(f, 6, smo["steps"]) for f in (MULTI_OPTIMA, LEVI_N13)
}
curves_figure(smo_results, out / "smo_curves.png", reference=reference)
table = summary_table(smo_results)
print(table.to_string(index=False, float_format="%.4f"))

# %% [markdown]
# ## Ackley with TuRBO trust regions

# %%
turbo_results = {}
for d in dims:
    function = ackley(d)
    turbo_results[function.name] = compare(function, TURBO_METHODS, seed=args.seed, **turbo)
    for name, ds in turbo_results[function.name].items():
        ds.to_netcdf(out / f"{function.name}_{name}.nc")
curves_figure(turbo_results, out / "turbo_curves.png")
turbo_table = summary_table(turbo_results)
print(turbo_table.to_string(index=False, float_format="%.4f"))
summary_table({**smo_results, **turbo_results}).to_csv(out / "summary.csv", index=False)
