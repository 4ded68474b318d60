"""The results front door: required tag, provenance that cannot be overwritten, named dims."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from bayesuq.diagnostics.kinds import DrawKind, draw_kind, inference_tag, is_mcmc
from bayesuq.infer.results import PROVENANCE_KEYS, inference_data


def _result(**overrides):
    options = dict(
        inference="martingale",
        seed=3,
        timings={"total": 1.23456, "sampling": 1.0},
        posterior={"theta": np.zeros((1, 5, 2))},
        dims={"theta": ["component"]},
        coords={"component": ["a", "b"]},
        attrs={"estimator": "copula_density"},
    )
    return inference_data(**{**options, **overrides})


def test_provenance_tag_seed_and_timings_on_every_group():
    idata = _result(observed_data={"y": np.ones(4)}, dims={"theta": ["component"], "y": ["obs"]})
    for attrs in (idata.attrs, idata.posterior.attrs, idata.observed_data.attrs):
        assert attrs["inference"] == "martingale"
        assert attrs["seed"] == 3
        assert attrs["total_seconds"] == 1.2346
        assert attrs["sampling_seconds"] == 1.0
        assert attrs["estimator"] == "copula_density"
        assert set(PROVENANCE_KEYS) <= set(attrs)
    assert idata.posterior["theta"].dims == ("chain", "draw", "component")
    assert list(idata.posterior["component"].values) == ["a", "b"]
    assert idata.observed_data["y"].dims == ("obs",)


@pytest.mark.parametrize("tag", [None, "draws", "MCMC", 3])
def test_the_tag_is_required_and_known(tag):
    with pytest.raises(ValueError, match="inference must be one of"):
        _result(inference=tag)


@pytest.mark.parametrize("key", ["inference", "seed", "jax_version", "total_seconds"])
def test_attrs_cannot_overwrite_provenance(key):
    with pytest.raises(ValueError, match="overwrite"):
        _result(attrs={key: "mine"})


def test_timings_need_a_total_and_known_phases():
    with pytest.raises(ValueError, match="total"):
        _result(timings={"sampling": 1.0})
    with pytest.raises(ValueError, match="phases"):
        _result(timings={"total": 1.0, "warmup": 1.0})


def test_bad_dims_coords_and_groups_are_refused():
    with pytest.raises(ValueError, match="names 2 axes"):
        _result(dims={"theta": ["a", "b"]})
    with pytest.raises(ValueError, match="has 3 labels"):
        _result(coords={"component": ["a", "b", "c"]})
    with pytest.raises(ValueError, match="unknown InferenceData group"):
        _result(posterior_draws={"x": np.zeros((1, 2))})
    with pytest.raises(ValueError, match="leading dims"):
        _result(posterior={"theta": np.zeros(3)})


def test_datasets_pass_through_and_sizes_of_unnamed_axes():
    history = xr.Dataset({"loss": (("svi_step",), np.arange(4.0))})
    idata = _result(
        posterior={"theta": np.zeros((1, 5, 2)), "w": np.zeros((1, 5, 3))}, sample_stats=history
    )
    assert idata.posterior["w"].dims == ("chain", "draw", "w_dim_0")
    assert idata.sample_stats["loss"].dims == ("svi_step",)
    assert idata.sample_stats.attrs["inference"] == "martingale"


def test_one_rule_for_the_kind_of_draws():
    assert is_mcmc(_result(inference="nuts"))
    assert draw_kind(_result()) is DrawKind.INDEPENDENT
    assert draw_kind(_result(inference="svi")) is DrawKind.VARIATIONAL

    legacy = xr.Dataset(attrs={"method": "martingale_copula_density"})
    assert inference_tag(legacy) == "martingale"
    assert draw_kind(xr.Dataset()) is DrawKind.UNKNOWN
