"""A sweep of bad inputs to the public API: each one gives a clear, specific error.

Every case names the call, the bad input and a fragment the error message must contain
(the argument, the value or what was expected). A case fails if the call succeeds, raises
anything but the expected type, or says something unhelpful. ``len(CASES)`` is the count
of bad inputs tried (reported in the closing note of issue 11).
"""

from __future__ import annotations

import arviz as az
import numpy as np
import numpyro
import numpyro.distributions as dist
import pandas as pd
import pytest

import bayesuq


def model(x, y=None):
    b = numpyro.sample("b", dist.Normal(0.0, 1.0))
    with numpyro.plate("obs", x.shape[0]):
        numpyro.sample("y", dist.Normal(b * x, 1.0), obs=y)


def positive(y=None):
    rate = numpyro.sample("rate", dist.Gamma(2.0, 2.0))
    with numpyro.plate("obs", 3):
        numpyro.sample("y", dist.Exponential(rate), obs=y)


def discrete(y=None):
    k = numpyro.sample("k", dist.Poisson(3.0))
    numpyro.sample("y", dist.Normal(k, 1.0), obs=y)


def nothing_latent(y=None):
    numpyro.sample("y", dist.Normal(0.0, 1.0), obs=y)


X, Y = np.arange(3.0), np.ones(3)
GOOD = {"x": X, "y": Y}
FAST = {"chains": 1, "draws": 5, "warmup": 5, "progress": False}
IDATA = az.from_dict(posterior={"b": np.zeros((1, 5))})


def nuts(**kwargs):
    return lambda: bayesuq.nuts(model, **{"data": GOOD, **FAST, **kwargs})


def svi(**kwargs):
    return lambda: bayesuq.svi(model, **{"data": GOOD, "progress": False, **kwargs})


def hmc(**kwargs):
    return lambda: bayesuq.hmc(model, **{"data": GOOD, **FAST, **kwargs})


def many(**kwargs):
    data = {"x": X, "y": np.ones((4, 3))}
    options = {"batched": ["y"], **FAST, **kwargs}
    data = options.pop("data", data)
    return lambda: bayesuq.nuts_many(model, data, **options)


CASES = [
    # data dict
    ("nuts data list", nuts(data=[1, 2]), TypeError, "data must be a dict"),
    ("nuts unknown key", nuts(data={**GOOD, "z": X}), ValueError, "['z']"),
    ("nuts missing x", nuts(data={"y": Y}), ValueError, "failed when called"),
    ("nuts NaN", nuts(data={"x": X, "y": [1.0, np.nan, 2.0]}), ValueError, "non-finite"),
    ("nuts inf", nuts(data={"x": [np.inf, 1.0, 2.0], "y": Y}), ValueError, "non-finite"),
    ("nuts strings", nuts(data={"x": X, "y": np.array(["a"] * 3)}), TypeError, "numeric"),
    ("nuts objects", nuts(data={"x": X, "y": np.array([1, "a", None])}), TypeError, "numeric"),
    ("nuts dict value", nuts(data={"x": {"a": 1}, "y": Y}), TypeError, "type dict"),
    ("nuts ragged", nuts(data={"x": [[1.0], [1.0, 2.0]], "y": Y}), ValueError, "ragged"),
    ("nuts NaN scalar", nuts(data={"x": X, "y": float("nan")}), ValueError, "finite number"),
    ("nuts wrong length", nuts(data={"x": X, "y": np.ones(4)}), ValueError, "shape (4,)"),
    ("nuts (3,1) y", nuts(data={"x": X, "y": np.ones((3, 1))}), ValueError, "(3, 3)"),
    ("nuts 2-D x", nuts(data={"x": np.ones((3, 2)), "y": Y}), ValueError, "'y'"),
    (
        "nuts pandas labels",
        nuts(data={"x": pd.Series(X, index=list("abc")), "y": pd.Series(Y, index=list("xyz"))}),
        ValueError,
        "different row labels",
    ),
    # sampler settings
    ("nuts chains 0", nuts(chains=0), ValueError, "chains must be an integer >= 1"),
    ("nuts chains float", nuts(chains=2.5), TypeError, "chains must be an integer"),
    ("nuts chains bool", nuts(chains=True), TypeError, "chains must be an integer"),
    ("nuts draws 0", nuts(draws=0), ValueError, "draws must be"),
    ("nuts draws str", nuts(draws="10"), TypeError, "draws must be"),
    ("nuts warmup -1", nuts(warmup=-1), ValueError, "warmup must be"),
    ("nuts seed -1", nuts(seed=-1), ValueError, "seed must be an integer in"),
    ("nuts seed 2**70", nuts(seed=2**70), ValueError, "seed must be an integer in"),
    ("nuts seed float", nuts(seed=1.5), TypeError, "seed must be an integer"),
    ("nuts seed None", nuts(seed=None), TypeError, "seed must be an integer"),
    ("nuts target 1.5", nuts(target_accept=1.5), ValueError, "strictly between 0 and 1"),
    ("nuts target 0", nuts(target_accept=0.0), ValueError, "strictly between 0 and 1"),
    ("nuts target str", nuts(target_accept="high"), ValueError, "strictly between 0 and 1"),
    ("nuts depth 0", nuts(max_tree_depth=0), ValueError, "max_tree_depth"),
    ("nuts chain_method", nuts(chain_method="async"), ValueError, "chain_method must be"),
    ("nuts dense 'no'", nuts(dense_mass="no"), TypeError, "dense_mass must be True, False"),
    ("nuts dense 1", nuts(dense_mass=1), TypeError, "dense_mass must be True, False"),
    ("nuts dense site", nuts(dense_mass=[("c",)]), ValueError, "not latent sites"),
    ("nuts dense overlap", nuts(dense_mass=[("b",), ("b",)]), ValueError, "must not share"),
    ("nuts dense strings", nuts(dense_mass=["b"]), TypeError, "list of tuples"),
    # init
    ("nuts init key", nuts(init={"c": 1.0}), ValueError, "init has key(s) ['c']"),
    ("nuts init shape", nuts(init={"b": np.ones(3)}), ValueError, "init['b'] has shape"),
    (
        "nuts init support",
        lambda: bayesuq.nuts(positive, {"y": Y}, init={"rate": -1.0}, **FAST),
        ValueError,
        "lies outside the support",
    ),
    (
        "nuts init no start",
        lambda: bayesuq.nuts(positive, {"y": -Y}, **FAST),
        RuntimeError,
        "observed site 'y'",
    ),
    # dims and coords
    ("nuts dims key", nuts(dims={"beta": ["k"]}), ValueError, "dims has key 'beta'"),
    ("nuts dims count", nuts(dims={"y": ["a", "b"]}), ValueError, "names 2 axes"),
    ("nuts dims str", nuts(dims={"y": "obs"}), ValueError, "list of dim names"),
    ("nuts coords dim", nuts(coords={"nope": [1]}), ValueError, "coords has dim 'nope'"),
    ("nuts coords length", nuts(coords={"obs": [1, 2]}), ValueError, "has 2 labels"),
    # models
    (
        "nuts discrete latent",
        lambda: bayesuq.nuts(discrete, {"y": np.array(1.0)}, **FAST),
        ValueError,
        "latent site 'k' is discrete",
    ),
    (
        "nuts nothing latent",
        lambda: bayesuq.nuts(nothing_latent, {"y": np.array(1.0)}, **FAST),
        ValueError,
        "no latent sample sites",
    ),
    ("nuts not a model", lambda: bayesuq.nuts(42, GOOD, **FAST), ValueError, "failed"),
    # resume
    ("nuts resume foreign", nuts(resume=IDATA), ValueError, "kept its sampler state"),
    # hmc
    ("hmc num_steps 0", hmc(num_steps=0), ValueError, "num_steps must be"),
    ("hmc trajectory -1", hmc(trajectory_length=-1.0), ValueError, "trajectory_length"),
    # svi
    ("svi steps 0", svi(steps=0), ValueError, "steps must be"),
    ("svi lr -0.1", svi(learning_rate=-0.1), ValueError, "learning_rate must be"),
    ("svi lr inf", svi(learning_rate=float("inf")), ValueError, "learning_rate must be"),
    ("svi guide name", svi(guide="laplace"), ValueError, "guide must be one of"),
    ("svi guide type", svi(guide=3), TypeError, "guide must be a name or a callable"),
    ("svi draws 0", svi(draws=0), ValueError, "draws must be"),
    ("svi seed", svi(seed=-3), ValueError, "seed must be"),
    ("svi NaN", svi(data={"x": X, "y": [np.nan] * 3}), ValueError, "non-finite"),
    (
        "svi guide misses b",
        svi(guide=lambda x, y=None: None, steps=10),
        ValueError,
        "latent site(s) ['b']",
    ),
    # nuts_many
    ("many batched str", many(batched="y"), ValueError, "non-empty list"),
    ("many batched unknown", many(batched=["z"]), ValueError, "'z' is not in data"),
    (
        "many disagree",
        many(data={"x": np.ones((2, 3)), "y": np.ones((4, 3))}, batched=["x", "y"]),
        ValueError,
        "disagree on the number of datasets",
    ),
    (
        "many NaN",
        many(data={"x": X, "y": np.array([[1.0, np.nan, 1.0]] * 4)}),
        ValueError,
        "dataset(s) [0, 1, 2, 3]",
    ),
    ("many scalar", many(data={"x": X, "y": 1.0}), ValueError, "scalar"),
    ("many chains 0", many(chains=0), ValueError, "chains must be"),
    # sbc
    (
        "sbc observed missing",
        lambda: bayesuq.sbc(model, {"x": X}, observed="z", n_sims=5, progress=False),
        ValueError,
        "data has key(s) ['z']",
    ),
    (
        "sbc observed type",
        lambda: bayesuq.sbc(model, {"x": X}, observed=3, n_sims=5, progress=False),
        ValueError,
        "observed must name",
    ),
    (
        "sbc n_sims",
        lambda: bayesuq.sbc(model, {"x": X}, observed="y", n_sims=0, progress=False),
        ValueError,
        "n_sims",
    ),
    (
        "sbc alpha",
        lambda: bayesuq.sbc(model, {"x": X}, observed="y", alpha=2.0, progress=False),
        ValueError,
        "alpha",
    ),
    # diagnose, save, load, report
    ("diagnose None", lambda: bayesuq.diagnose(None), TypeError, "got NoneType"),
    ("diagnose dict", lambda: bayesuq.diagnose({"b": 1}), TypeError, "got dict"),
    ("diagnose array", lambda: bayesuq.diagnose(np.zeros(3)), TypeError, "got ndarray"),
    ("diagnose path", lambda: bayesuq.diagnose("fit.nc"), TypeError, "got str"),
    (
        "diagnose no posterior",
        lambda: bayesuq.diagnose(az.from_dict(observed_data={"y": Y})),
        ValueError,
        "no posterior group",
    ),
    ("save dict", lambda: bayesuq.save({"b": 1}, "x.nc"), TypeError, "arviz.InferenceData"),
    ("load missing", lambda: bayesuq.load("/nonexistent/fit.nc"), FileNotFoundError, "no results"),
    ("load dir", lambda: bayesuq.load("/tmp"), ValueError, "it is a directory"),
    ("report dict", lambda: bayesuq.report({"b": 1}, "/tmp/r.html"), TypeError, "InferenceData"),
]


@pytest.mark.parametrize(
    ("call", "error", "fragment"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_bad_input_gives_a_clear_error(call, error, fragment):
    with pytest.raises(error) as info:
        call()
    assert fragment in str(info.value), str(info.value)
    assert "Traceback" not in str(info.value)


def test_the_sweep_is_large():
    assert len(CASES) >= 75
