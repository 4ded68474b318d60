"""``chain_method="threads"``: one chain per call, the calls concurrent on the CPU cores."""

from __future__ import annotations

import arviz as az
import numpy as np
import numpyro
import numpyro.distributions as dist
import pytest

import bayesuq
from bayesuq.infer import batching


def normal_mean(y):
    mu = numpyro.sample("mu", dist.Normal(0.0, 10.0))
    numpyro.sample("y", dist.Normal(mu, 1.0), obs=y)


Y = np.random.default_rng(3).normal(1.5, 1.0, size=20)


def test_draws_do_not_depend_on_the_number_of_threads(monkeypatch):
    """One chain per call: a pool of one thread or of four gives the same draws."""
    from bayesuq.infer import threads

    options = dict(chains=4, draws=100, warmup=100, seed=5, progress=False)
    runs = []
    for cores in (1, 4):
        monkeypatch.setattr(threads, "_POOL", None)
        monkeypatch.setattr(threads, "cpu_count", lambda cores=cores: cores)
        runs.append(bayesuq.nuts(normal_mean, {"y": Y}, chain_method="threads", **options))
        assert threads._POOL._max_workers == cores
    monkeypatch.setattr(threads, "_POOL", None)
    np.testing.assert_array_equal(runs[0].posterior["mu"].values, runs[1].posterior["mu"].values)


def test_auto_uses_threads_on_a_multicore_cpu_with_one_device(monkeypatch):
    monkeypatch.setattr(batching.jax, "device_count", lambda: 1)
    monkeypatch.setattr(batching, "cpu_count", lambda: 2)
    assert batching.resolve_method("auto", 4) == "threads"
    assert batching.resolve_method("auto", 1) == "vectorized"  # one chain: nothing to split
    monkeypatch.setattr(batching, "cpu_count", lambda: 1)
    assert batching.resolve_method("auto", 4) == "vectorized"
    monkeypatch.setattr(batching.jax, "device_count", lambda: 2)
    assert batching.resolve_method("auto", 4) == "parallel"


@pytest.mark.parametrize("chains", [3, 4])
def test_threaded_chains_are_reproducible_and_recover_the_exact_posterior(chains):
    """Same seed, same draws whatever the threads' timing; the conjugate posterior is
    N(sum(y) / (n + 1/100), 1 / (n + 1/100)): mean within 4 MCSE, sd within 10 %."""
    options = dict(chains=chains, draws=500, warmup=300, seed=11, progress=False)
    first = bayesuq.nuts(normal_mean, {"y": Y}, chain_method="threads", **options)
    again = bayesuq.nuts(normal_mean, {"y": Y}, chain_method="threads", **options)
    mu = first.posterior["mu"].values
    assert first.attrs["chain_method"] == "threads" and mu.shape == (chains, 500)
    np.testing.assert_array_equal(mu, again.posterior["mu"].values)
    assert len({tuple(chain[:5]) for chain in mu}) == chains  # chains are not copies
    precision = Y.size + 1e-2
    mean, sd = Y.sum() / precision, precision**-0.5
    mcse = float(az.mcse(mu))
    assert abs(mu.mean() - mean) < 4 * mcse
    assert abs(mu.std() / sd - 1) < 0.1


def test_threads_keep_the_callers_float64_scope():
    """``jax.enable_x64`` is thread-local: the pool's threads must compute in the caller's
    precision (a family fitting in float64 inside ``computing_in`` failed with an
    argument-type mismatch)."""
    from bayesuq.precision import computing_in, x64_enabled

    assert not x64_enabled()  # the test suite runs in float32 by default
    with computing_in("float64"):
        idata = bayesuq.nuts(
            normal_mean,
            {"y": Y},
            chains=2,
            draws=50,
            warmup=50,
            seed=2,
            chain_method="threads",
            progress=False,
        )
    assert idata.posterior["mu"].dtype == np.float64
