"""The on-disk traced-program cache: same results from a second process, model-sensitive keys."""

from __future__ import annotations

import os
import subprocess
import sys

import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist

import bayesuq
from bayesuq.infer import programs
from bayesuq.infer.data import prepare_data
from bayesuq.infer.kernels import NutsKernel
from bayesuq.infer.loop import chunk_length
from bayesuq.infer.sites import analyse_model

CHILD = """
import numpy as np, numpyro, numpyro.distributions as dist, bayesuq
def model(y):
    mu = numpyro.sample("mu", dist.Normal(0.0, 3.0))
    with numpyro.plate("obs", y.shape[0]):
        numpyro.sample("y", dist.Normal(mu, 1.0), obs=y)
idata = bayesuq.nuts(model, {"y": np.arange(5.0)}, chains=2, draws=50, warmup=50, seed=3,
                     chain_method="vectorized", progress=False)
print(repr(idata.posterior["mu"].values.tolist()), idata.attrs["warm_start"])
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
    stored = sorted(p.name.split("-")[-1] for p in (tmp_path / "bayesuq-programs").iterdir())
    assert stored == ["chunk.xla", "hint.json", "init.xla"]
    (first, first_warm), (second, second_warm) = (r.strip().rsplit("]", 1) for r in runs)
    assert first == second  # the same draws
    assert first_warm.strip() == "none"
    assert second_warm.strip() == "stored programs, confirmed by the model's trace"


def _key(model, data):
    prepared = prepare_data(model, data)
    config = programs.SamplerConfig(NutsKernel(), 2, 10, 10, "vectorized", chunk_length(20))
    layout = programs.ChainLayout(2, "vectorized")
    return programs._disk_key(analyse_model(model, prepared), prepared, config, layout)


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


def test_in_process_cache_keys_on_content_not_the_function_object(program_store):
    """Two closures of the same model share programs; a changed model gets new ones."""
    options = dict(chains=2, draws=50, warmup=100, progress=False, chain_method="vectorized")
    y = {"y": np.array([0.3, -0.2, 1.1])}
    before = programs.PROGRAMS.compiles
    bayesuq.nuts(_normal_model(1.5), y, seed=1, **options)
    bayesuq.nuts(_normal_model(1.5), y, seed=2, **options)
    assert programs.PROGRAMS.compiles == before + 1
    bayesuq.nuts(_normal_model(2.5), y, seed=1, **options)
    assert programs.PROGRAMS.compiles == before + 2


def test_a_first_fit_traces_the_model_four_times(program_store):
    """One abstract trace (sites, z, fingerprint), one in init, two in the chunk program.

    Before the layered engine (0.1.0) a first fit traced this model 11 times.
    """
    calls = []

    def counted(y):
        calls.append(1)
        mu = numpyro.sample("mu", dist.Normal(0.0, 3.0))
        tau = numpyro.sample("tau", dist.HalfNormal(1.0))
        with numpyro.plate("obs", y.shape[0]):
            numpyro.sample("y", dist.Normal(mu, tau), obs=y)
        numpyro.deterministic("twice_mu", 2 * mu)
        numpyro.factor("soft_bound", -0.5 * tau**2)  # a factor needs no concrete trace

    options = dict(chains=2, draws=10, warmup=10, progress=False, chain_method="vectorized")
    data = {"y": np.arange(7.0)}
    programs.PROGRAMS.clear()
    bayesuq.nuts(counted, data, seed=0, **options)
    assert len(calls) == 4
    calls.clear()
    bayesuq.nuts(counted, data, seed=1, **options)  # in-process cache hit
    assert len(calls) == 1


def test_stored_programs_carry_no_source_locations(program_store):
    """Stored executables are compiled without JAX's name stacks and Python source lines.

    They were a fifth of a stored NUTS program, parsed again by every process that loads
    it. Fails if a JAX release changes the lowering so that they are no longer stripped.
    """

    def located(y):
        mu = numpyro.sample("mu", dist.Normal(0.0, 3.0))
        with numpyro.plate("obs", y.shape[0]):
            numpyro.sample("y", dist.Normal(mu, 1.0), obs=y)

    programs.PROGRAMS.clear()
    options = dict(chains=2, draws=10, warmup=10, progress=False, chain_method="vectorized")
    bayesuq.nuts(located, {"y": np.arange(4.0)}, seed=0, **options)
    stored = sorted(program_store.glob("*.xla"))
    assert [p.name.split("-")[-1] for p in stored] == ["chunk.xla", "init.xla"]
    for path in stored:
        payload = path.read_bytes()
        assert b"/while/body/" not in payload  # name stacks of the loop bodies
        assert os.path.basename(__file__).encode() not in payload  # the model's source file


def test_observed_values_computed_in_the_model_come_from_the_traced_program():
    """``obs=`` of an expression: the value is evaluated with the abstract trace's program,
    one compiled call and no eager run of the model; a value that depends on parameters
    (residuals of a recursion) is that program's, at the trace's starting point."""

    def transformed(y):
        mu = numpyro.sample("mu", dist.Normal(0.0, 1.0))
        numpyro.sample("log_y", dist.Normal(mu, 1.0), obs=jnp.log(y))
        numpyro.sample("residual", dist.Normal(0.0, 1.0), obs=y - mu)

    y = np.array([0.5, 1.0, 2.0])
    analysis = analyse_model(transformed, prepare_data(transformed, {"y": y}))
    observed = analysis.sites.observed
    np.testing.assert_allclose(observed["log_y"], np.log(y), rtol=1e-6)
    # mu at the trace's start is one value in the uniform(-2, 2) box: y - residual is constant
    offsets = y - observed["residual"]
    assert np.ptp(offsets) < 1e-6 and abs(offsets[0]) <= 2.0
