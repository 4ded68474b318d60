"""The on-disk traced-program cache: same results from a second process, model-sensitive keys."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import numpyro
import numpyro.distributions as dist

from bayesuq.infer import init as initialisation
from bayesuq.infer import nuts as nuts_module
from bayesuq.infer.data import prepare_data
from bayesuq.infer.loop import chunk_length

CHILD = """
import numpy as np, numpyro, numpyro.distributions as dist, bayesuq
def model(y):
    mu = numpyro.sample("mu", dist.Normal(0.0, 3.0))
    with numpyro.plate("obs", y.shape[0]):
        numpyro.sample("y", dist.Normal(mu, 1.0), obs=y)
idata = bayesuq.nuts(model, {"y": np.arange(5.0)}, chains=2, draws=50, warmup=50, seed=3,
                     chain_method="vectorized", progress=False)
print(repr(idata.posterior["mu"].values.tolist()))
"""


def test_second_process_loads_programs_and_gives_identical_draws(tmp_path):
    env = {**os.environ, "BAYESUQ_CACHE_DIR": str(tmp_path)}
    runs = [
        subprocess.run(
            [sys.executable, "-c", CHILD],
            env=env,
            capture_output=True,
            text=True,
            check=True,
            timeout=600,
        ).stdout
        for _ in range(2)
    ]
    exported = sorted(p.name.split("-")[-1] for p in (tmp_path / "bayesuq-programs").iterdir())
    assert exported == ["chunk.jaxexport", "init.jaxexport"]
    assert runs[0] == runs[1]


def _key(model, data):
    prepared = prepare_data(model, data)
    template, potential, postprocess = initialisation.model_functions(model, prepared)
    config = nuts_module.NutsConfig(2, 10, 10, 0.8, 10, False, "vectorized", chunk_length(20))
    return nuts_module._program_key(prepared, config, template, potential, postprocess)


def _normal_model(scale):
    def model(y):
        mu = numpyro.sample("mu", dist.Normal(0.0, scale))
        numpyro.sample("y", dist.Normal(mu, 1.0), obs=y)

    return model


def test_program_key_follows_the_model_not_the_function_object():
    y = {"y": np.zeros(3)}
    assert _key(_normal_model(1.0), y) == _key(_normal_model(1.0), y)
    assert _key(_normal_model(1.0), y) != _key(_normal_model(2.0), y)
    assert _key(_normal_model(1.0), y) != _key(_normal_model(1.0), {"y": np.zeros(4)})
