"""Property-based fuzzing of the ``data`` argument of ``nuts`` and ``svi``.

Every generated data dict (random keys, shapes, dtypes, NaN/inf placement, pandas vs numpy,
lists, None) either fits, with finite draws, or raises ``TypeError``/``ValueError`` whose
message names one of the entries involved. Nothing else may escape. The default run is kept
small (shapes come from a short list so that compiled programs are reused); the ``slow`` test
runs many more examples.
"""

from __future__ import annotations

import warnings

import numpy as np
import numpyro
import numpyro.distributions as dist
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import bayesuq

SHAPES = [(), (3,), (4,), (3, 1), (2, 3)]
DTYPES = ["float64", "float32", "int64", "bool", "str", "object"]


def regression(x, y=None):
    b = numpyro.sample("b", dist.Normal(0.0, 1.0))
    with numpyro.plate("obs", x.shape[0]):
        numpyro.sample("y", dist.Normal(b * x, 1.0), obs=y)


@st.composite
def entry(draw):
    """One data value: an array (maybe with NaN/inf), a pandas object, a list, a scalar or None."""
    form = draw(st.sampled_from(["array", "series", "frame", "list", "scalar", "none"]))
    if form == "none":
        return None
    if form == "scalar":
        return draw(st.sampled_from([1, 2.5, True, float("nan"), "a"]))
    shape = draw(st.sampled_from(SHAPES))
    dtype = draw(st.sampled_from(DTYPES))
    size = int(np.prod(shape))
    if dtype in ("str", "object"):
        values = np.array([f"v{i}" for i in range(size)], dtype=object).reshape(shape)
    else:
        values = np.linspace(-1.0, 1.0, size).reshape(shape).astype(dtype)
        if dtype.startswith("float") and size and draw(st.booleans()):
            flat = values.reshape(-1)
            flat[draw(st.integers(0, size - 1))] = draw(st.sampled_from([np.nan, np.inf]))
    if form == "series" and values.ndim == 1:
        labels = draw(st.sampled_from(["default", "named", "reversed"]))
        index = pd.RangeIndex(values.size)
        if labels != "default":
            names = [f"s{i}" for i in range(values.size)]
            index = pd.Index(names[::-1] if labels == "reversed" else names, name="obs")
        return pd.Series(values, index=index)
    if form == "frame" and values.ndim == 2:
        return pd.DataFrame(values)
    if form == "list":
        return values.tolist()
    return values


data_dicts = st.dictionaries(st.sampled_from(["x", "y", "z"]), entry(), min_size=0, max_size=3)


def _check(engine, data):
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # convergence warnings of the tiny runs
            if engine == "nuts":
                idata = bayesuq.nuts(
                    regression, data, chains=1, draws=5, warmup=5, seed=0, progress=False
                )
            else:
                idata = bayesuq.svi(regression, data, steps=5, draws=5, seed=0, progress=False)
    except (TypeError, ValueError) as err:
        message = str(err)
        named = [key for key in {*data, "x", "y"} if repr(key) in message]
        assert named, f"{type(err).__name__} does not name an entry: {message}"
        return
    for name in idata.posterior.data_vars:
        assert np.all(np.isfinite(idata.posterior[name].values)), name


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=data_dicts)
def test_nuts_fits_or_names_the_bad_entry(data):
    _check("nuts", data)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=data_dicts)
def test_svi_fits_or_names_the_bad_entry(data):
    _check("svi", data)


@pytest.mark.slow
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=data_dicts, engine=st.sampled_from(["nuts", "svi"]))
def test_many_data_dicts_fit_or_name_the_bad_entry(data, engine):
    _check(engine, data)
