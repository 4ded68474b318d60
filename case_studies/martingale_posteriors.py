# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#   kernelspec:
#     display_name: Python 3
#     name: python3
# ---

# %% [markdown]
# # Martingale posteriors: uncertainty from a predictive rule
#
# Fong, Holmes & Walker (2023, "Martingale posterior distributions", JRSS B 85(5)) replace
# prior and likelihood by a one-step predictive: impute the unseen `Y_{n+1}, ..., Y_N` from
# the predictive, update it after each draw, and read off the statistic. Repeating this
# `B` times gives the martingale posterior. This study reproduces, at small scale:
#
# 1. the **normal demo**: the martingale posterior of the conjugate model equals the Bayes
#    posterior `N(1.8369, 1/11)`;
# 2. the **toy GMM** (Figure 4): copula density with 95 % bands at n = 50 and n = 200,
#    against a two-component Gaussian mixture fitted by `bayesuq.nuts`;
# 3. a **1-D regression** with bands for `E[y | x]`, against a Bayesian basis-function
#    regression fitted by `bayesuq.nuts`;
# 4. **make_moons** classification with uncertainty, against a Bayesian logistic model on
#    quadratic features fitted by `bayesuq.nuts`.
#
# Run: `bayesuq martingale [--smoke] [--out DIR]`, or
# `bayesuq run case_studies/martingale_posteriors.py -- [--smoke] [--out DIR]`.

# %%
import argparse
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import numpyro
import numpyro.distributions as dist
import pandas as pd
import scipy.stats
from sklearn.datasets import make_moons

import bayesuq
from bayesuq.case_study import case_study_args
from bayesuq.models.martingale import (
    CopulaClassifier,
    CopulaDensity,
    CopulaRegression,
    normal_demo_data,
    normal_martingale_posterior,
)

parser = argparse.ArgumentParser()
parser.add_argument("--smoke", action="store_true", help="tiny run for the tests")
parser.add_argument("--out", default="results/martingale")
args = case_study_args(parser, __name__)
out = Path(args.out)
out.mkdir(parents=True, exist_ok=True)
SMOKE = args.smoke
# Forward steps and paths. The paper uses T = 5000, B = 1000; on 2 CPU cores the full mode
# uses T = 1000 (the convergence check below reports how far P_N still moves) and B = 400
# for the densities, B = 200 for the conditional models (many more evaluation points).
T, B = (100, 50) if SMOKE else (1000, 400)
B_COND = 50 if SMOKE else 200
NUTS = {"chains": 1, "draws": 200, "warmup": 200} if SMOKE else {"chains": 2}
FIT = {"maxiter": 10} if SMOKE else {}  # rho optimiser iterations
# The copula updates need float64. A context (not the global switch) so that running this
# script inside another process (the tests, `bayesuq martingale`) leaves its setting alone;
# it is closed at the end of the script.
X64 = jax.enable_x64(True)
X64.__enter__()
summary: dict[str, float] = {}
started = time.perf_counter()

# %% [markdown]
# ## 1. The normal demo: martingale posterior = Bayes posterior

# %%
y_normal = normal_demo_data()
normal = normal_martingale_posterior(y_normal, steps=1000, draws=1000 if SMOKE else 5000, seed=100)
theta = normal.posterior["theta"].values.ravel()
summary["normal_theta_n"] = normal.attrs["theta_n"]
summary["normal_mean"] = float(theta.mean())
summary["normal_var"] = float(theta.var())
summary["normal_ks_p"] = float(
    scipy.stats.kstest(theta, scipy.stats.norm(1.8369, np.sqrt(1 / 11)).cdf).pvalue
)
print(bayesuq.diagnose(normal))

# %% [markdown]
# ## 2. Toy GMM density: copula bands at n = 50 and 200 vs a Bayesian mixture (NUTS)


# %%
def gmm_data(n):
    """The paper's data: legacy seed 102, bernoulli.rvs(0.2, size=n) labels, then randn(n)."""
    stream = np.random.RandomState(102)
    labels = scipy.stats.bernoulli.rvs(0.2, size=n, random_state=stream)
    return stream.randn(n) + np.where(labels == 1, 2.0, -2.0)


def mixture(y):
    """Two-component normal mixture with ordered means (label switching removed)."""
    w = numpyro.sample("w", dist.Dirichlet(jnp.ones(2)))
    order = dist.transforms.OrderedTransform()
    mu = numpyro.sample("mu", dist.TransformedDistribution(dist.Normal(0, 3).expand([2]), order))
    sigma = numpyro.sample("sigma", dist.HalfNormal(2.0).expand([2]))
    terms = jnp.log(w)[None, :] + dist.Normal(mu[None, :], sigma[None, :]).log_prob(y[:, None])
    numpyro.factor("loglik", jax.scipy.special.logsumexp(terms, axis=1).sum())


grid = np.arange(-4, 4, 0.05)  # standardised scale, as in the paper
truth_of = lambda x: 0.8 * scipy.stats.norm.pdf(x, -2, 1) + 0.2 * scipy.stats.norm.pdf(x, 2, 1)  # noqa: E731
fig, axes = plt.subplots(2, 2, figsize=(11, 8))
for col, n in enumerate((50,) if SMOKE else (50, 200)):
    y = gmm_data(n)
    x_grid = grid * y.std() + y.mean()
    model = CopulaDensity(seed=200, **FIT).fit(y)
    res = model.predictive_resample(
        x_grid, steps=T, draws=B, seed=200, convergence_steps=2 * T if SMOKE else 10_000
    )
    pdf = res.posterior["pdf"].values[0]
    lo, hi = np.quantile(pdf, [0.025, 0.975], axis=0)
    truth = truth_of(x_grid)
    fit = bayesuq.nuts(mixture, {"y": y}, seed=n, progress=False, **NUTS)
    post = fit.posterior
    w, mu, sd = (post[k].values.reshape(-1, 2) for k in ("w", "mu", "sigma"))
    dens = np.einsum(
        "sk,skg->sg", w, scipy.stats.norm.pdf(x_grid[None, None, :], mu[..., None], sd[..., None])
    )
    nlo, nhi = np.quantile(dens, [0.025, 0.975], axis=0)
    for name, mean, a, b in (("copula", pdf.mean(0), lo, hi), ("mixture", dens.mean(0), nlo, nhi)):
        summary[f"gmm{n}_{name}_L1"] = float(np.sum(np.abs(mean - truth)) * 0.05 * y.std())
        summary[f"gmm{n}_{name}_band_width"] = float(np.mean(b - a))
        summary[f"gmm{n}_{name}_coverage"] = float(np.mean((a <= truth) & (truth <= b)))
    summary[f"gmm{n}_rho"] = float(model.rho_[0])
    summary[f"gmm{n}_convergence_change"] = res.attrs["convergence_relative_change"]
    ax = axes[0, col]
    ax.fill_between(x_grid, lo, hi, alpha=0.3, label="copula 95 % band")
    ax.plot(x_grid, pdf.mean(0), label="copula mean")
    ax.fill_between(x_grid, nlo, nhi, alpha=0.2, color="C2", label="mixture (NUTS) 95 %")
    ax.plot(x_grid, truth, "k--", label="truth")
    ax.plot(y, np.zeros_like(y), "k|")
    ax.set_title(f"GMM density, n = {n}")
    ax.legend(fontsize=7)
if SMOKE:  # the n = 200 panel is drawn by the full run only
    axes[0, 1].text(0.5, 0.5, "n = 200: full run only", ha="center", va="center")
    axes[0, 1].set_axis_off()

# %% [markdown]
# ## 3. 1-D regression: bands for E[y | x] vs Bayesian basis-function regression (NUTS)

# %%
rng = np.random.default_rng(1)
n_reg = 50
x_reg = np.sort(rng.uniform(-3, 3, n_reg))
y_reg = np.sin(1.5 * x_reg) + 0.3 * rng.standard_normal(n_reg)
x_test = np.linspace(-3, 3, 15 if SMOKE else 20)
y_grid = np.linspace(-3.5, 3.5, 40 if SMOKE else 50)
reg = CopulaRegression(seed=2, **FIT).fit(x_reg, y_reg)
reg_res = reg.predictive_resample(x_test, y_grid, steps=T, draws=B_COND, seed=3)
m_draws = reg_res.posterior["mean"].values[0]
centres = np.linspace(-3, 3, 10)


def basis(x):
    return np.exp(-0.5 * ((x[:, None] - centres[None, :]) / 0.7) ** 2)


def rbf_regression(phi, y=None):
    beta = numpyro.sample("beta", dist.Normal(0, 1).expand([phi.shape[1]]))
    b0 = numpyro.sample("b0", dist.Normal(0, 1))
    sigma = numpyro.sample("sigma", dist.HalfNormal(1.0))
    with numpyro.plate("obs", phi.shape[0]):
        numpyro.sample("y", dist.Normal(b0 + phi @ beta, sigma), obs=y)


reg_fit = bayesuq.nuts(
    rbf_regression, {"phi": basis(x_reg), "y": y_reg}, seed=4, progress=False, **NUTS
)
beta = reg_fit.posterior["beta"].values.reshape(-1, centres.size)
b0 = reg_fit.posterior["b0"].values.reshape(-1, 1)
f_draws = b0 + beta @ basis(x_test).T
truth_reg = np.sin(1.5 * x_test)
for name, draws in (("copula", m_draws), ("basis_nuts", f_draws)):
    lo, hi = np.quantile(draws, [0.025, 0.975], axis=0)
    summary[f"reg_{name}_rmse"] = float(np.sqrt(np.mean((draws.mean(0) - truth_reg) ** 2)))
    summary[f"reg_{name}_band_width"] = float(np.mean(hi - lo))
ax = axes[1, 0]
for name, draws, color in (("copula", m_draws, "C0"), ("basis NUTS", f_draws, "C2")):
    lo, hi = np.quantile(draws, [0.025, 0.975], axis=0)
    ax.fill_between(x_test, lo, hi, alpha=0.3, color=color, label=f"{name} 95 % band")
    ax.plot(x_test, draws.mean(0), color=color)
ax.plot(x_reg, y_reg, "k.", ms=3)
ax.plot(x_test, truth_reg, "k--", label="truth")
ax.set_title("regression E[y | x]")
ax.legend(fontsize=7)

# %% [markdown]
# ## 4. make_moons: class probability with uncertainty vs Bayesian logistic (NUTS)

# %%
x_m, y_m = make_moons(100, noise=0.3, random_state=52)
x_mt, y_mt = make_moons(200 if SMOKE else 1000, noise=0.3, random_state=1)
cls = CopulaClassifier(seed=5, **FIT).fit(x_m, y_m)
side = np.linspace(-2, 3, 12 if SMOKE else 20)
mesh = np.stack(np.meshgrid(side, np.linspace(-1.5, 2, side.size)), -1).reshape(-1, 2)
cls_res = cls.predictive_resample(mesh, steps=T, draws=B_COND, seed=6)
prob_sd = cls_res.posterior["probability"].values[0].std(axis=0)


def quad(x):
    return np.c_[x, x**2, x[:, :1] * x[:, 1:], x**3]


def logistic(phi, y=None):
    w = numpyro.sample("w", dist.Normal(0, 2).expand([phi.shape[1]]))
    b = numpyro.sample("b", dist.Normal(0, 2))
    with numpyro.plate("obs", phi.shape[0]):
        numpyro.sample("y", dist.Bernoulli(logits=b + phi @ w), obs=y)


mu_f, sd_f = quad(x_m).mean(0), quad(x_m).std(0)
feats = lambda x: (quad(x) - mu_f) / sd_f  # noqa: E731
p_cop = cls.predict_proba(x_mt)
if SMOKE:
    p_logit = p_cop
else:
    log_fit = bayesuq.nuts(logistic, {"phi": feats(x_m), "y": y_m}, seed=7, progress=False, **NUTS)
    w_d = log_fit.posterior["w"].values.reshape(-1, mu_f.size)
    b_d = log_fit.posterior["b"].values.reshape(-1, 1)
    p_logit = scipy.special.expit(b_d + w_d @ feats(x_mt).T).mean(0)
for name, p in (("copula", p_cop), ("logistic_nuts", p_logit)):
    summary[f"moons_{name}_accuracy"] = float(np.mean((p > 0.5) == y_mt))
    summary[f"moons_{name}_test_loglik"] = float(
        np.mean(y_mt * np.log(p) + (1 - y_mt) * np.log1p(-p))
    )
ax = axes[1, 1]
c = ax.tricontourf(mesh[:, 0], mesh[:, 1], prob_sd, levels=12, cmap="viridis")
fig.colorbar(c, ax=ax, label="posterior sd of p(y=1|x)")
ax.tricontour(
    mesh[:, 0],
    mesh[:, 1],
    cls_res.posterior["probability"].values[0].mean(0),
    levels=[0.5],
    colors="w",
)
ax.scatter(x_m[:, 0], x_m[:, 1], c=y_m, cmap="coolwarm", s=8, edgecolors="k", linewidths=0.3)
ax.set_title("moons: copula classifier uncertainty")
fig.tight_layout()
fig.savefig(out / "martingale.png", dpi=110)

# %% [markdown]
# ## Results

# %%
summary["seconds"] = time.perf_counter() - started
table = pd.Series(summary, name="value")
table.to_csv(out / "summary.csv")
bayesuq.save(normal, out / "normal.nc")
print(table.to_string(float_format=lambda v: f"{v:.4g}"))
X64.__exit__(None, None, None)
