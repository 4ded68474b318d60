"""Tiny models shared by the batch tests (importable, so Dask workers can load them too)."""

from __future__ import annotations

import numpy as np
import numpyro
import numpyro.distributions as dist

N_OBS = 6
SAMPLER = {"chains": 2, "warmup": 150, "draws": 150}
"""Sampler settings shared by the batch tests: their compiled programs are shared too
(chunks of 2 datasets on one device, of 8 on one device, of 2 on two devices)."""


def normal_mean(y):
    """mu ~ N(0, 1), y_i ~ N(mu, 1): posterior N(sum(y) / (n + 1), 1 / (n + 1))."""
    mu = numpyro.sample("mu", dist.Normal(0.0, 1.0))
    with numpyro.plate("obs", y.shape[-1]):
        numpyro.sample("y", dist.Normal(mu, 1.0), obs=y)


def datasets(n: int, seed: int = 0) -> np.ndarray:
    """``n`` datasets of :data:`N_OBS` observations, each with its own true mean."""
    rng = np.random.default_rng(seed)
    return rng.normal(rng.normal(size=(n, 1)), 1.0, size=(n, N_OBS))


def assert_same_fits(a, b) -> None:
    """Identical draws and sampler statistics, dataset by dataset."""
    assert a.posterior.keys() == b.posterior.keys()
    for name in a.posterior:
        np.testing.assert_array_equal(a.posterior[name], b.posterior[name], err_msg=name)
    for name in ("lp", "step_size", "n_steps"):
        np.testing.assert_array_equal(a.sample_stats[name], b.sample_stats[name], err_msg=name)
