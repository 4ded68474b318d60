"""NUTS with nutpie's gradient-based ("fisher") mass-matrix adaptation.

Moments are checked against exact answers with tolerances from the MCSE (4 MCSE); the
adapted inverse mass matrix against the posterior variances it estimates.
"""

from __future__ import annotations

import arviz as az
import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pytest
from tolerances import assert_moment

import bayesuq
from bayesuq.infer import adaptation

SCALES = np.array([0.01, 1.0, 30.0])
MEANS = np.array([5.0, -1.0, 100.0])
FAST = {"chains": 2, "warmup": 400, "draws": 600, "progress": False}


def badly_scaled():
    """Independent normals whose scales span 3.5 orders of magnitude."""
    numpyro.sample("x", dist.Normal(MEANS, SCALES).to_event(1))


def _inverse_mass(idata) -> np.ndarray:
    """The adapted diagonal inverse mass matrix of every chain, from the sampler state."""
    state = idata.sampler_state
    names = [n for n in state.data_vars if "inverse_mass_matrix" in state[n].attrs["path"]]
    assert len(names) == 1, names
    return state[names[0]].values


def test_fisher_diagonal_is_the_variance_for_a_gaussian():
    """For x ~ N(m, s^2) the score is -(x - m) / s^2: sqrt(Var x / Var g) = s^2 exactly."""
    rng = np.random.default_rng(0)
    scale = np.array([0.1, 2.0, 50.0])
    add = jax.jit(adaptation.add_draw)
    moments = adaptation.empty_moments(3, jnp.float32)
    for x in rng.normal(size=(200, 3)) * scale:
        moments = add(moments, jnp.asarray(x), jnp.asarray(-x / scale**2))
    estimate = np.asarray(adaptation.fisher_diagonal(moments, jnp.ones(3)))
    np.testing.assert_allclose(estimate, scale**2, rtol=1e-4)
    # Welford's moments agree with NumPy's
    draws = rng.normal(size=(50, 3))
    moments = adaptation.empty_moments(3, jnp.float32)
    for x in draws:
        moments = add(moments, jnp.asarray(x), jnp.asarray(x))
    np.testing.assert_allclose(moments.draw_mean, draws.mean(0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(moments.draw_m2 / 49, draws.var(0, ddof=1), rtol=1e-4)


def test_too_few_draws_keep_the_fallback():
    moments = adaptation.add_draw(
        adaptation.empty_moments(2, jnp.float32), jnp.ones(2), jnp.ones(2)
    )
    np.testing.assert_array_equal(adaptation.fisher_diagonal(moments, jnp.full(2, 7.0)), 7.0)
    initial = adaptation.initial_inverse_mass(jnp.array([0.0, jnp.inf, 4.0]))
    np.testing.assert_array_equal(initial, [1.0, 1.0, 0.25])


def test_badly_scaled_normal_moments_and_learned_scales():
    idata = bayesuq.nuts(badly_scaled, seed=3, adaptation="fisher", **FAST)
    assert idata.attrs["adaptation"] == "fisher"
    assert bayesuq.diagnose(idata).ok
    draws = idata.posterior["x"].values
    for i in range(3):
        d = draws[..., i]
        assert_moment(d.mean(), MEANS[i], float(az.mcse(d, method="mean")), name=f"x[{i}] mean")
        assert_moment(d.std(), SCALES[i], float(az.mcse(d, method="sd")), name=f"x[{i}] sd")
    # The adapted inverse mass matrix is the posterior variance, within 30 % (it is
    # estimated from the last 80-draw window; the relative sd of such an estimate is ~16 %).
    ratio = _inverse_mass(idata) / SCALES**2
    assert np.all((ratio > 0.7) & (ratio < 1.3)), ratio


def test_constrained_and_flat_prior_sites():
    """A positive scale and an improper flat prior on a regression vector (kidscore-like)."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=(40, 2))
    y = x @ np.array([1.5, -0.5]) + 0.7 * rng.normal(size=40)

    def model(x, y):
        beta = numpyro.sample(
            "beta", dist.ImproperUniform(dist.constraints.real_vector, (), event_shape=(2,))
        )
        sigma = numpyro.sample("sigma", dist.HalfNormal(5.0))
        numpyro.sample("y", dist.Normal(x @ beta, sigma), obs=y)

    idata = bayesuq.nuts(model, {"x": x, "y": y}, seed=2, adaptation="fisher", **FAST)
    assert bayesuq.diagnose(idata).ok
    # Flat prior: the posterior mean of beta is the least-squares estimate (the marginal
    # posterior of beta is a multivariate t centred there).
    ols = np.linalg.lstsq(x, y, rcond=None)[0]
    beta = idata.posterior["beta"].values
    for i in range(2):
        d = beta[..., i]
        assert_moment(d.mean(), ols[i], float(az.mcse(d, method="mean")), name=f"beta[{i}]")


def test_resume_keeps_the_adapted_sampler():
    idata = bayesuq.nuts(badly_scaled, seed=4, adaptation="fisher", **FAST)
    more = bayesuq.nuts(badly_scaled, resume=idata, draws=100, progress=False)
    assert more.attrs["adaptation"] == "fisher"
    assert more.posterior.sizes["draw"] == FAST["draws"] + 100
    np.testing.assert_array_equal(_inverse_mass(more), _inverse_mass(idata))
    np.testing.assert_array_equal(
        more.posterior["x"].values[:, : FAST["draws"]], idata.posterior["x"].values
    )


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"adaptation": "nutpie"}, r"adaptation must be one of \['stan', 'fisher'\], got 'nutpie'"),
        ({"adaptation": "fisher", "dense_mass": True}, "diagonal mass matrix only"),
    ],
)
def test_bad_adaptation_arguments_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        bayesuq.nuts(badly_scaled, progress=False, **kwargs)
