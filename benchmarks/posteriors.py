"""The benchmark suite's posteriors: NumPyro translations of posteriordb's Stan programs.

Each :class:`Posterior` names a posteriordb posterior (``<data>-<model>``); its Stan program,
data and reference draws are read from a posteriordb checkout
(``<root>/posterior_database``; see :func:`check_root`), never copied here. The NumPyro
models below are translations of those Stan programs, written so that the log density is
the same up to a constant: the same priors (a bounded Stan parameter with a prior becomes
the prior truncated to the bound, e.g. ``real<lower=0> tau; tau ~ cauchy(0, 5)`` is a
half-Cauchy), flat priors where Stan has no prior statement (``ImproperUniform``), and
sample or deterministic sites named like the Stan variables, so that every reference
quantity (``theta[3]``) can be read from a draw.

Models take only arrays (sizes are read from shapes), so that one compiled program serves
any data of the same shapes; :attr:`Posterior.prepare` turns posteriordb's data into them.
"""

from __future__ import annotations

import json
import re
import zipfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

# --------------------------------------------------------------------------- models


def ar_k(lags: Any, target: Any) -> None:
    """arK: ``y_t ~ N(alpha + sum_k beta_k y_{t-k}, sigma)`` for ``t > K``.

    ``lags[t, k] = y_{t-k}`` is built from the series by :func:`_ar_k_data`.
    """
    import numpyro
    import numpyro.distributions as dist

    alpha = numpyro.sample("alpha", dist.Normal(0.0, 10.0))
    beta = numpyro.sample("beta", dist.Normal(0.0, 10.0).expand([lags.shape[1]]).to_event(1))
    sigma = numpyro.sample("sigma", dist.HalfCauchy(2.5))
    numpyro.sample("y", dist.Normal(alpha + lags @ beta, sigma), obs=target)


def gp_regr(x: Any, y: Any) -> None:
    """gp_regr: ``y ~ MVN(0, K + sigma I)`` with ``K_ij = alpha^2 exp(-(x_i - x_j)^2 / (2 rho^2))``.

    As in the Stan program, ``sigma`` itself (not its square) is added to the diagonal.
    """
    import jax.numpy as jnp
    import numpyro
    import numpyro.distributions as dist

    rho = numpyro.sample("rho", dist.Gamma(25.0, 4.0))
    alpha = numpyro.sample("alpha", dist.HalfNormal(2.0))
    sigma = numpyro.sample("sigma", dist.HalfNormal(1.0))
    diff = x[:, None] - x[None, :]
    cov = alpha**2 * jnp.exp(-0.5 * diff**2 / rho**2) + sigma * jnp.eye(x.shape[0])
    numpyro.sample(
        "y",
        dist.MultivariateNormal(jnp.zeros(x.shape[0]), scale_tril=jnp.linalg.cholesky(cov)),
        obs=y,
    )


def gp_pois_regr(x: Any, k: Any) -> None:
    """gp_pois_regr: latent GP ``f = L f_tilde`` (``L L' = K + 1e-10 I``), ``k ~ Poisson(e^f)``."""
    import jax.numpy as jnp
    import numpyro
    import numpyro.distributions as dist

    rho = numpyro.sample("rho", dist.Gamma(25.0, 4.0))
    alpha = numpyro.sample("alpha", dist.HalfNormal(2.0))
    f_tilde = numpyro.sample("f_tilde", dist.Normal(0.0, 1.0).expand([x.shape[0]]).to_event(1))
    diff = x[:, None] - x[None, :]
    cov = alpha**2 * jnp.exp(-0.5 * diff**2 / rho**2) + 1e-10 * jnp.eye(x.shape[0])
    f = numpyro.deterministic("f", jnp.linalg.cholesky(cov) @ f_tilde)
    numpyro.sample("k", dist.Poisson(jnp.exp(f)), obs=k)


def blr(X: Any, y: Any) -> None:
    """blr (sblrc data): ``y ~ N(X beta, sigma)``, ``beta ~ N(0, 10)``, ``sigma ~ N+(0, 10)``."""
    import numpyro
    import numpyro.distributions as dist

    beta = numpyro.sample("beta", dist.Normal(0.0, 10.0).expand([X.shape[1]]).to_event(1))
    sigma = numpyro.sample("sigma", dist.HalfNormal(10.0))
    numpyro.sample("y", dist.Normal(X @ beta, sigma), obs=y)


def kidscore_interaction(mom_hs: Any, mom_iq: Any, kid_score: Any) -> None:
    """kidscore_interaction: flat prior on ``beta`` (4), ``sigma ~ half-Cauchy(2.5)``."""
    import numpyro
    import numpyro.distributions as dist

    beta = numpyro.sample(
        "beta", dist.ImproperUniform(dist.constraints.real_vector, (), event_shape=(4,))
    )
    sigma = numpyro.sample("sigma", dist.HalfCauchy(2.5))
    mean = beta[0] + beta[1] * mom_hs + beta[2] * mom_iq + beta[3] * mom_hs * mom_iq
    numpyro.sample("kid_score", dist.Normal(mean, sigma), obs=kid_score)


def low_dim_gauss_mix(y: Any) -> None:
    """low_dim_gauss_mix: ``y_n ~ theta N(mu_1, sigma_1) + (1 - theta) N(mu_2, sigma_2)``.

    ``mu`` is an ordered vector with a ``N(0, 2)`` density on each element (Stan's
    ``ordered[2] mu; mu ~ normal(0, 2)``), ``sigma_i ~ N+(0, 2)``, ``theta ~ Beta(5, 5)``.
    """
    import jax.numpy as jnp
    import numpyro
    import numpyro.distributions as dist

    mu = numpyro.sample(
        "mu", dist.ImproperUniform(dist.constraints.ordered_vector, (), event_shape=(2,))
    )
    numpyro.factor("mu_prior", dist.Normal(0.0, 2.0).log_prob(mu).sum())
    sigma = numpyro.sample("sigma", dist.HalfNormal(2.0).expand([2]).to_event(1))
    theta = numpyro.sample("theta", dist.Beta(5.0, 5.0))
    first = jnp.log(theta) + dist.Normal(mu[0], sigma[0]).log_prob(y)
    second = jnp.log1p(-theta) + dist.Normal(mu[1], sigma[1]).log_prob(y)
    numpyro.factor("y", jnp.logaddexp(first, second).sum())


def kilpisjarvi(x: Any, y: Any, prior: Any) -> None:
    """kilpisjarvi: ``y ~ N(alpha + beta x, sigma)``, flat prior on ``sigma > 0``.

    ``prior = (pmualpha, psalpha, pmubeta, psbeta)``: the normal priors of the data. With
    ``x`` in calendar years, ``alpha`` and ``beta`` are correlated almost to 1 a posteriori.
    """
    import numpyro
    import numpyro.distributions as dist

    alpha = numpyro.sample("alpha", dist.Normal(prior[0], prior[1]))
    beta = numpyro.sample("beta", dist.Normal(prior[2], prior[3]))
    sigma = numpyro.sample(
        "sigma", dist.ImproperUniform(dist.constraints.positive, (), event_shape=())
    )
    numpyro.sample("y", dist.Normal(alpha + beta * x, sigma), obs=y)


def diamonds(Xc: Any, Y: Any) -> None:
    """diamonds (brms): ``Y ~ N(Intercept + Xc b, sigma)`` on centred predictors.

    ``b ~ N(0, 1)``, ``Intercept ~ t_3(8, 10)``, ``sigma ~ half-t_3(0, 10)`` (Stan's
    ``- student_t_lccdf(0 | 3, 0, 10)`` is a constant).
    """
    import numpyro
    import numpyro.distributions as dist

    b = numpyro.sample("b", dist.Normal(0.0, 1.0).expand([Xc.shape[1]]).to_event(1))
    intercept = numpyro.sample("Intercept", dist.StudentT(3.0, 8.0, 10.0))
    sigma = numpyro.sample(
        "sigma", dist.TruncatedDistribution(dist.StudentT(3.0, 0.0, 10.0), low=0.0)
    )
    numpyro.sample("Y", dist.Normal(intercept + Xc @ b, sigma), obs=Y)


def eight_schools_noncentered(sigma: Any, y: Any) -> None:
    """eight_schools_noncentered: :func:`bayesuq.data.eight_schools_noncentered` (``eta`` is
    Stan's ``theta_trans``)."""
    from bayesuq.data.examples import eight_schools_noncentered as model

    model(sigma, y)


def eight_schools_centered(sigma: Any, y: Any) -> None:
    """eight_schools_centered (the funnel): :func:`bayesuq.data.eight_schools_centered`."""
    from bayesuq.data.examples import eight_schools_centered as model

    model(sigma, y)


def arma11(y: Any) -> None:
    """arma11: :func:`bayesuq.data.arma11` (the same priors and residual recursion)."""
    from bayesuq.data.examples import arma11 as model

    model(y)


# --------------------------------------------------------------------------- data


def _ar_k_data(d: Mapping[str, Any]) -> dict[str, np.ndarray]:
    y, k = np.asarray(d["y"], float), int(d["K"])
    lags = np.stack([y[k - j - 1 : len(y) - j - 1] for j in range(k)], axis=1)
    return {"lags": lags, "target": y[k:]}


def _diamonds_data(d: Mapping[str, Any]) -> dict[str, np.ndarray]:
    X = np.asarray(d["X"], float)[:, 1:]
    return {"Xc": X - X.mean(axis=0), "Y": np.asarray(d["Y"], float)}


def _floats(*names: str) -> Callable[[Mapping[str, Any]], dict[str, np.ndarray]]:
    def prepare(d: Mapping[str, Any]) -> dict[str, np.ndarray]:
        return {n: np.asarray(d[n], float) for n in names}

    return prepare


def _kidscore_data(d: Mapping[str, Any]) -> dict[str, np.ndarray]:
    return _floats("mom_hs", "mom_iq", "kid_score")(d)


def _kilpisjarvi_data(d: Mapping[str, Any]) -> dict[str, np.ndarray]:
    prior = np.array([d["pmualpha"], d["psalpha"], d["pmubeta"], d["psbeta"]], float)
    return {**_floats("x", "y")(d), "prior": prior}


def _gp_pois_data(d: Mapping[str, Any]) -> dict[str, np.ndarray]:
    return {"x": np.asarray(d["x"], float), "k": np.asarray(d["k"], np.int32)}


# --------------------------------------------------------------------------- the suite


@dataclass(frozen=True)
class Posterior:
    """One posterior of the suite.

    Attributes
    ----------
    name
        posteriordb posterior name (``<data>-<model>``).
    kind
        The geometry it stands for (funnel, AR recursion, ...).
    model
        NumPyro translation of the Stan program, called as ``model(**prepare(data))``.
    prepare
        posteriordb data (as loaded from JSON) -> the model's keyword arrays.
    """

    name: str
    kind: str
    model: Callable[..., None]
    prepare: Callable[[Mapping[str, Any]], dict[str, np.ndarray]]


SUITE: dict[str, Posterior] = {
    p.name: p
    for p in (
        Posterior(
            "eight_schools-eight_schools_centered",
            "funnel (centred hierarchy)",
            eight_schools_centered,
            _floats("sigma", "y"),
        ),
        Posterior(
            "eight_schools-eight_schools_noncentered",
            "hierarchical, non-centred",
            eight_schools_noncentered,
            _floats("sigma", "y"),
        ),
        Posterior("arK-arK", "AR(5) recursion", ar_k, _ar_k_data),
        Posterior("arma-arma11", "ARMA(1,1) recursion", arma11, _floats("y")),
        Posterior("gp_pois_regr-gp_regr", "Gaussian process", gp_regr, _floats("x", "y")),
        Posterior(
            "gp_pois_regr-gp_pois_regr", "latent Gaussian process", gp_pois_regr, _gp_pois_data
        ),
        Posterior("sblrc-blr", "tight posterior (sd ~1e-3)", blr, _floats("X", "y")),
        Posterior(
            "kidiq-kidscore_interaction",
            "flat-prior regression",
            kidscore_interaction,
            _kidscore_data,
        ),
        Posterior(
            "low_dim_gauss_mix-low_dim_gauss_mix", "mixture", low_dim_gauss_mix, _floats("y")
        ),
        Posterior(
            "kilpisjarvi_mod-kilpisjarvi",
            "correlated (rho ~ -1): long trajectories",
            kilpisjarvi,
            _kilpisjarvi_data,
        ),
        Posterior(
            "diamonds-diamonds", "long trajectories (tree depth 10)", diamonds, _diamonds_data
        ),
    )
}
"""Every posterior of the suite, by posteriordb name."""

DEFAULT = tuple(name for name in SUITE if name != "diamonds-diamonds")
"""The default run (``diamonds`` takes minutes per engine on 2 cores: opt in)."""


# --------------------------------------------------------------------------- posteriordb


def check_root(root: str | Path) -> Path:
    """``<root>/posterior_database`` (or ``root`` itself if it is that folder), checked."""
    root = Path(root).expanduser()
    database = root if root.name == "posterior_database" else root / "posterior_database"
    if not (database / "posteriors").is_dir():
        raise FileNotFoundError(
            f"{root} is not a posteriordb checkout: {database / 'posteriors'} is missing "
            f"(clone github.com/stan-dev/posteriordb and pass its folder)"
        )
    return database


def _read_zipped_json(path: Path) -> Any:
    with zipfile.ZipFile(path) as archive:
        return json.loads(archive.read(archive.namelist()[0]))


def posterior_info(root: str | Path, name: str) -> dict[str, Any]:
    """posteriordb's description of posterior ``name`` (model, data, reference names)."""
    return json.loads((check_root(root) / "posteriors" / f"{name}.json").read_text())


def stan_code(root: str | Path, name: str) -> str:
    """The Stan program of posterior ``name``."""
    info = posterior_info(root, name)
    return (check_root(root) / "models" / "stan" / f"{info['model_name']}.stan").read_text()


def stan_data(root: str | Path, name: str) -> dict[str, Any]:
    """The data of posterior ``name`` as posteriordb stores it (Stan's names and sizes)."""
    info = posterior_info(root, name)
    return _read_zipped_json(check_root(root) / "data" / "data" / f"{info['data_name']}.json.zip")


def reference_draws(root: str | Path, name: str) -> dict[str, np.ndarray]:
    """Reference draws of posterior ``name``: ``quantity -> array (chains, draws)``.

    The centred eight schools has no reference of its own; posteriordb points it at the
    non-centred one, which is the same posterior.
    """
    info = posterior_info(root, name)
    reference = info.get("reference_posterior_name")
    if not reference:
        raise ValueError(f"posteriordb has no reference posterior for {name}")
    path = check_root(root) / "reference_posteriors" / "draws" / "draws" / f"{reference}.json.zip"
    chains = _read_zipped_json(path)
    return {q: np.array([chain[q] for chain in chains], float) for q in chains[0]}


_INDEXED = re.compile(r"^(?P<name>[^\[]+)\[(?P<index>[0-9, ]+)\]$")


def split_quantity(quantity: str) -> tuple[str, tuple[int, ...]]:
    """``"theta[3]" -> ("theta", (2,))`` (0-based); ``"mu" -> ("mu", ())``."""
    match = _INDEXED.match(quantity)
    if match is None:
        return quantity, ()
    return match["name"], tuple(int(i) - 1 for i in match["index"].split(","))


def quantity_draws(
    posterior: Mapping[str, np.ndarray], quantities: Sequence[str]
) -> dict[str, np.ndarray]:
    """``quantity -> (chain, draw)`` draws from ``variable -> (chain, draw, ...)`` arrays."""
    out = {}
    for quantity in quantities:
        name, index = split_quantity(quantity)
        if name not in posterior:
            raise KeyError(f"the draws have no variable {name!r} for reference {quantity!r}")
        values = np.asarray(posterior[name])
        out[quantity] = values[(slice(None), slice(None), *index)]
    return out


def correctness(
    draws: Mapping[str, np.ndarray], reference: Mapping[str, np.ndarray], tolerance: float = 0.3
) -> dict[str, Any]:
    """Posterior means against the reference: ``|mean - ref_mean| / ref_sd`` per quantity.

    Returns ``{"max_z": worst, "worst": its quantity, "passed": max_z <= tolerance}``.
    """
    scores = {}
    for quantity, ref in reference.items():
        sd = float(np.std(ref))
        scores[quantity] = abs(float(np.mean(draws[quantity])) - float(np.mean(ref))) / sd
    worst = max(scores, key=scores.get)
    return {"max_z": scores[worst], "worst": worst, "passed": scores[worst] <= tolerance}
