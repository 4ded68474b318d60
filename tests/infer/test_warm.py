"""Warm start from a hint: the chains start from stored programs, the model's trace decides.

A hint is keyed without tracing the model, so it can name programs of an older version of
the model (a global it reads changed). Those tests check that such draws are never
returned: the fit is rebuilt and agrees with the conjugate posterior of the model as it is.
"""

from __future__ import annotations

import functools
import json
import sys

import numpy as np
import numpyro
import numpyro.distributions as dist
import pytest

import bayesuq
from bayesuq.infer import warm

CONFIRMED = "stored programs, confirmed by the model's trace"
OPTIONS = dict(chains=2, draws=400, warmup=300, progress=False, chain_method="vectorized")
Y = np.array([9.0, 11.0, 10.5, 9.5])
PRIOR_SD = 1.0  # read by `global_prior_model` as a global: not part of its hint key
FAIL = False


def global_prior_model(y):
    if FAIL:
        raise ValueError("the model fails on this data now")
    mu = numpyro.sample("mu", dist.Normal(0.0, PRIOR_SD))
    with numpyro.plate("obs", y.shape[0]):
        numpyro.sample("y", dist.Normal(mu, 1.0), obs=y)


def _posterior_mean(prior_sd: float) -> float:
    """Conjugate normal mean of ``mu`` (prior N(0, prior_sd), unit noise)."""
    precision = 1.0 / prior_sd**2 + len(Y)
    return float(Y.sum() / precision)


@pytest.fixture
def prior_sd(monkeypatch):
    """Set the model's global prior sd; restored afterwards."""
    return functools.partial(monkeypatch.setattr, sys.modules[__name__], "PRIOR_SD")


def test_a_second_fit_starts_from_the_hint_and_gives_the_same_draws(program_store):
    first = bayesuq.nuts(global_prior_model, {"y": Y}, seed=4, **OPTIONS)
    second = bayesuq.nuts(global_prior_model, {"y": Y}, seed=4, **OPTIONS)
    assert first.attrs["warm_start"] == "none"
    assert second.attrs["warm_start"] == CONFIRMED
    np.testing.assert_array_equal(first.posterior["mu"].values, second.posterior["mu"].values)
    assert sorted(p.name.rsplit("-", 1)[1] for p in program_store.iterdir()) == [
        "chunk.xla",
        "hint.json",
        "init.xla",
    ]


def test_a_stale_hint_is_caught_by_the_trace_and_its_draws_dropped(program_store, prior_sd):
    """Same code, other global: the hint names the old programs; the fit must not use them."""
    prior_sd(1.0)
    bayesuq.nuts(global_prior_model, {"y": Y}, seed=5, **OPTIONS)
    prior_sd(100.0)  # posterior mean 10.0 instead of 8.0
    stale = bayesuq.nuts(global_prior_model, {"y": Y}, seed=5, **OPTIONS)
    mean = float(stale.posterior["mu"].mean())
    # posterior sd 0.5, 800 draws: MC error about 0.03; tolerance 0.15 against a gap of 2
    assert abs(mean - _posterior_mean(100.0)) < 0.15, mean
    assert stale.attrs["warm_start"] == "stale hint: rebuilt"
    again = bayesuq.nuts(global_prior_model, {"y": Y}, seed=5, **OPTIONS)
    assert again.attrs["warm_start"] == CONFIRMED  # the hint now names the new programs
    np.testing.assert_array_equal(stale.posterior["mu"].values, again.posterior["mu"].values)


def test_a_model_error_stops_the_speculative_run_and_is_raised(program_store, monkeypatch):
    bayesuq.nuts(global_prior_model, {"y": Y}, seed=6, **OPTIONS)
    monkeypatch.setattr(sys.modules[__name__], "FAIL", True)
    with pytest.raises(ValueError, match="fails on this data now"):
        bayesuq.nuts(global_prior_model, {"y": Y}, seed=6, **OPTIONS)
    monkeypatch.undo()
    # nothing left running: the next fit confirms the hint and samples as before
    again = bayesuq.nuts(global_prior_model, {"y": Y}, seed=6, **OPTIONS)
    assert again.attrs["warm_start"] == CONFIRMED


def test_user_starting_values_take_the_ordinary_path(program_store):
    bayesuq.nuts(global_prior_model, {"y": Y}, seed=7, **OPTIONS)
    fit = bayesuq.nuts(global_prior_model, {"y": Y}, seed=7, init={"mu": 9.0}, **OPTIONS)
    assert fit.attrs["warm_start"] == "none"


def test_a_damaged_hint_is_ignored(program_store):
    bayesuq.nuts(global_prior_model, {"y": Y}, seed=8, **OPTIONS)
    (hint,) = program_store.glob("*-hint.json")
    hint.write_text("{not json")
    fit = bayesuq.nuts(global_prior_model, {"y": Y}, seed=8, **OPTIONS)
    assert fit.attrs["warm_start"] == "none"
    assert json.loads(hint.read_text())["z_template"] == {"mu": [[], "<f4"]}  # rewritten


def _closure(scale):
    def model(y):
        numpyro.sample("mu", dist.Normal(0.0, scale))

    return model


def test_model_digest_sees_code_closure_defaults_and_partial_arguments():
    assert warm.model_digest(_closure(1.0)) == warm.model_digest(_closure(1.0))
    assert warm.model_digest(_closure(1.0)) != warm.model_digest(_closure(2.0))
    assert warm.model_digest(_closure(np.ones(3))) != warm.model_digest(_closure(np.zeros(3)))
    assert warm.model_digest(global_prior_model) != warm.model_digest(_closure(1.0))

    def with_default(y, scale=1.0):
        pass

    def other_default(y, scale=2.0):
        pass

    assert warm.model_digest(with_default) != warm.model_digest(other_default)
    one, two = (functools.partial(with_default, scale=s) for s in (1.0, 2.0))
    assert warm.model_digest(one) != warm.model_digest(two)
    assert warm.model_digest(print) is None  # no Python code: no hint, the ordinary path
