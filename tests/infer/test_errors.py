"""Bad input fails loudly, naming the argument, the value and what was expected."""

from __future__ import annotations

import numpy as np
import numpyro
import numpyro.distributions as dist
import pytest

import bayesuq
from bayesuq.infer.data import prepare_data
from bayesuq.infer.init import user_init_unconstrained

FAST = {"chains": 1, "draws": 10, "warmup": 10, "progress": False}


def model(x, y=None):
    b = numpyro.sample("b", dist.Normal(0.0, 1.0))
    with numpyro.plate("obs", x.shape[0]):
        numpyro.sample("y", dist.Normal(b * x, 1.0), obs=y)


def positive_model(y=None):
    rate = numpyro.sample("rate", dist.Gamma(2.0, 2.0))
    with numpyro.plate("obs", 3):
        numpyro.sample("y", dist.Exponential(rate), obs=y)


GOOD = {"x": np.arange(3.0), "y": np.ones(3)}


@pytest.mark.parametrize("engine", [bayesuq.nuts, bayesuq.svi])
def test_unknown_data_key(engine):
    with pytest.raises(ValueError, match=r"data has key\(s\) \['z'\] that model 'model'"):
        engine(model, {**GOOD, "z": np.ones(3)}, progress=False)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_data(bad):
    y = np.array([1.0, bad, 2.0])
    with pytest.raises(ValueError, match=r"data\['y'\] contains 1 non-finite value.*index 1"):
        bayesuq.nuts(model, {"x": GOOD["x"], "y": y}, **FAST)


def test_non_numeric_data():
    with pytest.raises(TypeError, match=r"data\['y'\] has dtype <U1; expected a numeric"):
        bayesuq.nuts(model, {"x": GOOD["x"], "y": np.array(["a", "b", "c"])}, **FAST)


def test_data_of_unsupported_type():
    with pytest.raises(TypeError, match=r"data\['x'\] has type dict"):
        bayesuq.nuts(model, {"x": {"a": 1}, "y": GOOD["y"]}, **FAST)


def test_ragged_list():
    with pytest.raises(ValueError, match=r"data\['x'\] is a ragged list"):
        bayesuq.nuts(model, {"x": [[1.0], [1.0, 2.0]], "y": GOOD["y"]}, **FAST)


def test_data_not_a_mapping():
    with pytest.raises(TypeError, match="data must be a dict"):
        bayesuq.nuts(model, [1, 2, 3], **FAST)


def test_shape_mismatch_names_the_site_and_both_shapes():
    with pytest.raises(
        ValueError,
        match=r"observed site 'y' has a value of shape \(4,\) but its distribution "
        r"has shape \(3,\).*do not broadcast",
    ):
        bayesuq.nuts(model, {"x": np.arange(3.0), "y": np.ones(4)}, **FAST)


@pytest.mark.parametrize("engine", [bayesuq.nuts, bayesuq.svi])
def test_observed_values_that_would_broadcast_the_likelihood_are_refused(engine):
    """y of shape (8, 1) against a batch of (8,) would give an 8 x 8 likelihood."""
    with pytest.raises(ValueError, match=r"'y' has a value of shape \(3, 1\).*shape \(3, 3\)"):
        engine(model, {"x": np.arange(3.0), "y": np.ones((3, 1))}, progress=False)


def test_a_distribution_may_broadcast_up_to_the_data():
    """i.i.d. observations without a plate are one likelihood term each: accepted."""

    def iid(y):
        mu = numpyro.sample("mu", dist.Normal(0.0, 1.0))
        numpyro.sample("y", dist.Normal(mu, 1.0), obs=y)

    idata = bayesuq.nuts(iid, {"y": np.ones(4)}, **FAST)
    assert idata.observed_data["y"].shape == (4,)


@pytest.mark.parametrize(
    ("argument", "value", "message"),
    [
        ("chains", 0, "chains must be an integer >= 1, got 0"),
        ("chains", 2.5, "chains must be an integer >= 1, got 2.5"),
        ("draws", -5, "draws must be an integer >= 1, got -5"),
        ("warmup", -1, "warmup must be an integer >= 0, got -1"),
        ("seed", -1, r"seed must be an integer in \[0, 4294967295\], got -1"),
        ("seed", 2**70, r"seed must be an integer in \[0, 4294967295\], got 11805916"),
        ("seed", 1.5, "seed must be an integer"),
        ("dense_mass", "no", "dense_mass must be True, False or a list of tuples"),
        ("dense_mass", [("mu", "tau")], r"dense_mass names \['mu', 'tau'\], which are not latent"),
        ("target_accept", 1.5, "target_accept must be a number strictly between 0 and 1"),
        ("max_tree_depth", 0, "max_tree_depth must be an integer >= 1, got 0"),
        ("chain_method", "async", "chain_method must be one of"),
    ],
)
def test_bad_sampler_settings(argument, value, message):
    with pytest.raises((TypeError, ValueError), match=message):
        bayesuq.nuts(model, GOOD, **{**FAST, argument: value})


@pytest.mark.parametrize(
    ("argument", "value", "message"),
    [
        ("steps", 0, "steps must be an integer >= 1, got 0"),
        ("learning_rate", -0.1, "learning_rate must be a finite number > 0"),
        ("guide", "laplace", "guide must be one of"),
        ("draws", 0, "draws must be an integer >= 1"),
    ],
)
def test_bad_svi_settings(argument, value, message):
    with pytest.raises((TypeError, ValueError), match=message):
        bayesuq.svi(model, GOOD, progress=False, **{argument: value})


def test_model_that_cannot_initialise_names_the_site():
    """Negative data under an Exponential likelihood: no parameter value makes it finite."""
    with pytest.raises(RuntimeError, match=r"could not initialise.*observed site 'y'"):
        bayesuq.nuts(positive_model, {"y": np.array([1.0, -2.0, 0.5])}, **FAST)


def test_init_outside_support_is_refused():
    with pytest.raises(ValueError, match=r"init\['rate'\] lies outside the support"):
        bayesuq.nuts(positive_model, {"y": np.ones(3)}, init={"rate": -1.0}, **FAST)


def test_init_with_unknown_site():
    with pytest.raises(ValueError, match=r"init has key\(s\) \['scale'\]"):
        bayesuq.nuts(positive_model, {"y": np.ones(3)}, init={"scale": 1.0}, **FAST)


def test_init_with_wrong_shape():
    with pytest.raises(ValueError, match=r"init\['rate'\] has shape \(3,\)"):
        bayesuq.nuts(positive_model, {"y": np.ones(3)}, init={"rate": np.ones(3)}, **FAST)


def test_user_init_is_used():
    idata = bayesuq.nuts(
        positive_model,
        {"y": np.ones(3)},
        init={"rate": 0.7},
        chains=1,
        draws=20,
        warmup=0,
        progress=False,
    )
    assert np.isfinite(idata.posterior["rate"].values).all()
    prepared = prepare_data(positive_model, {"y": np.ones(3)})
    unconstrained = user_init_unconstrained(positive_model, prepared, {"rate": 0.7}, chains=2)
    np.testing.assert_allclose(unconstrained["rate"], np.log([0.7, 0.7]), rtol=1e-6)


def test_model_without_latent_sites():
    def observed_only(y=None):
        numpyro.sample("y", dist.Normal(0.0, 1.0), obs=y)

    with pytest.raises(ValueError, match="no latent sample sites"):
        bayesuq.nuts(observed_only, {"y": np.zeros(2)}, **FAST)


def test_diverging_svi_loss_raises():
    def model_far(y=None):
        mu = numpyro.sample("mu", dist.Normal(0.0, 1.0))
        numpyro.sample("y", dist.Normal(mu, 1e-30), obs=y)

    with pytest.raises(RuntimeError, match="SVI loss became non-finite at step"):
        bayesuq.svi(model_far, {"y": np.array(1e30)}, steps=50, progress=False)


def test_dense_mass_blocks_are_honoured():
    """A block of two sites is dense, a third site stays diagonal (NumPyro's structure)."""

    def three(y=None):
        a = numpyro.sample("a", dist.Normal(0.0, 1.0))
        b = numpyro.sample("b", dist.Normal(a, 0.5))
        numpyro.sample("c", dist.Normal(0.0, 1.0))
        numpyro.sample("y", dist.Normal(b, 1.0), obs=y)

    idata = bayesuq.nuts(
        three,
        {"y": np.array(0.3)},
        dense_mass=[("a", "b")],
        chains=1,
        draws=20,
        warmup=50,
        progress=False,
        seed=1,
    )
    names = {
        idata.sampler_state[v].attrs["path"]
        for v in idata.sampler_state.data_vars
        if "inverse_mass_matrix" in idata.sampler_state[v].attrs["path"]
    }
    assert any("a" in n and "b" in n for n in names) and any("c" in n for n in names)
    shapes = {
        idata.sampler_state[v].attrs["path"]: idata.sampler_state[v].attrs["shape"]
        for v in idata.sampler_state.data_vars
    }
    block = next(p for p in names if "a" in p and "b" in p)
    assert shapes[block] == "1,2,2"  # chain, dense 2 x 2 block
    assert idata.attrs["dense_mass"] == "a,b"


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"coords": {"nope": [1, 2, 3]}}, "coords has dim 'nope', which no site or data entry"),
        ({"coords": {"obs": [1, 2]}}, r"coords\['obs'\] has 2 labels but dim 'obs' has size 3"),
        ({"dims": {"y": ["a", "b"]}}, r"dims\['y'\] = \['a', 'b'\] names 2 axes"),
        ({"dims": {"y": "obs"}}, r"dims\['y'\] must be a list of dim names"),
    ],
)
def test_dims_and_coords_are_checked_before_compiling(settings, message, monkeypatch):
    from bayesuq.infer import programs

    def no_compiling(*args, **kwargs):
        raise AssertionError("compiled before checking dims/coords")

    monkeypatch.setattr(programs, "build_programs", no_compiling)
    with pytest.raises(ValueError, match=message):
        bayesuq.nuts(model, GOOD, **FAST, **settings)
