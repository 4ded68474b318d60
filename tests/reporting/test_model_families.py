"""Reports on real fits of the zoo's MCMC families (slow: each compiles for ~30 s).

The default tests cover an ``InferenceData`` shaped like PRESTO's; these fit the models.
"""

from __future__ import annotations

import re

import jax
import numpy as np
import pandas as pd
import pytest

import bayesuq
from bayesuq.models.aggregate import fit_with_simulation_noise_check, linear_model, simulate_linear
from bayesuq.models.presto import BayesianPresto, simulate_sparse_diffs

pytestmark = pytest.mark.slow


def _kinds(page: str) -> list[str]:
    return re.findall(r'<img\b[^>]*data-figure="([a-z]+)"', page)


def test_bayesian_presto_report(tmp_path):
    data = simulate_sparse_diffs(n=200, p=2, intercepts=(0.0, 2.5), seed=1)
    labels = np.array(["low", "mid", "high"])
    X = pd.DataFrame(data.X, columns=["a", "b"])
    y = pd.Series(pd.Categorical(labels[data.y], categories=labels, ordered=True))
    model = BayesianPresto(chains=2, draws=200, warmup=200, seed=1).fit(X, y)
    page = bayesuq.report(model.idata_, tmp_path / "presto.html").read_text()
    assert _kinds(page) == ["trace", "rank", "pair", "energy", "predictive"]
    assert "<th>beta[a, &lt;=low]</th>" in page
    assert "Posterior predictive: p_rare" in page
    assert "<th>prior_scale</th>" in page


def test_aggregate_noise_check_report(tmp_path):
    with jax.enable_x64(True):
        idata = fit_with_simulation_noise_check(
            linear_model("approx"),
            simulate_linear(n_patients=20, n_patients_ext=20).model_data("exact"),
            J_tilde=20,
            chains=2,
            seed=5,
            draws=200,
            warmup=200,
            progress=False,
        )
    page = bayesuq.report(idata, tmp_path / "aggregate.html").read_text()
    assert _kinds(page) == ["trace", "rank", "pair", "energy"]
    assert "<th>J_tilde_per_chain</th>" in page and "<td>20,40</td>" in page
    verdict = bayesuq.diagnose(idata)
    assert ("PROBLEMS FOUND" in page) == (not verdict.ok)
