"""bayesuq.sbc passes chunking and the store to nuts_many: an interrupted calibration
resumes with the same ranks (slow: one more model to compile)."""

from __future__ import annotations

import json

import numpyro
import numpyro.distributions as dist
import pytest
from scale_models import SAMPLER

import bayesuq
from bayesuq.batch.store import MANIFEST


def normal_mean_generative(n, y=None):
    mu = numpyro.sample("mu", dist.Normal(0.0, 1.0))
    with numpyro.plate("obs", n):
        numpyro.sample("y", dist.Normal(mu, 1.0), obs=y)


@pytest.mark.slow
def test_sbc_resumes_from_its_store(tmp_path):
    options = {**SAMPLER, "n_sims": 20, "chunk_size": 4, "seed": 2, "progress": False}
    store = tmp_path / "sbc"
    first = bayesuq.sbc(normal_mean_generative, {"n": 6}, observed="y", store=store, **options)
    assert first.attrs["chunks"] == 5 and first.attrs["chunk_size"] == 4
    manifest = json.loads((store / MANIFEST).read_text())
    for index in ("1", "3"):  # as if the run had stopped before these chunks
        del manifest["chunks"][index]
    (store / MANIFEST).write_text(json.dumps(manifest))
    again = bayesuq.sbc(normal_mean_generative, {"n": 6}, observed="y", store=store, **options)
    assert again.attrs["resumed_chunks"] == 3
    assert again.ranks.equals(first.ranks)
    assert again.ok
