"""Benchmark ``bayesuq.nuts`` against plain NumPyro and against Stan (through pystan 3).

Every model is sampled by every engine with the same settings (4 chains, 1000 warmup +
1000 draws, target acceptance 0.8, maximum tree depth 10, diagonal mass matrix):

* ``numpyro``: plain ``MCMC(NUTS(model), chain_method="vectorized", progress_bar=False)``
  with no persistent compilation cache;
* ``numpyro + JAX cache``: the same, with JAX's persistent compilation cache switched on
  through ``JAX_COMPILATION_CACHE_DIR`` (what a NumPyro user can do without bayesuq), in a
  first (cold) and a second (warm) process;
* ``bayesuq``: ``bayesuq.nuts(model, data, chain_method="vectorized", progress=False)``
  with ``BAYESUQ_CACHE_DIR`` pointing at an empty directory (cold), then in a second
  process that finds the cache filled (warm);
* ``stan``: ``stan.build(program_code, data=..., random_seed=...)`` then
  ``posterior.sample(...)``, with an empty httpstan cache.

Each row is measured in a fresh Python process started by this script
(``--child MODEL --engine ENGINE``), so that no engine profits from caches, JAX
configuration or warmed-up memory left behind by another; the parent prints the figures
with ratios against plain NumPyro measured in the same run.

Time spent in JAX tracing, lowering and XLA compilation is measured directly, through the
time spans JAX reports to ``jax.monitoring`` listeners (overlapping spans of nested
programs are merged). For plain NumPyro this is how compile and sampling are separated:
a second ``mcmc.run`` on the same ``MCMC`` object does *not* re-use the compiled sampling
loop with jax 0.10 / numpyro 0.22 (it is re-lowered and re-compiled), so "first run minus
second run" would not isolate the compile time; both runs are reported.

Usage
-----
::

    python benchmarks/bench_nuts.py                       # full benchmark, both models
    python benchmarks/bench_nuts.py --quick               # smoke run (2 chains, 300 + 300)
    python benchmarks/bench_nuts.py --models eight_schools --json results/bench.json
    python benchmarks/bench_nuts.py --child eight_schools # one bayesuq measurement
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from _harness import (
    ChildFailed,
    child_environment,
    emit_result,
    fmt,
    load_average,
    machine_description,
    markdown_table,
    min_bulk_ess,
    package_versions,
    run_child,
    safe_ratio,
    start_jax,
    timed,
)

PROCESS_START = time.perf_counter()
ENGINES = ("numpyro", "bayesuq", "stan")
BASELINE = "numpyro"
CHILD_TIMEOUT_S = 3600
REPORTED_PACKAGES = (
    "bayesuq",
    "jax",
    "jaxlib",
    "numpyro",
    "arviz",
    "numpy",
    "pystan",
    "httpstan",
)


# --------------------------------------------------------------------------- settings


@dataclass(frozen=True)
class Settings:
    """Sampler settings shared by every engine.

    Attributes
    ----------
    chains, draws, warmup
        Number of chains, post-warmup draws per chain and warmup iterations per chain.
    seed
        Seed of the first run; refits use ``seed + 1``.
    """

    chains: int = 4
    draws: int = 1000
    warmup: int = 1000
    seed: int = 0


FULL = Settings()
QUICK = Settings(chains=2, draws=300, warmup=300)


# --------------------------------------------------------------------------- models
# Each model is written once in NumPyro and once in the Stan language, with identical
# priors and likelihood. Sizes are taken from array shapes in NumPyro (bayesuq passes all
# data as arrays, so a size passed as a number would be traced) and passed explicitly to
# Stan.


def eight_schools_model() -> Callable[..., None]:
    """The non-centred eight schools model of :mod:`bayesuq.data` (imported lazily).

    ``bayesuq.data.examples`` imports JAX and NumPyro but nothing of ``bayesuq.infer``, so
    importing it does not switch on bayesuq's persistent compilation cache: plain-NumPyro
    children keep the cache configuration their environment gives them.
    """
    from bayesuq.data.examples import eight_schools_noncentered

    return eight_schools_noncentered


EIGHT_SCHOOLS_STAN = """
data {
  int<lower=0> J;
  vector[J] y;
  vector<lower=0>[J] sigma;
}
parameters {
  real mu;
  real<lower=0> tau;
  vector[J] eta;
}
transformed parameters {
  vector[J] theta = mu + tau * eta;
}
model {
  mu ~ normal(0, 5);
  tau ~ cauchy(0, 5);
  eta ~ normal(0, 1);
  y ~ normal(theta, sigma);
}
"""


def eight_schools_data() -> dict[str, np.ndarray]:
    """The eight schools data (Rubin, 1981) from :func:`bayesuq.data.load_eight_schools`.

    Returns
    -------
    dict
        ``y`` and ``sigma`` as float arrays of length 8.
    """
    from bayesuq.data.loaders import load_eight_schools

    frame = load_eight_schools()
    return {k: frame[k].to_numpy(dtype=float) for k in ("y", "sigma")}


def eight_schools_sizes(data: Mapping[str, np.ndarray]) -> dict[str, int]:
    """Stan size declarations of the eight schools data."""
    return {"J": int(data["y"].shape[0])}


def logistic_numpyro(X: Any, y: Any = None) -> None:
    """Logistic regression with N(0, 1) priors on the intercept and coefficients.

    Parameters
    ----------
    X
        Design matrix without an intercept column, shape ``(N, K)``.
    y
        Binary outcomes, shape ``(N,)``; ``None`` to simulate them.
    """
    import numpyro
    import numpyro.distributions as dist

    alpha = numpyro.sample("alpha", dist.Normal(0.0, 1.0))
    with numpyro.plate("coefficient", X.shape[1]):
        beta = numpyro.sample("beta", dist.Normal(0.0, 1.0))
    with numpyro.plate("observation", X.shape[0]):
        numpyro.sample("y", dist.Bernoulli(logits=alpha + X @ beta), obs=y)


LOGISTIC_STAN = """
data {
  int<lower=0> N;
  int<lower=0> K;
  matrix[N, K] X;
  array[N] int<lower=0, upper=1> y;
}
parameters {
  real alpha;
  vector[K] beta;
}
model {
  alpha ~ normal(0, 1);
  beta ~ normal(0, 1);
  y ~ bernoulli_logit(alpha + X * beta);
}
"""


def logistic_data(n: int = 500, p: int = 5, seed: int = 20240601) -> dict[str, np.ndarray]:
    """Simulate logistic regression data from fixed true coefficients.

    Parameters
    ----------
    n, p
        Number of observations and of covariates.
    seed
        Seed of the NumPy generator; fixed so that every engine sees the same data.

    Returns
    -------
    dict
        ``X`` (float, ``(n, p)``) and ``y`` (int 0/1, ``(n,)``).
    """
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, p))
    alpha, beta = -0.5, np.linspace(-1.0, 1.0, p)
    prob = 1.0 / (1.0 + np.exp(-(alpha + X @ beta)))
    y = (rng.uniform(size=n) < prob).astype(np.int32)
    return {"X": X, "y": y}


def logistic_sizes(data: Mapping[str, np.ndarray]) -> dict[str, int]:
    """Stan size declarations of the logistic regression data."""
    n, k = data["X"].shape
    return {"N": int(n), "K": int(k)}


@dataclass(frozen=True)
class BenchModel:
    """One benchmark model in both languages.

    Attributes
    ----------
    name
        Name used on the command line and in the output.
    load_model
        Returns the NumPyro model, called as ``model(**data)`` (imported lazily, in the
        child that samples it).
    stan_code
        The same model in the Stan language.
    make_data
        Builds the data shared by both languages.
    stan_sizes
        Size declarations that Stan needs in addition to the data.
    parameters
        Sampled parameters over which the minimum bulk ESS is taken (same names in both
        languages; deterministic/transformed quantities are left out).
    """

    name: str
    load_model: Callable[[], Callable[..., None]]
    stan_code: str
    make_data: Callable[[], dict[str, np.ndarray]]
    stan_sizes: Callable[[Mapping[str, np.ndarray]], dict[str, int]]
    parameters: tuple[str, ...]


MODELS: dict[str, BenchModel] = {
    "eight_schools": BenchModel(
        name="eight_schools",
        load_model=eight_schools_model,
        stan_code=EIGHT_SCHOOLS_STAN,
        make_data=eight_schools_data,
        stan_sizes=eight_schools_sizes,
        parameters=("mu", "tau", "eta"),
    ),
    "logistic": BenchModel(
        name="logistic",
        load_model=lambda: logistic_numpyro,
        stan_code=LOGISTIC_STAN,
        make_data=logistic_data,
        stan_sizes=logistic_sizes,
        parameters=("alpha", "beta"),
    ),
}


# --------------------------------------------------------------------------- measurement


@dataclass
class Measurement:
    """Timings and efficiency of one engine on one model, all times in seconds.

    Attributes
    ----------
    model, engine, label
        What was measured; ``label`` names the row (e.g. cold or warm cache).
    compile_s
        Time spent before sampling could start: JAX tracing, lowering and XLA compilation
        (or loading from the persistent cache) for the JAX engines; the C++ build of the
        model for Stan.
    sampling_s
        Warmup plus draws.
    total_s
        Wall time from the call to an ``arviz.InferenceData`` in hand.
    min_ess
        Minimum bulk ESS over the model's sampled parameters.
    extra
        Engine-specific figures (refits, cache hits, import time, conversion time).
    """

    model: str
    engine: str
    label: str
    compile_s: float
    sampling_s: float
    total_s: float
    min_ess: float
    extra: dict[str, float | int | str]

    @property
    def other_s(self) -> float:
        """Time to result not attributed to compiling or sampling (conversion, set-up)."""
        return self.total_s - self.compile_s - self.sampling_s

    @property
    def ess_per_sampling_s(self) -> float:
        """Minimum bulk ESS per second of sampling."""
        return safe_ratio(self.min_ess, self.sampling_s)

    @property
    def ess_per_total_s(self) -> float:
        """Minimum bulk ESS per second of total time to result."""
        return safe_ratio(self.min_ess, self.total_s)


def run_numpyro(model: BenchModel, settings: Settings) -> Measurement:
    """Sample with plain NumPyro, twice on the same ``MCMC`` object.

    Compile time is the JAX compile time measured during the first ``mcmc.run``; sampling
    time is the rest of that run. The second run (another key) is reported as a refit.
    Whether JAX's persistent cache is used depends on ``JAX_COMPILATION_CACHE_DIR``.

    Parameters
    ----------
    model
        Benchmark model.
    settings
        Sampler settings.

    Returns
    -------
    Measurement
    """
    import arviz as az
    import jax
    from numpyro.infer import MCMC, NUTS

    data = model.make_data()
    meter = start_jax()
    mcmc = MCMC(
        NUTS(model.load_model(), target_accept_prob=0.8, max_tree_depth=10),
        num_warmup=settings.warmup,
        num_samples=settings.draws,
        num_chains=settings.chains,
        chain_method="vectorized",
        progress_bar=False,
    )

    def sample(seed: int) -> None:
        mcmc.run(jax.random.PRNGKey(seed), **data)
        jax.block_until_ready(mcmc.get_samples(group_by_chain=True))

    first = meter.measure(lambda: sample(settings.seed))
    idata, convert_s = timed(lambda: az.from_numpyro(mcmc, log_likelihood=False))
    min_ess = min_bulk_ess(idata, model.parameters)
    second = meter.measure(lambda: sample(settings.seed + 1))
    return Measurement(
        model=model.name,
        engine="numpyro",
        label="numpyro",
        compile_s=first.compile_s,
        sampling_s=first.wall_s - first.compile_s,
        total_s=first.wall_s + convert_s,
        min_ess=min_ess,
        extra={
            "first_run_s": first.wall_s,
            "second_run_s": second.wall_s,
            "first_minus_second_s": first.wall_s - second.wall_s,
            "convert_s": convert_s,
            "cache_hits": first.cache_hits,
            "refit_compile_s": second.compile_s,
            "refit_sampling_s": second.wall_s - second.compile_s,
            "refit_total_s": second.wall_s,
            "cache_dir": os.environ.get("JAX_COMPILATION_CACHE_DIR", ""),
        },
    )


def check_bayesuq_result(idata: Any, settings: Settings) -> tuple[float, float]:
    """Check the attrs and posterior dims promised by ``bayesuq.nuts``.

    Parameters
    ----------
    idata
        Result of ``bayesuq.nuts``.
    settings
        Settings it was called with.

    Returns
    -------
    (compile_seconds, sampling_seconds)

    Raises
    ------
    RuntimeError
        If an attribute is missing or not a float, or the posterior has the wrong dims.
    """
    attrs = idata.attrs
    for key in ("compile_seconds", "sampling_seconds"):
        if not isinstance(attrs.get(key), float):
            raise RuntimeError(f"bayesuq.nuts result: attrs[{key!r}] = {attrs.get(key)!r}")
    sizes = dict(idata.posterior.sizes)
    expected = {"chain": settings.chains, "draw": settings.draws}
    if {k: sizes.get(k) for k in expected} != expected:
        raise RuntimeError(f"bayesuq.nuts result: posterior sizes {sizes}, expected {expected}")
    return attrs["compile_seconds"], attrs["sampling_seconds"]


def run_bayesuq(model: BenchModel, settings: Settings) -> Measurement:
    """Sample with ``bayesuq.nuts`` in this process, then refit with another seed.

    Compile and sampling times are bayesuq's own ``attrs``; the JAX compile time measured
    around the whole call is kept in ``extra`` as a cross-check. The persistent cache is
    whatever ``BAYESUQ_CACHE_DIR`` points to.

    Parameters
    ----------
    model
        Benchmark model.
    settings
        Sampler settings.

    Returns
    -------
    Measurement
    """
    _, import_s = timed(lambda: __import__("bayesuq"))
    import bayesuq

    data = model.make_data()
    numpyro_model = model.load_model()
    meter = start_jax()

    def fit(seed: int) -> Any:
        return bayesuq.nuts(
            numpyro_model,
            data,
            chains=settings.chains,
            draws=settings.draws,
            warmup=settings.warmup,
            seed=seed,
            target_accept=0.8,
            max_tree_depth=10,
            chain_method="vectorized",
            progress=False,
        )

    first = meter.measure(lambda: fit(settings.seed))
    compile_s, sampling_s = check_bayesuq_result(first.result, settings)
    refit = meter.measure(lambda: fit(settings.seed + 1))
    refit_compile_s, refit_sampling_s = check_bayesuq_result(refit.result, settings)
    return Measurement(
        model=model.name,
        engine="bayesuq",
        label="bayesuq",
        compile_s=compile_s,
        sampling_s=sampling_s,
        total_s=first.wall_s,
        min_ess=min_bulk_ess(first.result, model.parameters),
        extra={
            "import_s": import_s,
            "jax_compile_in_call_s": first.compile_s,
            "cache_hits": first.cache_hits,
            "refit_compile_s": refit_compile_s,
            "refit_sampling_s": refit_sampling_s,
            "refit_total_s": refit.wall_s,
            "refit_jax_compile_in_call_s": refit.compile_s,
            "cache_dir": os.environ.get("BAYESUQ_CACHE_DIR", ""),
        },
    )


def run_stan(model: BenchModel, settings: Settings) -> Measurement:
    """Build and sample the Stan version of the model with pystan 3.

    httpstan keeps built models (and fits) under ``$XDG_CACHE_HOME/httpstan``; the parent
    points ``XDG_CACHE_HOME`` at an empty directory, so the first build compiles the C++
    model. A second ``stan.build`` of the same program measures a build from that cache.

    Parameters
    ----------
    model
        Benchmark model.
    settings
        Sampler settings.

    Returns
    -------
    Measurement
    """
    import arviz as az
    import stan

    data = model.make_data()
    stan_data = {**model.stan_sizes(data), **data}

    def build() -> Any:
        # pystan documents random_seed as a positive integer, hence the + 1.
        return stan.build(model.stan_code, data=stan_data, random_seed=settings.seed + 1)

    posterior, build_s = timed(build)
    fit, sample_s = timed(
        lambda: posterior.sample(
            num_chains=settings.chains,
            num_samples=settings.draws,
            num_warmup=settings.warmup,
            delta=0.8,
            max_depth=10,
        )
    )
    idata, convert_s = timed(lambda: az.from_pystan(posterior=fit, posterior_model=posterior))
    _, cached_build_s = timed(build)
    return Measurement(
        model=model.name,
        engine="stan",
        label="stan",
        compile_s=build_s,
        sampling_s=sample_s,
        total_s=build_s + sample_s + convert_s,
        min_ess=min_bulk_ess(idata, model.parameters),
        extra={"convert_s": convert_s, "cached_build_s": cached_build_s},
    )


RUNNERS: dict[str, Callable[[BenchModel, Settings], Measurement]] = {
    "numpyro": run_numpyro,
    "bayesuq": run_bayesuq,
    "stan": run_stan,
}


def child_main(model_name: str, engine: str, settings: Settings) -> None:
    """Measure one engine on one model and print the result as a marked JSON line."""
    measurement = RUNNERS[engine](MODELS[model_name], settings)
    measurement.extra["process_s"] = time.perf_counter() - PROCESS_START
    emit_result(asdict(measurement))


# --------------------------------------------------------------------------- parent


@dataclass(frozen=True)
class PlannedRun:
    """One row of the benchmark: an engine, its row label and its environment."""

    engine: str
    label: str
    env: Mapping[str, str]


def settings_args(settings: Settings) -> list[str]:
    """Command-line arguments that reproduce ``settings`` in a child process."""
    return [
        "--chains",
        str(settings.chains),
        "--draws",
        str(settings.draws),
        "--warmup",
        str(settings.warmup),
        "--seed",
        str(settings.seed),
    ]


def spawn_child(model: str, run: PlannedRun, settings: Settings) -> Measurement:
    """Run one measurement in a fresh Python process.

    Parameters
    ----------
    model
        Model name.
    run
        Engine, label and environment of the child.
    settings
        Sampler settings, passed on the command line.

    Returns
    -------
    Measurement

    Raises
    ------
    ChildFailed
        With the tail of the child's output, if it failed.
    """
    argv = [str(Path(__file__).resolve()), "--child", model]
    argv += ["--engine", run.engine, *settings_args(settings)]
    result = run_child(argv, env=child_environment(run.env), timeout=CHILD_TIMEOUT_S)
    measurement = Measurement(**result)
    measurement.label = run.label
    return measurement


def stan_unavailable_reason() -> str | None:
    """Why Stan cannot be benchmarked with this interpreter, or ``None`` if it can."""
    if importlib.util.find_spec("stan") is None:
        return f"pystan is not installed in {sys.executable} (pip install pystan)"
    return None


def plan_runs(model: str, workdir: Path) -> list[PlannedRun]:
    """The rows measured for one model, each with its own fresh cache directories.

    Parameters
    ----------
    model
        Model name (used in the cache directory names).
    workdir
        Temporary directory that holds the caches.

    Returns
    -------
    list of PlannedRun
    """
    jax_cache = {
        "JAX_COMPILATION_CACHE_DIR": str(workdir / f"jax-cache-{model}"),
        # bayesuq's thresholds, so that both cache the same programs
        "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0.2",
        "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES": "0",
    }
    bayesuq_cache = {"BAYESUQ_CACHE_DIR": str(workdir / f"bayesuq-cache-{model}")}
    runs = [
        PlannedRun("numpyro", BASELINE, {}),
        PlannedRun("numpyro", "numpyro + JAX cache (cold)", jax_cache),
        PlannedRun("numpyro", "numpyro + JAX cache (warm)", jax_cache),
        PlannedRun("bayesuq", "bayesuq (cold)", bayesuq_cache),
        PlannedRun("bayesuq", "bayesuq (warm)", bayesuq_cache),
    ]
    if stan_unavailable_reason() is None:
        stan_env = {"XDG_CACHE_HOME": str(workdir / f"xdg-cache-{model}")}
        runs.append(PlannedRun("stan", "stan", stan_env))
    return runs


def measure_model(
    model: str, settings: Settings, workdir: Path, log: Callable[[str], None]
) -> tuple[list[Measurement], list[str]]:
    """Run every planned row of one model, each in its own process, in order.

    A failed row is logged and left out, so that one failure does not throw away the
    other measurements; the caller decides the exit status.

    Parameters
    ----------
    model
        Model name.
    settings
        Sampler settings.
    workdir
        Temporary directory for the per-model caches.
    log
        Progress printer.

    Returns
    -------
    (measurements, failures)
        ``failures`` holds one message per failed row other than Stan (Stan is optional
        and its failures are only logged).
    """
    results, failures = [], []
    for run in plan_runs(model, workdir):
        log(f"[{model}] {run.label}: running in a fresh process ...")
        try:
            results.append(measure_with_retry(model, run, settings, log))
        except (ChildFailed, subprocess.TimeoutExpired) as err:
            if run.engine == "stan":
                log(f"[{model}] Stan skipped: {err}")
            else:
                log(f"[{model}] {run.label} FAILED: {err}")
                failures.append(f"{model} / {run.label}: {err}")
    return results, failures


def measure_with_retry(
    model: str, run: PlannedRun, settings: Settings, log: Callable[[str], None]
) -> Measurement:
    """:func:`spawn_child`, with one retry for Stan, whose builds occasionally fail.

    httpstan sometimes answers a build request with a malformed error reply (seen once in
    several runs on a loaded machine; the same build succeeded when repeated). The retry
    uses a fresh httpstan cache, so that it is a cold build too.

    Raises
    ------
    ChildFailed, subprocess.TimeoutExpired
        When the last attempt failed.
    """
    attempts = 2 if run.engine == "stan" else 1
    for attempt in range(1, attempts):
        try:
            return spawn_child(model, run, settings)
        except (ChildFailed, subprocess.TimeoutExpired) as err:
            log(f"[{model}] {run.label} attempt {attempt} failed, retrying: {err}")
            fresh = f"{run.env['XDG_CACHE_HOME']}-attempt{attempt + 1}"
            run = PlannedRun(run.engine, run.label, {**run.env, "XDG_CACHE_HOME": fresh})
    return spawn_child(model, run, settings)


# --------------------------------------------------------------------------- reporting


def results_table(results: Sequence[Measurement]) -> str:
    """Absolute figures: one row per (model, engine)."""
    headers = [
        "model",
        "engine",
        "compile [s]",
        "sampling [s]",
        "other [s]",
        "total [s]",
        "min bulk ESS",
        "ESS/s sampling",
        "ESS/s total",
    ]
    rows = [
        [
            m.model,
            m.label,
            fmt(m.compile_s),
            fmt(m.sampling_s),
            fmt(m.other_s),
            fmt(m.total_s),
            fmt(m.min_ess, 0),
            fmt(m.ess_per_sampling_s, 1),
            fmt(m.ess_per_total_s, 1),
        ]
        for m in results
    ]
    return markdown_table(headers, rows)


def ratio_rows(results: Sequence[Measurement]) -> list[dict[str, Any]]:
    """Ratios of every row against plain NumPyro on the same model, same run.

    All ratios are ``row / numpyro``: for times, below 1 means faster than NumPyro; for
    ESS per second, above 1 means more efficient than NumPyro.
    """
    baseline = {m.model: m for m in results if m.label == BASELINE}
    rows = []
    for m in results:
        base = baseline.get(m.model)
        if base is None or m is base:
            continue
        rows.append(
            {
                "model": m.model,
                "engine": m.label,
                "compile": safe_ratio(m.compile_s, base.compile_s),
                "sampling": safe_ratio(m.sampling_s, base.sampling_s),
                "total": safe_ratio(m.total_s, base.total_s),
                "ess_per_sampling_s": safe_ratio(m.ess_per_sampling_s, base.ess_per_sampling_s),
                "ess_per_total_s": safe_ratio(m.ess_per_total_s, base.ess_per_total_s),
            }
        )
    return rows


def ratios_table(rows: Sequence[Mapping[str, Any]]) -> str:
    """Render :func:`ratio_rows` as a table."""
    headers = [
        "model",
        "engine",
        "compile ratio",
        "sampling ratio",
        "total ratio",
        "ESS/s sampling ratio",
        "ESS/s total ratio",
    ]
    keys = ("compile", "sampling", "total", "ess_per_sampling_s", "ess_per_total_s")
    body = [[r["model"], r["engine"], *(fmt(r[k]) for k in keys)] for r in rows]
    return markdown_table(headers, body)


def cache_rows(model: str, by_label: Mapping[str, Measurement]) -> list[list[str]]:
    """Rows of :func:`cache_table` for one model (engines that were not run are left out)."""
    rows = []
    plain = by_label.get(BASELINE)
    if plain:
        refit = plain.extra["refit_compile_s"]
        rows.append([model, "numpyro, no persistent cache", fmt(plain.compile_s), "n/a", "n/a"])
        rows[-1].append(fmt(refit))
    for name, prefix in (("numpyro + JAX cache", "numpyro + JAX cache"), ("bayesuq", "bayesuq")):
        cold, warm = by_label.get(f"{prefix} (cold)"), by_label.get(f"{prefix} (warm)")
        if cold and warm:
            rows.append(
                [
                    model,
                    name,
                    fmt(cold.compile_s),
                    fmt(warm.compile_s),
                    str(warm.extra["cache_hits"]),
                    fmt(cold.extra["refit_compile_s"]),
                ]
            )
    stan = by_label.get("stan")
    if stan:
        cached = fmt(stan.extra["cached_build_s"])
        rows.append([model, "stan (httpstan cache)", fmt(stan.compile_s), cached, "n/a", "n/a"])
    return rows


def cache_table(results: Sequence[Measurement]) -> str:
    """Time before sampling in a first and a second process, and on an in-process refit."""
    headers = [
        "model",
        "engine",
        "compile, 1st process [s]",
        "compile, 2nd process [s]",
        "cache hits, 2nd process",
        "compile, refit in same process [s]",
    ]
    rows = []
    for model in dict.fromkeys(m.model for m in results):
        rows += cache_rows(model, {m.label: m for m in results if m.model == model})
    return markdown_table(headers, rows)


def bayesuq_check_table(results: Sequence[Measurement]) -> str:
    """bayesuq's own timings next to the JAX compile time measured around its call."""
    headers = [
        "model",
        "engine",
        "attrs compile_seconds",
        "JAX compile during call [s]",
        "attrs sampling_seconds",
        "wall time of call [s]",
        "import bayesuq [s]",
    ]
    rows = [
        [
            m.model,
            m.label,
            fmt(m.compile_s),
            fmt(m.extra["jax_compile_in_call_s"]),
            fmt(m.sampling_s),
            fmt(m.total_s),
            fmt(m.extra["import_s"]),
        ]
        for m in results
        if m.engine == "bayesuq"
    ]
    return markdown_table(headers, rows)


EXPLANATION = """\
How to read this:
* compile  = time before sampling can start, JAX engines: wall time JAX spent tracing,
  lowering and XLA-compiling (or loading from the persistent cache), from jax.monitoring
  time spans; for bayesuq its attrs["compile_seconds"] (ahead-of-time build of its two
  programs). stan: the stan.build call (stanc + C++ compilation, empty httpstan cache).
* sampling = warmup + draws. numpyro: the first mcmc.run minus its compile time.
  bayesuq: attrs["sampling_seconds"]. stan: posterior.sample().
* total    = wall time from the call until an arviz.InferenceData is in hand (numpyro:
  mcmc.run + az.from_numpyro; stan: build + sample + az.from_pystan). other = total -
  compile - sampling. Python imports are excluded everywhere.
* min bulk ESS = min over the sampled parameters of arviz.ess(method="bulk").
* ratios are row / numpyro from this same run: for times below 1 is faster, for ESS/s
  above 1 is more efficient.
* refit = a second call in the same process with another seed (numpyro: a second mcmc.run
  on the same MCMC object; bayesuq: a second bayesuq.nuts call). Stan's "2nd process"
  figure is a second stan.build served from httpstan's on-disk cache.
* Every row ran in its own fresh process, once: expect run-to-run noise of 10% or more."""


def print_report(results: Sequence[Measurement], settings: Settings) -> list[dict[str, Any]]:
    """Print every table and the explanation; return the ratio rows."""
    ratios = ratio_rows(results)
    sections = [
        ("Absolute figures (seconds; ESS per second)", results_table(results)),
        ("Ratios against plain NumPyro in this run (row / numpyro)", ratios_table(ratios)),
        (
            "Compilation caches: time before sampling in a first and a second process, and "
            "when refitting in the same process",
            cache_table(results),
        ),
        (
            "bayesuq cross-check: its attrs against JAX's own compile-time reports",
            bayesuq_check_table(results),
        ),
    ]
    print()
    print(f"Settings: {asdict(settings)}, target_accept=0.8, max_tree_depth=10, diagonal mass")
    print(f"Machine: {machine_description()}")
    print(f"Versions: {package_versions(REPORTED_PACKAGES)}")
    print(f"Load average (1, 5, 15 min) at the end: {load_average()}")
    for title, table in sections:
        print(f"\n{title}\n{table}")
    print(f"\n{EXPLANATION}")
    return ratios


def figures_json(
    results: Sequence[Measurement], ratios: Sequence[Mapping[str, Any]], settings: Settings
) -> dict[str, Any]:
    """Everything printed, as a JSON-serialisable dict."""
    return {
        "command": " ".join(["python", *sys.argv]),
        "settings": asdict(settings),
        "machine": machine_description(),
        "versions": package_versions(REPORTED_PACKAGES),
        "results": [
            {
                **asdict(m),
                "other_s": m.other_s,
                "ess_per_sampling_s": m.ess_per_sampling_s,
                "ess_per_total_s": m.ess_per_total_s,
            }
            for m in results
        ],
        "ratios_vs_numpyro": list(ratios),
    }


# --------------------------------------------------------------------------- CLI


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", choices=sorted(MODELS), default=list(MODELS))
    parser.add_argument("--quick", action="store_true", help="2 chains, 300 warmup + 300 draws")
    parser.add_argument("--json", type=Path, help="also save the figures to this JSON file")
    parser.add_argument(
        "--child", choices=sorted(MODELS), help="measure one model in this process and exit"
    )
    parser.add_argument(
        "--engine", choices=ENGINES, default="bayesuq", help="engine for --child (bayesuq)"
    )
    for name in ("chains", "draws", "warmup", "seed"):
        parser.add_argument(f"--{name}", type=int, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def settings_from(args: argparse.Namespace) -> Settings:
    """Settings chosen by ``--quick`` and the hidden per-field overrides used by children."""
    base = asdict(QUICK if args.quick else FULL)
    overrides = {k: getattr(args, k) for k in base if getattr(args, k) is not None}
    return Settings(**{**base, **overrides})


def run_benchmark(args: argparse.Namespace, settings: Settings) -> int:
    """Measure every model, print the report and optionally save it as JSON.

    Returns
    -------
    int
        Exit status: 1 if a row other than Stan failed, else 0.
    """

    def log(message: str) -> None:
        print(message, flush=True)

    skip_reason = stan_unavailable_reason()
    if skip_reason:
        log(f"Stan skipped: {skip_reason}")
    log(f"Load average (1, 5, 15 min) at the start: {load_average()}")
    started = time.perf_counter()
    results: list[Measurement] = []
    failures: list[str] = []
    with tempfile.TemporaryDirectory(prefix="bench-nuts-") as tmp:
        for model in args.models:
            measured, failed = measure_model(model, settings, Path(tmp), log)
            results += measured
            failures += failed
    ratios = print_report(results, settings)
    print(f"\nBenchmark wall time: {time.perf_counter() - started:.0f} s")
    if args.json:
        figures = figures_json(results, ratios, settings)
        figures["failures"] = failures
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=2))
        print(f"Figures saved to {args.json}")
    if failures:
        print(f"\n{len(failures)} row(s) FAILED and are missing above:")
        print("\n\n".join(failures))
        return 1
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: run the benchmark, or one measurement with ``--child``."""
    args = parse_args(argv)
    settings = settings_from(args)
    if args.child:
        child_main(args.child, args.engine, settings)
        return 0
    return run_benchmark(args, settings)


if __name__ == "__main__":
    sys.exit(main())
