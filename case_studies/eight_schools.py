# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#   kernelspec:
#     display_name: Python 3
#     name: python3
# ---

# %% [markdown]
# # Eight schools: diagnostics that say what to do
#
# The eight schools study (Rubin 1981) estimates the effect of SAT coaching in eight
# schools from each school's estimate `y` and its standard error `sigma`. The hierarchical
# model `theta_j ~ N(mu, tau)`, `y_j ~ N(theta_j, sigma_j)` has a funnel between `tau` and
# `theta` when written in its centred form: NUTS cannot follow it and reports divergent
# transitions. The non-centred form `theta_j = mu + tau * eta_j` removes the funnel.
#
# This study fits both forms with `bayesuq.nuts`, shows how `bayesuq.diagnose` flags the
# first and passes the second, compares SVI with NUTS, and saves the results.
#
# Run: `bayesuq run case_studies/eight_schools.py -- [--smoke] [--out DIR]`.

# %%
import argparse
from pathlib import Path

import numpy as np

import bayesuq
from bayesuq.case_study import case_study_args
from bayesuq.data import eight_schools_centered, eight_schools_noncentered, load_eight_schools

parser = argparse.ArgumentParser()
parser.add_argument("--smoke", action="store_true", help="tiny run for the tests")
parser.add_argument("--out", default="results/eight_schools")
args = case_study_args(parser, __name__)
settings = {"chains": 2, "draws": 600, "warmup": 500} if args.smoke else {}
out = Path(args.out)

# %% [markdown]
# ## Data: pandas in, named dims out

# %%
frame = load_eight_schools()
data = {"sigma": frame["sigma"], "y": frame["y"]}
print(frame)

# %% [markdown]
# ## The centred model: divergences, and advice

# %%
centred = bayesuq.nuts(eight_schools_centered, data, seed=1, progress=False, **settings)
centred_report = bayesuq.diagnose(centred)
print(centred_report)

# %% [markdown]
# ## The non-centred model: the same posterior without the funnel

# %%
noncentred = bayesuq.nuts(
    eight_schools_noncentered,
    data,
    seed=1,
    target_accept=0.95,
    progress=False,
    log_likelihood=True,
    **settings,
)
noncentred_report = bayesuq.diagnose(noncentred)
print(noncentred_report)
print(noncentred.posterior["theta"].sel(school="Choate").mean().item())

# %% [markdown]
# ## SVI against NUTS
# A full-rank Gaussian guide on the non-centred model: fast, but it cannot represent the
# skewed posterior of `tau`, so its interval for `tau` is the one to distrust.

# %%
approx = bayesuq.svi(
    eight_schools_noncentered,
    data,
    guide="mvn",
    steps=300 if args.smoke else 10_000,
    seed=2,
    progress=False,
)
for name in ("mu", "tau"):
    nuts_draws = noncentred.posterior[name].values.ravel()
    svi_draws = approx.posterior[name].values.ravel()
    print(
        f"{name}: NUTS mean {nuts_draws.mean():6.2f} sd {nuts_draws.std():5.2f} | "
        f"SVI mean {svi_draws.mean():6.2f} sd {svi_draws.std():5.2f}"
    )

# %% [markdown]
# ## Save, reload, and the timing split

# %%
path = bayesuq.save(noncentred, out / "noncentred.nc")
reloaded = bayesuq.load(path)
assert reloaded.attrs == noncentred.attrs
print(
    f"compile {noncentred.attrs['compile_seconds']:.2f} s, "
    f"sampling {noncentred.attrs['sampling_seconds']:.2f} s, saved to {path}"
)
summary = {
    "centred_ok": centred_report.ok,
    "centred_divergences": centred_report.divergences,
    "noncentred_ok": noncentred_report.ok,
    "tau_mean": float(np.mean(noncentred.posterior["tau"].values)),
}
print(summary)
