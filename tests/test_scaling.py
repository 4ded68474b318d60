"""bayesuq.data.scaling.standardise: the one column standardisation of the families."""

from __future__ import annotations

import numpy as np
import pytest

from bayesuq.data.scaling import standardise


def test_population_sd_and_round_trip():
    x = np.random.default_rng(0).normal(3.0, 2.0, size=(50, 3))
    z, mean, sd = standardise(x)
    np.testing.assert_allclose(z.mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(z.std(axis=0), 1.0, rtol=1e-12)  # population sd (ddof 0)
    np.testing.assert_allclose(sd, x.std(axis=0, ddof=0))
    np.testing.assert_allclose(z * sd + mean, x, rtol=1e-12)


def test_batch_axis():
    x = np.random.default_rng(1).normal(size=(4, 30, 2))
    z, mean, sd = standardise(x, axis=1)
    assert mean.shape == sd.shape == (4, 2)
    for r in range(4):
        np.testing.assert_allclose(z[r], standardise(x[r])[0])


def test_constant_columns_raise_or_are_kept():
    x = np.c_[np.arange(5.0), np.ones(5)]
    with pytest.raises(ValueError, match=r"X has constant column\(s\) \[1\]"):
        standardise(x)
    z, _, sd = standardise(x, constant="keep")
    assert sd[1] == 1.0 and np.all(z[:, 1] == 0.0)


@pytest.mark.parametrize(
    ("values", "kwargs", "message"),
    [
        ([1.0, np.nan, 2.0], {"name": "y"}, "y contains NaN"),
        ([[1.0, 2.0]], {}, "at least 2 observations"),
        (3.0, {}, "scalar"),
        ([1.0, 2.0], {"constant": "drop"}, "constant must be one of"),
    ],
)
def test_bad_input_is_named(values, kwargs, message):
    with pytest.raises(ValueError, match=message):
        standardise(values, **kwargs)
