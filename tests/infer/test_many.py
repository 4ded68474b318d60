"""NUTS over many datasets as one program: per-dataset posteriors, no recompiles, errors."""

from __future__ import annotations

import numpy as np
import numpyro
import numpyro.distributions as dist
import pytest

import bayesuq
from bayesuq.infer.many import nuts_many

N_OBS, DATASETS = 8, 20
SETTINGS = {"chains": 2, "draws": 300, "warmup": 300, "progress": False}


def normal_mean(y):
    """mu ~ N(0, 1), y_i ~ N(mu, 1): posterior N(sum(y) / (n + 1), 1 / (n + 1))."""
    mu = numpyro.sample("mu", dist.Normal(0.0, 1.0))
    with numpyro.plate("obs", y.shape[-1]):
        numpyro.sample("y", dist.Normal(mu, 1.0), obs=y)


def _datasets(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.normal(rng.normal(size=(DATASETS, 1)), 1.0, size=(DATASETS, N_OBS))


@pytest.fixture(scope="module")
def fits():
    return nuts_many(normal_mean, {"y": _datasets(0)}, batched=["y"], seed=1, **SETTINGS)


def test_each_dataset_gets_its_own_exact_posterior(fits):
    y = fits.batched["y"]
    exact_mean, exact_sd = y.sum(axis=1) / (N_OBS + 1), (1.0 / (N_OBS + 1)) ** 0.5
    draws = fits.posterior["mu"]
    assert draws.shape == (DATASETS, 2, 300)
    # 600 draws, ESS >= 300: MCSE <= 0.06 sd; 0.25 sd is > 4 MCSE for each of 20 datasets.
    z = (draws.mean(axis=(1, 2)) - exact_mean) / exact_sd
    assert np.max(np.abs(z)) < 0.25, z
    ratio = draws.std(axis=(1, 2)) / exact_sd
    assert abs(ratio.mean() - 1.0) < 0.05 and ratio.min() > 0.8, ratio


def test_one_dataset_as_inference_data(fits):
    idata = fits.inference_data(5)
    assert idata.posterior["mu"].dims == ("chain", "draw")
    np.testing.assert_array_equal(idata.observed_data["y"].values, fits.batched["y"][5])
    assert idata.attrs["dataset"] == 5 and idata.attrs["datasets"] == DATASETS
    # diagnose reads it like any NUTS result; ESS >= 200 of 600 draws is not certain, so
    # the verdict's sampler checks are asserted rather than `ok`.
    checks = bayesuq.diagnose(idata)
    assert checks.divergences == 0 and not checks.stuck_chains, checks
    with pytest.raises(IndexError, match="dataset must be in"):
        fits.inference_data(DATASETS)


def test_new_datasets_of_the_same_shape_compile_nothing(fits):
    again = nuts_many(normal_mean, {"y": _datasets(7)}, batched=["y"], seed=1, **SETTINGS)
    assert again.attrs["compile_seconds"] == 0.0
    assert not np.allclose(again.posterior["mu"], fits.posterior["mu"])


@pytest.mark.parametrize(
    ("data", "batched", "match"),
    [
        ({"y": np.zeros((3, 4))}, "y", "non-empty list"),
        ({"y": np.zeros((3, 4))}, ["z"], "not in data"),
        ({"y": np.float64(1.0)}, ["y"], "needs a leading dataset axis"),
    ],
)
def test_bad_batches_are_refused(data, batched, match):
    with pytest.raises(ValueError, match=match):
        nuts_many(normal_mean, data, batched=batched, **SETTINGS)


def test_non_finite_dataset_is_named():
    y = _datasets(0)
    y[3, 2] = np.nan
    with pytest.raises(ValueError, match=r"dataset\(s\) \[3\]"):
        nuts_many(normal_mean, {"y": y}, batched=["y"], **SETTINGS)


def test_disagreeing_dataset_counts_are_refused():
    def two(a, b):
        mu = numpyro.sample("mu", dist.Normal(0.0, 1.0))
        numpyro.sample("a", dist.Normal(mu, 1.0), obs=a)
        numpyro.sample("b", dist.Normal(mu, 1.0), obs=b)

    with pytest.raises(ValueError, match="disagree on the number of datasets"):
        nuts_many(two, {"a": np.zeros(3), "b": np.zeros(4)}, batched=["a", "b"], **SETTINGS)
