"""A second process that fits a model an earlier one fitted: one abstract trace, nothing lowered.

The first process traces, lowers and compiles the init and chunk programs and stores their
executables, with a hint naming them (``bayesuq.infer.warm``); the second one loads both
executables, starts the chains from them, and meanwhile traces the model once
(``analyse_model``: sites and the fingerprint that confirms the stored programs). It
compiles nothing, not even a small eager operation (the seed's keys come from NumPy, the
chains' keys are split inside the init program).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import numpy as np

CHILD = """
import json
import jax, jax.monitoring, numpy as np, numpyro, numpyro.distributions as dist
import bayesuq

events = []
jax.monitoring.register_event_duration_secs_listener(lambda event, _, **k: events.append(event))
calls = []

def model(y):
    calls.append(1)
    mu = numpyro.sample("mu", dist.Normal(0.0, 3.0))
    sigma = numpyro.sample("sigma", dist.HalfNormal(2.0))
    with numpyro.plate("obs", y.shape[0]):
        numpyro.sample("y", dist.Normal(mu, sigma), obs=y)

y = np.linspace(-1.0, 2.0, 6).astype(np.float32)
jax.numpy.zeros(1).block_until_ready()  # the backend starts outside the count
events.clear()
idata = bayesuq.nuts(model, {"y": y}, chains=2, draws=30, warmup=30, seed=3,
                     chain_method="vectorized", progress=False)
count = lambda word: sum(word in e for e in events)
print(json.dumps({
    "model_calls": len(calls),
    "traces": count("jaxpr_trace"),
    "lowerings": count("jaxpr_to_mlir"),
    "compiles": count("backend_compile"),
    "mu": idata.posterior["mu"].values.tolist(),
    "warm_start": idata.attrs["warm_start"],
}))
"""


def _run(env: dict[str, str]) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", CHILD], env=env, capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_second_process_traces_the_model_once_and_lowers_nothing(tmp_path):
    env = {**os.environ, "BAYESUQ_CACHE_DIR": str(tmp_path)}
    first, second = _run(env), _run(env)
    assert first["lowerings"] >= 2 and first["compiles"] >= 2  # init and chunk programs
    assert second["model_calls"] == 1, second  # analyse_model's abstract trace only
    assert second["traces"] == 1, second
    assert second["lowerings"] == 0 and second["compiles"] == 0, second
    np.testing.assert_array_equal(first["mu"], second["mu"])
    stored = sorted(p.name.rsplit("-", 1)[-1] for p in (tmp_path / "bayesuq-programs").iterdir())
    assert stored == ["chunk.xla", "hint.json", "init.xla"]
    # The second process sampled from the stored programs while it traced the model.
    assert second["warm_start"] == "stored programs, confirmed by the model's trace"


GP_CHILD = """
import json
import jax.numpy as jnp, numpy as np, numpyro, numpyro.distributions as dist
import bayesuq

def gp(x, y):
    rho = numpyro.sample("rho", dist.InverseGamma(5.0, 5.0))
    alpha = numpyro.sample("alpha", dist.HalfNormal(1.0))
    sigma = numpyro.sample("sigma", dist.HalfNormal(1.0))
    k = alpha**2 * jnp.exp(-0.5 * (x[:, None] - x[None, :]) ** 2 / rho**2)
    k = k + (sigma**2 + 1e-9) * jnp.eye(x.shape[0])
    numpyro.sample("y", dist.MultivariateNormal(jnp.zeros_like(x), covariance_matrix=k), obs=y)

x = np.linspace(-10.0, 10.0, 11)
y = np.sin(x / 3.0) + 0.1 * np.cos(7.0 * x)
idata = bayesuq.nuts(gp, {"x": x, "y": y}, chains=2, draws=40, warmup=40, seed=5,
                     chain_method="threads", progress=False)
print(json.dumps({"rho": idata.posterior["rho"].values.tolist()}))
"""


def test_a_stored_program_with_lapack_calls_runs_in_a_new_process(tmp_path):
    """A GP (Cholesky: LAPACK custom calls, a program XLA splits for code generation) loaded
    from the cache in a second process: it used to crash (LAPACK pointers not yet resolved,
    segmentation fault) or fail on a kernel missing from a split module."""
    env = {**os.environ, "BAYESUQ_CACHE_DIR": str(tmp_path)}

    def run() -> dict:
        out = subprocess.run(
            [sys.executable, "-c", GP_CHILD], env=env, capture_output=True, text=True
        )
        assert out.returncode == 0, out.stderr[-2000:]
        return json.loads(out.stdout.strip().splitlines()[-1])

    first, second = run(), run()
    np.testing.assert_array_equal(first["rho"], second["rho"])
    # Stored programs gone (a new bayesuq version keys them anew) while JAX's persistent
    # cache still holds the compilations: the executables stored again must load too.
    shutil.rmtree(tmp_path / "bayesuq-programs")
    third, fourth = run(), run()
    np.testing.assert_array_equal(first["rho"], third["rho"])
    np.testing.assert_array_equal(first["rho"], fourth["rho"])
