"""``bayesuq sbc`` from the command line: files written, exit status from the verdict."""

from __future__ import annotations

import pandas as pd
import pytest

from bayesuq.cli import main

SCRIPT = """
import numpy as np
import numpyro
import numpyro.distributions as dist

data = {"x": np.linspace(-1.0, 1.0, 10)}

def regression(x, y=None):
    mu = numpyro.sample("mu", dist.Normal(0.0, 1.0))
    sigma = numpyro.sample("sigma", dist.HalfNormal(1.0))
    with numpyro.plate("obs", x.shape[0]):
        numpyro.sample("y", dist.Normal(mu + x, sigma), obs=y)

def regression_wrong_scale(x, y=None):
    mu = numpyro.sample("mu", dist.Normal(0.0, 1.0))
    sigma = numpyro.sample("sigma", dist.HalfNormal(1.0))
    with numpyro.plate("obs", x.shape[0]):
        numpyro.sample("y", dist.Normal(mu + x, 2.0 * sigma), obs=y)
"""
# The same models and settings as test_sbc.py: the compiled programs come from the cache.
ARGS = ["--observed", "y", "--n-sims", "100", "--draws", "250", "--warmup", "250", "--no-progress"]


@pytest.fixture(scope="module")
def script(tmp_path_factory):
    path = tmp_path_factory.mktemp("sbc") / "models.py"
    path.write_text(SCRIPT)
    return path


def test_calibrated_script_model_exits_zero_and_writes_results(script, tmp_path, capsys):
    status = main(["sbc", f"{script}:regression", *ARGS, "-o", str(tmp_path)])
    assert status == 0, capsys.readouterr().out
    assert {p.name for p in tmp_path.iterdir()} == {
        "ranks.csv",
        "summary.csv",
        "sbc.png",
        "sbc.txt",
    }
    ranks = pd.read_csv(tmp_path / "ranks.csv", index_col=0)
    assert list(ranks.columns) == ["mu", "sigma"] and len(ranks) == 100
    assert (tmp_path / "sbc.txt").read_text().startswith("SBC: calibrated")


def test_miscalibrated_fit_model_exits_one(script, tmp_path):
    args = ["--fit-model", "regression_wrong_scale", "-o", str(tmp_path)]
    assert main(["sbc", f"{script}:regression", *ARGS, *args]) == 1
    assert "NOT calibrated" in (tmp_path / "sbc.txt").read_text()


@pytest.mark.parametrize(
    ("target", "match"),
    [("nowhere.py:model", "neither a bundled example"), ("{script}:missing", "no function")],
)
def test_bad_targets_are_usage_errors(script, tmp_path, target, match, capsys):
    status = main(["sbc", target.format(script=script), "--observed", "y", "-o", str(tmp_path)])
    assert status == 2
    assert match in capsys.readouterr().err
