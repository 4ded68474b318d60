"""The linear fake-data model of Weber et al. (2018), section 4.1, in four likelihood modes.

Local raw data (patients j <= J, times k <= T):

    y_jk = a_j1 + a_j2 x_k + beta x_k^2 + eps_jk,   a_j ~ N(mu_a, diag(sigma_a^2)),
    eps_jk ~ N(0, sigma_y^2).

The external trial has the same structure with ``mu_a' = mu_a + delta``; only its means
``ybar'_k`` over ``J'`` patients are used, except by ``likelihood="full"``. With
``X' = [1, x']`` the averages have the exact distribution

    ybar' ~ MVN(X'(mu_a + delta) + beta x'^2, [X' diag(sigma_a^2) X'^T + sigma_y^2 I] / J').

Priors: mu_a, beta, delta ~ N(0, 1); sigma_a, sigma_y ~ half-N(0, 1).

Sampled parameterisation (same posterior): ``nu = mu_a + beta c`` and patient effects
``b_j = a_j + beta c``, with ``c`` the least-squares coefficients of ``x^2`` on ``[1, x]``
(:func:`quadratic_shear`); ``mu_a`` is recorded as a deterministic site.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist

from bayesuq.infer.arguments import check_int
from bayesuq.models.aggregate.data import (
    LIKELIHOODS,
    Simulation,
    check_design,
    check_likelihood,
    checked_truth,
)
from bayesuq.models.aggregate.external import external_likelihood
from bayesuq.models.aggregate.likelihood import _mvn_logpdf, check_averages, mvn_average_loglik
from bayesuq.models.aggregate.raw import N_EFFECTS, observe_trajectories

LINEAR_TRUTH = {
    "mu_a": np.array([0.5, -0.2]),
    "sigma_a": np.array([0.1, 0.1]),
    "beta": -0.1,
    "sigma_y": 0.05,
    "delta": np.array([0.1, 0.1]),
}
"""True values of the paper's linear example."""


def linear_trajectory(params: dict, xi_j: jax.Array) -> jax.Array:
    """Noise-free curve ``(mu + sigma_a xi_j)_1 + (mu + sigma_a xi_j)_2 x + beta x^2``.

    ``params`` holds ``mu`` (the external mean effects, mu_a + delta), ``sigma_a``,
    ``beta`` and the visit times ``x``.
    """
    a = params["mu"] + params["sigma_a"] * xi_j
    x = params["x"]
    return a[0] + a[1] * x + params["beta"] * x**2


def linear_exact_loglik(ybar, x, mu, sigma_a, beta, sigma_y, J_prime) -> jax.Array:
    """The exact log-likelihood of the linear model's published means.

    With ``X' = [1, x']`` and each patient's curve ``a_j1 + a_j2 x + beta x^2``,
    ``a_j ~ N(mu, diag(sigma_a^2))``, plus noise ``N(0, sigma_y^2)``, the mean over ``J'``
    patients is exactly Gaussian::

        ybar' ~ MVN(X' mu + beta x'^2, [X' diag(sigma_a^2) X'^T + sigma_y^2 I] / J')

    (Weber et al. 2018, Ann. Appl. Stat. 12(3), section 4.1: the oracle of the simulated
    likelihood). ``mu`` is the external mean effect ``mu_a + delta``.
    """
    check_averages(ybar, name="ybar_ext")
    design = jnp.stack([jnp.ones_like(x), x], axis=-1)
    mean = design @ mu + beta * x**2
    cov = (design * sigma_a[None, :] ** 2) @ design.T + sigma_y**2 * jnp.eye(
        x.shape[0], dtype=x.dtype
    )
    return _mvn_logpdf(ybar, mean, cov / J_prime)


def linear_model(likelihood: str = "approx") -> Callable:
    """The linear example as a NumPyro model using ``likelihood`` for the external trial.

    Parameters
    ----------
    likelihood
        ``"local"`` (own raw data only: delta keeps its prior), ``"full"`` (raw data of both
        trials, the gold standard), ``"exact"`` (analytic MVN of the averages) or
        ``"approx"`` (simulated MVN, :func:`mvn_average_loglik`).

    Returns
    -------
    Callable
        ``model(x, y, x_ext=None, ybar_ext=None, J_prime=None, y_ext=None, xi=None,
        mask=None)``. Use :meth:`Simulation.model_data` to pick the inputs of a mode.
    """
    check_likelihood(likelihood, LIKELIHOODS)

    def model(x, y, x_ext=None, ybar_ext=None, J_prime=None, y_ext=None, xi=None, mask=None):
        check_design("y", y, ndim=2, shape={1: x.shape[0]})
        beta = numpyro.sample("beta", dist.Normal(0.0, 1.0))
        shear = quadratic_shear(x)
        with numpyro.plate("effect", N_EFFECTS):
            # nu = mu_a + beta c with mu_a ~ N(0, 1): nu | beta ~ N(beta c, 1) (unit Jacobian)
            nu = numpyro.sample("nu", dist.Normal(beta * shear, 1.0))
            sigma_a = numpyro.sample("sigma_a", dist.HalfNormal(1.0))
            delta = numpyro.sample("delta", dist.Normal(0.0, 1.0))
            mu_a = numpyro.deterministic("mu_a", nu - beta * shear)
        sigma_y = numpyro.sample("sigma_y", dist.HalfNormal(1.0))
        _raw_data("", x, y, nu, sigma_a, beta, shear, sigma_y)
        if likelihood != "local":
            check_design("x_ext", x_ext, ndim=1)

        def full():
            check_design("y_ext", y_ext, ndim=2, shape={1: x_ext.shape[0]})
            _raw_data("_ext", x_ext, y_ext, nu + delta, sigma_a, beta, shear, sigma_y)

        def exact():
            return linear_exact_loglik(
                ybar_ext, x_ext, mu_a + delta, sigma_a, beta, sigma_y, J_prime
            )

        external_likelihood(
            likelihood,
            n_times=0 if x_ext is None else x_ext.shape[0],
            ybar_ext=ybar_ext,
            J_prime=J_prime,
            sigma_y=sigma_y,
            full=full,
            exact=exact,
            trajectory=linear_trajectory,
            params={"mu": mu_a + delta, "sigma_a": sigma_a, "beta": beta, "x": x_ext},
            xi=xi,
            mask=mask,
        )

    model.coords = {"effect": ["intercept", "slope"]}
    model.__name__ = model.__qualname__ = f"linear_model_{likelihood}"
    return model


def quadratic_shear(x: jax.Array) -> jax.Array:
    """``c`` with ``x^2 = c_1 + c_2 x + r(x)``, ``r`` orthogonal to 1 and ``x`` on the design.

    The least-squares coefficients of ``x^2`` on ``[1, x]``. The model samples
    ``b_j = a_j + beta c`` and ``nu = mu_a + beta c`` instead of ``a_j`` and ``mu_a``: a
    shear with unit Jacobian (the same posterior), under which a patient's curve is
    ``b_j1 + b_j2 x + beta r(x)``, so ``beta`` is nearly uncorrelated with the patient
    effects. Without it ``beta``, ``mu_a[slope]`` and all ``a_j2`` move together (``x`` and
    ``x^2`` correlate 0.96 on 13 visits in [0, 1]) and a diagonal mass matrix mixes several times
    slower.
    """
    design = jnp.stack([jnp.ones_like(x), x], axis=-1)
    return jnp.linalg.solve(design.T @ design, design.T @ x**2)


def _raw_data(suffix, x, y, nu, sigma_a, beta, shear, sigma_y) -> None:
    """Patient effects and the raw observations of one trial.

    The patient effects are centred, ``b_j = a_j + beta c ~ N(nu, sigma_a)`` with
    ``nu = mu_a + beta c`` (:func:`quadratic_shear`): with 13 precise visits per patient the
    data dominate each ``b_j``, and the centred form mixes several times faster than the
    non-centred one (which correlates ``mu_a`` with every ``z_j``).
    """
    n_patients = y.shape[0]
    with numpyro.plate(f"patient{suffix}", n_patients, dim=-2):
        with numpyro.plate("effect", N_EFFECTS, dim=-1):
            loc = jnp.broadcast_to(nu, (n_patients, N_EFFECTS))
            scale = jnp.broadcast_to(sigma_a, (n_patients, N_EFFECTS))
            b = numpyro.sample(f"b{suffix}", dist.Normal(loc, scale))
    a = b - beta * shear[None, :]
    mean = a[:, :1] + a[:, 1:] * x[None, :] + beta * x[None, :] ** 2
    observe_trajectories(suffix, mean, sigma_y, y)


def simulate_linear(
    *,
    seed: int = 242345,
    n_patients: int = 100,
    n_patients_ext: int = 100,
    n_times: int = 13,
    truth: dict | None = None,
) -> Simulation:
    """Simulate the paper's linear design: J = J' = 100 patients, x = (0..12)/12.

    ``n_times`` visits at ``x = (0, ..., n_times - 1) / (n_times - 1)`` (at least 2);
    ``n_patients >= 2`` local and ``n_patients_ext >= 1`` external patients.

    Returns
    -------
    Simulation
        ``data`` with ``x``, ``y`` (J, T), ``x_ext``, ``y_ext`` (J', T), ``ybar_ext`` (T,)
        and ``J_prime``; ``truth`` with the true values (:data:`LINEAR_TRUTH` by default).
    """
    n_times = check_int("n_times", n_times, minimum=2)
    n_patients = check_int("n_patients", n_patients, minimum=2)
    n_patients_ext = check_int("n_patients_ext", n_patients_ext, minimum=1)
    truth = checked_truth(LINEAR_TRUTH, truth)
    rng = np.random.default_rng(check_int("seed", seed, minimum=0))
    x = np.arange(n_times) / (n_times - 1)

    def trial(n, mu):
        a = mu + truth["sigma_a"] * rng.standard_normal((n, N_EFFECTS))
        mean = a[:, :1] + a[:, 1:] * x + truth["beta"] * x**2
        return mean + truth["sigma_y"] * rng.standard_normal(mean.shape)

    y = trial(n_patients, truth["mu_a"])
    y_ext = trial(n_patients_ext, truth["mu_a"] + truth["delta"])
    data = {
        "x": x,
        "y": y,
        "x_ext": x.copy(),
        "y_ext": y_ext,
        "ybar_ext": y_ext.mean(axis=0),
        "J_prime": n_patients_ext,
    }
    groups = {
        "local": ("x", "y"),
        "external_raw": ("x_ext", "y_ext"),
        "external_mean": ("x_ext", "ybar_ext", "J_prime"),
    }
    return Simulation(data=data, truth=truth, groups=groups)


def linear_average_logliks(sim: Simulation, params: dict | None = None):
    """Approximate and exact log-likelihoods of ``ybar_ext`` as functions of ``delta``.

    The other parameters are held at ``params`` (the truth by default), as in the paper's
    noise studies. Returns ``approx(delta, xi, mask)`` and ``exact(delta)``, pure JAX.
    """
    p = {**sim.truth, **(params or {})}
    x = jnp.asarray(sim.data["x_ext"])
    ybar = jnp.asarray(sim.data["ybar_ext"])
    J_prime = sim.data["J_prime"]
    mu_a, sigma_a = jnp.asarray(p["mu_a"]), jnp.asarray(p["sigma_a"])

    def approx(delta, xi, mask):
        params_ext = {"mu": mu_a + delta, "sigma_a": sigma_a, "beta": p["beta"], "x": x}
        return mvn_average_loglik(
            ybar,
            linear_trajectory,
            params_ext,
            xi,
            sigma_y=p["sigma_y"],
            J_prime=J_prime,
            mask=mask,
        )

    def exact(delta):
        return linear_exact_loglik(ybar, x, mu_a + delta, sigma_a, p["beta"], p["sigma_y"], J_prime)

    return approx, exact
