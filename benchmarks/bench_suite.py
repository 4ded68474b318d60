"""The standard suite: bayesuq against Stan and nutpie on posteriordb posteriors.

For every posterior of :mod:`posteriors` (NumPyro translations of posteriordb's Stan
programs; data and reference draws read from a posteriordb checkout) each engine samples 4
chains x (1000 warm-up + 1000 draws), target acceptance 0.8, maximum tree depth 10,
diagonal mass matrix, in its own fresh process:

* ``stan``: pystan 3, ``stan.build`` with an empty httpstan cache (cold), then
  ``posterior.sample``; a second ``stan.build`` gives the cached ("warm") build time;
* ``bayesuq cold`` / ``bayesuq warm``: ``bayesuq.nuts`` with ``BAYESUQ_CACHE_DIR`` empty,
  then in a second process with the cache the first one filled;
* ``fisher cold`` / ``fisher warm``: the same with ``adaptation="fisher"``;
* ``nutpie``: nutpie (its Python-function interface, the route of its JAX backend) on the
  model's log density and gradient, ``jax.jit``-compiled;
* ``before cold`` / ``before warm``: ``bayesuq.nuts`` of another source tree (``--before``,
  e.g. the commit before the layered engine).

Figures per row: time before sampling (build/compile/load), sampling, time to result
(call to ``InferenceData``, imports excluded), minimum bulk ESS over the reference
quantities, ESS per second of sampling and of time to result, ESS per gradient (leapfrog
steps of the kept draws), and a correctness check: every posterior mean within 0.3
reference standard deviations of the reference mean. Ratios are to Stan's row of the same
run. JAX engines run in float64 (``--precision``), like Stan.

Results are appended to a JSON file as rows finish (``--results``); rows already there are
not measured again (``--fresh`` to re-measure), so a run can be continued or extended.
``--write-docs`` regenerates the marked section of ``docs/benchmarks.md``.

Usage::

    python benchmarks/bench_suite.py --posteriordb /tmp/posteriordb --before /work/wt/before
    python benchmarks/bench_suite.py --posteriordb PATH --posteriors arK-arK --engines stan bayesuq
    python benchmarks/bench_suite.py --report-only --write-docs docs/benchmarks.md
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import posteriors as suite
from _harness import (
    ChildFailed,
    child_environment,
    describe_machine,
    emit_result,
    fmt,
    geometric_mean,
    load_average,
    machine_description,
    markdown_table,
    package_versions,
    replace_marked_section,
    run_child,
    safe_ratio,
    start_jax,
    timed,
)

PROCESS_START = time.perf_counter()
ROWS = (
    "stan",
    "bayesuq cold",
    "bayesuq warm",
    "fisher cold",
    "fisher warm",
    "nutpie",
    "before cold",
    "before warm",
)
ENGINES = ("stan", "bayesuq", "fisher", "nutpie", "before")
CHILD_TIMEOUT_S = 3600
DOCS_SECTION = "suite"


@dataclass(frozen=True)
class Settings:
    """Sampler settings shared by every engine."""

    chains: int = 4
    warmup: int = 1000
    draws: int = 1000
    seed: int = 1
    precision: str = "float64"


# --------------------------------------------------------------------------- children


def _reference(root: str, name: str) -> dict[str, np.ndarray]:
    return suite.reference_draws(root, name)


def _summary(posterior: Mapping[str, np.ndarray], root: str, name: str) -> dict[str, Any]:
    """Min bulk ESS and correctness over the reference quantities of ``name``."""
    import arviz as az

    reference = _reference(root, name)
    draws = suite.quantity_draws(posterior, list(reference))
    ess = {q: float(az.ess(np.asarray(d, float), method="bulk")) for q, d in draws.items()}
    worst_ess = min(ess, key=ess.get)
    return {
        "min_ess": ess[worst_ess],
        "min_ess_quantity": worst_ess,
        "correctness": suite.correctness(draws, reference),
    }


def _jax_setup(precision: str) -> None:
    import jax

    jax.config.update("jax_enable_x64", precision == "float64")


def child_bayesuq(args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    """``bayesuq.nuts`` on one posterior (optionally from another source tree)."""
    if args.source:  # another bayesuq: take it before the installed (editable) one
        sys.meta_path[:] = [f for f in sys.meta_path if "__editable__" not in repr(f)]
        sys.path.insert(0, args.source)
    posterior = suite.SUITE[args.child]
    data = posterior.prepare(suite.stan_data(args.posteriordb, args.child))
    _, import_s = timed(lambda: __import__("bayesuq"))
    import bayesuq

    # What the first call would import (the engine, ArviZ for the result): timed apart,
    # like every engine's imports, so that time to result starts at the call.
    _, engine_import_s = timed(lambda: (bayesuq.nuts, __import__("arviz")))
    _jax_setup(settings.precision)
    meter = start_jax()
    options = {"adaptation": args.adaptation} if args.adaptation != "stan" else {}
    run = meter.measure(
        lambda: bayesuq.nuts(
            posterior.model,
            data,
            chains=settings.chains,
            warmup=settings.warmup,
            draws=settings.draws,
            seed=settings.seed,
            progress=False,  # chain_method: the default, what a user gets
            **options,
        )
    )
    idata = run.result
    attrs = idata.attrs
    posterior_arrays = {k: v.values for k, v in idata.posterior.data_vars.items()}
    setup_s = float(attrs.get("setup_seconds", 0.0))
    return {
        "compile_s": float(attrs["compile_seconds"]),
        "chain_method": str(attrs.get("chain_method", "")),
        "ready_s": setup_s + float(attrs["compile_seconds"]),
        "sampling_s": float(attrs["sampling_seconds"]),
        "total_s": run.wall_s,
        "grads": int(idata.sample_stats["n_steps"].values.sum()),
        "divergences": int(idata.sample_stats["diverging"].values.sum()),
        "import_s": import_s,
        "engine_import_s": engine_import_s,
        "traces": run.traces,
        "lowerings": run.lowerings,
        "compiles": run.compiles,
        "cache_hits": run.cache_hits,
        "jax_compile_s": run.compile_s,
        **_summary(posterior_arrays, args.posteriordb, args.child),
    }


def child_stan(args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    """pystan 3: a cold build (the parent empties httpstan's cache), sampling, a cached build."""
    _, import_s = timed(lambda: __import__("stan"))
    # What the result needs (az.from_pystan), timed like bayesuq's first-call imports.
    _, engine_import_s = timed(lambda: __import__("arviz"))
    import aiohttp.client
    import arviz as az
    import stan

    # pystan talks to httpstan through aiohttp, whose default 5-minute limit a C++ build
    # on a busy machine can exceed: wait as long as the child may run.
    aiohttp.client.DEFAULT_TIMEOUT = aiohttp.client.ClientTimeout(total=CHILD_TIMEOUT_S)

    code = suite.stan_code(args.posteriordb, args.child)
    data = suite.stan_data(args.posteriordb, args.child)

    def build() -> Any:
        return stan.build(code, data=data, random_seed=settings.seed)

    model, build_s = timed(build)
    fit, sample_s = timed(
        lambda: model.sample(
            num_chains=settings.chains,
            num_samples=settings.draws,
            num_warmup=settings.warmup,
            delta=0.8,
            max_depth=10,
        )
    )
    idata, convert_s = timed(lambda: az.from_pystan(posterior=fit, posterior_model=model))
    _, cached_build_s = timed(build)
    posterior_arrays = {k: v.values for k, v in idata.posterior.data_vars.items()}
    return {
        "compile_s": build_s,
        "ready_s": build_s,
        "sampling_s": sample_s,
        "total_s": build_s + sample_s + convert_s,
        "warm_total_s": cached_build_s + sample_s + convert_s,
        "cached_build_s": cached_build_s,
        "grads": int(idata.sample_stats["n_steps"].values.sum()),
        "divergences": int(idata.sample_stats["diverging"].values.sum()),
        "import_s": import_s,
        "engine_import_s": engine_import_s,
        **_summary(posterior_arrays, args.posteriordb, args.child),
    }


def child_nutpie(args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    """nutpie on the model's unconstrained log density, ``jax.jit``-compiled, in float64."""
    _, import_s = timed(lambda: __import__("nutpie"))
    import nutpie
    from nutpie.compiled_pyfunc import from_pyfunc

    _jax_setup("float64")  # nutpie's Rust side works in float64
    import jax
    from jax.flatten_util import ravel_pytree
    from numpyro.infer.util import constrain_fn, initialize_model, potential_energy

    posterior = suite.SUITE[args.child]
    data = posterior.prepare(suite.stan_data(args.posteriordb, args.child))

    def setup() -> Any:
        info = initialize_model(jax.random.PRNGKey(0), posterior.model, model_kwargs=data)
        flat, unravel = ravel_pytree(info.param_info.z)

        @jax.jit
        def logp_and_grad(x):
            return jax.value_and_grad(
                lambda v: -potential_energy(posterior.model, (), data, unravel(v))
            )(x)

        @jax.jit
        def expand(x):
            return constrain_fn(posterior.model, (), data, unravel(x), return_deterministic=True)

        example = jax.device_get(expand(flat))
        logp_and_grad(flat)  # compile before sampling, as the other engines do
        names = sorted(example)

        def make_logp():
            def logp(x, **_):
                value, grad = logp_and_grad(x)
                return float(value), np.asarray(grad, dtype="float64", order="C")

            return logp

        def make_expand(seed1, seed2, chain):
            def expand_draw(x, **_):
                values = jax.device_get(expand(x))
                return {n: np.asarray(values[n], dtype="float64", order="C") for n in names}

            return expand_draw

        def initial_point(seed):
            return np.random.default_rng(seed).uniform(-2.0, 2.0, flat.shape[0])

        return from_pyfunc(
            ndim=flat.shape[0],
            make_logp_fn=make_logp,
            make_expand_fn=make_expand,
            expanded_dtypes=[np.dtype("float64")] * len(names),
            expanded_shapes=[np.shape(example[n]) for n in names],
            expanded_names=names,
            make_initial_point_fn=initial_point,
        )

    compiled, setup_s = timed(setup)
    idata, sample_s = timed(
        lambda: nutpie.sample(
            compiled,
            draws=settings.draws,
            tune=settings.warmup,
            chains=settings.chains,
            seed=settings.seed,
            save_warmup=False,
            progress_bar=False,
            target_accept=0.8,
            maxdepth=10,
        )
    )
    posterior_arrays = {k: v.values for k, v in idata.posterior.data_vars.items()}
    return {
        "compile_s": setup_s,
        "ready_s": setup_s,
        "sampling_s": sample_s,
        "total_s": setup_s + sample_s,
        "grads": int(idata.sample_stats["n_steps"].values.sum()),
        "divergences": int(idata.sample_stats["diverging"].values.sum()),
        "import_s": import_s,
        **_summary(posterior_arrays, args.posteriordb, args.child),
    }


def child_main(args: argparse.Namespace, settings: Settings) -> None:
    """Measure one engine on one posterior and print the marked result line."""
    runners: dict[str, Callable[[argparse.Namespace, Settings], dict[str, Any]]] = {
        "stan": child_stan,
        "nutpie": child_nutpie,
        "bayesuq": child_bayesuq,
    }
    result = runners[args.engine](args, settings)
    result["process_s"] = time.perf_counter() - PROCESS_START
    emit_result(result)


# --------------------------------------------------------------------------- parent


@dataclass(frozen=True)
class PlannedRow:
    """One measurement: the row label, the child's engine and options, its environment."""

    row: str
    engine: str
    options: tuple[str, ...]
    env: Mapping[str, str]


def plan(name: str, engines: Sequence[str], args: argparse.Namespace, workdir: Path):
    """The rows of one posterior, cold before warm, each with its own cache directories."""
    key = name.replace("/", "_")
    rows = []
    if "stan" in engines:
        rows.append(PlannedRow("stan", "stan", (), {"XDG_CACHE_HOME": str(workdir / f"x-{key}")}))
    for engine, options in (
        ("bayesuq", ()),
        ("fisher", ("--adaptation", "fisher")),
        ("before", ("--source", str(args.before))),
    ):
        if engine not in engines or (engine == "before" and not args.before):
            continue
        env = {"BAYESUQ_CACHE_DIR": str(workdir / f"{engine}-{key}")}
        for phase in ("cold", "warm"):
            rows.append(PlannedRow(f"{engine} {phase}", "bayesuq", options, env))
    if "nutpie" in engines:
        rows.append(PlannedRow("nutpie", "nutpie", (), {}))
    return rows


def settings_args(settings: Settings) -> list[str]:
    """Command-line arguments that reproduce ``settings`` in a child."""
    return [f"--{k}={v}" for k, v in asdict(settings).items()]


def measure(name: str, row: PlannedRow, args: argparse.Namespace, settings: Settings) -> dict:
    """Run one child; a failure becomes a row with its reason."""
    argv = [str(Path(__file__).resolve()), "--child", name, "--engine", row.engine]
    argv += ["--posteriordb", str(args.posteriordb), *row.options, *settings_args(settings)]
    env = child_environment({**row.env, "JAX_PLATFORMS": "cpu"})
    started = time.perf_counter()
    cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    try:
        result = run_child(argv, env=env, timeout=CHILD_TIMEOUT_S)
    except (ChildFailed, subprocess.TimeoutExpired) as err:
        lines = str(err).strip().splitlines()
        result = {"failed": lines[-1][:300] if lines else "failed"}
    cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    result.update(
        posterior=name,
        row=row.row,
        wall_s=time.perf_counter() - started,
        # CPU seconds of the child and its waited-for children (imports included)
        cpu_s=(cpu_after.ru_utime + cpu_after.ru_stime)
        - (cpu_before.ru_utime + cpu_before.ru_stime),
        load_average=load_average(),
        measured_at=time.strftime("%Y-%m-%d %H:%M:%S"),
    )
    return result


def load_results(path: Path) -> dict[str, Any]:
    """The results file (an empty one if it does not exist)."""
    if path.is_file():
        return json.loads(path.read_text())
    return {"rows": [], "runs": []}


def save_results(path: Path, results: Mapping[str, Any]) -> None:
    """Write the results file (atomically: a partial file never replaces a good one)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(path.suffix + ".partial")
    partial.write_text(json.dumps(results, indent=1, default=float))
    partial.replace(path)


def run_suite(args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    """Measure every planned row not yet in the results file; return all results."""
    results = load_results(args.results)
    done = {(r["posterior"], r["row"]) for r in results["rows"] if "failed" not in r}
    results["runs"].append(
        {
            "command": " ".join([Path(sys.executable).name, *sys.argv]),
            "settings": asdict(settings),
            "machine": machine_description(),
            "versions": package_versions(),
            "started": time.strftime("%Y-%m-%d %H:%M:%S"),
        }
    )
    with tempfile.TemporaryDirectory(prefix="bench-suite-") as tmp:
        for name in args.posteriors:
            groups: dict[str, list[PlannedRow]] = {}
            for row in plan(name, args.engines, args, Path(tmp)):
                groups.setdefault(row.row.split()[0], []).append(row)
            for rows in groups.values():
                # a warm row needs the cache of its cold row in this run: measure both
                if not args.fresh and all((name, r.row) in done for r in rows):
                    continue
                for row in rows:
                    print(f"[{name}] {row.row} ...", flush=True)
                    result = measure(name, row, args, settings)
                    if "failed" in result and row.engine == "stan":
                        # httpstan occasionally answers with a malformed reply on a busy
                        # machine; a second cold build (fresh cache) usually succeeds
                        print(f"[{name}] {row.row}: {_short(result)}; retrying", flush=True)
                        fresh = {k: f"{v}-retry" for k, v in row.env.items()}
                        result = measure(
                            name, PlannedRow(row.row, "stan", (), fresh), args, settings
                        )
                    results["rows"] = [
                        r for r in results["rows"] if (r["posterior"], r["row"]) != (name, row.row)
                    ]
                    results["rows"].append(result)
                    save_results(args.results, results)
                    print(f"[{name}] {row.row}: {_short(result)}", flush=True)
    results["runs"][-1]["finished"] = time.strftime("%Y-%m-%d %H:%M:%S")
    results["runs"][-1]["load_average_end"] = load_average()
    save_results(args.results, results)
    return results


def _short(result: Mapping[str, Any]) -> str:
    if "failed" in result:
        return f"FAILED: {result['failed']}"
    return (
        f"ready {result['ready_s']:.2f}s sampling {result['sampling_s']:.2f}s total "
        f"{result['total_s']:.2f}s ESS {result['min_ess']:.0f} "
        f"max|z| {result['correctness']['max_z']:.2f}"
    )


# --------------------------------------------------------------------------- report


def _get(rows: Mapping[tuple[str, str], Mapping], name: str, row: str) -> Mapping | None:
    result = rows.get((name, row))
    return None if result is None or "failed" in result else result


def _ess_per(result: Mapping | None, key: str) -> float:
    if result is None:
        return float("nan")
    return safe_ratio(result["min_ess"], result[key])


def absolute_table(rows: Mapping[tuple[str, str], Mapping], names: Sequence[str]) -> str:
    """Every measured row with its figures (failures with their reason)."""
    headers = [
        "posterior",
        "row",
        "ready [s]",
        "sampling [s]",
        "to result [s]",
        "min ESS",
        "ESS/s sampling",
        "ESS/s result",
        "ESS/grad",
        "div.",
        "max z",
    ]
    body = []
    for name in names:
        for label in ROWS:
            result = rows.get((name, label))
            if result is None:
                continue
            if "failed" in result:
                body.append([name, label, f"failed: {result['failed'][:60]}", *[""] * 8])
                continue
            z = result["correctness"]
            body.append(
                [
                    name,
                    label,
                    fmt(result["ready_s"]),
                    fmt(result["sampling_s"]),
                    fmt(result["total_s"]),
                    fmt(result["min_ess"], 0),
                    fmt(_ess_per(result, "sampling_s"), 0),
                    fmt(_ess_per(result, "total_s"), 1),
                    fmt(_ess_per(result, "grads"), 4),
                    str(result["divergences"]),
                    f"{z['max_z']:.2f}{'' if z['passed'] else ' FAIL'}",
                ]
            )
    return markdown_table(headers, body)


RATIO_ENGINES = {
    "bayesuq": ("bayesuq cold", "bayesuq warm"),
    "fisher": ("fisher cold", "fisher warm"),
    "before": ("before cold", "before warm"),
    "nutpie": ("nutpie", "nutpie"),
}


def ratio_rows(rows: Mapping[tuple[str, str], Mapping], names: Sequence[str]) -> list[dict]:
    """Per posterior and engine: ESS per second and per gradient as ratios to Stan's.

    ``cold``: ESS per second of time to result in a new process with empty caches (Stan:
    build + sample); ``warm``: the same with the caches filled (Stan: cached build +
    sample); ``sampling``: ESS per second of sampling; ``per_grad``: ESS per gradient.
    """
    out = []
    for name in names:
        stan = _get(rows, name, "stan")
        for engine, (cold_row, warm_row) in RATIO_ENGINES.items():
            cold, warm = _get(rows, name, cold_row), _get(rows, name, warm_row)
            if cold is None and warm is None:
                continue
            stan_warm = None if stan is None else safe_ratio(stan["min_ess"], stan["warm_total_s"])
            # Sampling alone from the cold row: in a warm process the model's trace (and the
            # first result's imports) run while the chains sample (bayesuq.infer.warm).
            sampled = cold or warm
            out.append(
                {
                    "posterior": name,
                    "engine": engine,
                    "cold": safe_ratio(_ess_per(cold, "total_s"), _ess_per(stan, "total_s")),
                    "warm": safe_ratio(_ess_per(warm, "total_s"), stan_warm),
                    "sampling": safe_ratio(
                        _ess_per(sampled, "sampling_s"), _ess_per(stan, "sampling_s")
                    ),
                    "per_grad": safe_ratio(_ess_per(sampled, "grads"), _ess_per(stan, "grads")),
                }
            )
    return out


def ratios_table(ratios: Sequence[Mapping], engines: Sequence[str]) -> str:
    """:func:`ratio_rows` per posterior, engines side by side, with geometric means."""
    keys = ("cold", "warm", "sampling", "per_grad")
    headers = ["posterior"] + [f"{e} {k}" for e in engines for k in keys]
    by = {(r["posterior"], r["engine"]): r for r in ratios}
    names = list(dict.fromkeys(r["posterior"] for r in ratios))
    body = []
    for name in names:
        cells = []
        for engine in engines:
            r = by.get((name, engine))
            cells += [fmt(r[k]) if r else "n/a" for k in keys]
        body.append([name, *cells])
    means = []
    for engine in engines:
        for k in keys:
            values = [by[(n, engine)][k] for n in names if (n, engine) in by]
            means.append(fmt(geometric_mean(values)))
    body.append(["**geometric mean**", *means])
    return markdown_table(headers, body)


def _imports_s(result: Mapping | None) -> float | None:
    """Seconds of a row's imports: the engine's and what its result needs (ArviZ)."""
    if result is None or "engine_import_s" not in result:
        return None
    return result["import_s"] + result["engine_import_s"]


def imports_table(rows: Mapping[tuple[str, str], Mapping], names: Sequence[str]) -> str:
    """The warm ratio to Stan with each process's imports counted in its time to result.

    A script run again pays its imports too: Stan's ``import stan`` and ArviZ (for
    ``az.from_pystan``), bayesuq's first-call imports (JAX, NumPyro, ArviZ).
    """
    headers = ["posterior", "Stan imports [s]", "bayesuq imports [s]", "warm", "warm + imports"]
    body, ratios = [], []
    for name in names:
        stan, warm = _get(rows, name, "stan"), _get(rows, name, "bayesuq warm")
        stan_imports, imports = _imports_s(stan), _imports_s(warm)
        if stan_imports is None or imports is None:
            continue
        plain, counted = (
            safe_ratio(
                safe_ratio(warm["min_ess"], warm["total_s"] + extra),
                safe_ratio(stan["min_ess"], stan["warm_total_s"] + stan_extra),
            )
            for extra, stan_extra in ((0.0, 0.0), (imports, stan_imports))
        )
        ratios.append((plain, counted))
        body.append([name, fmt(stan_imports), fmt(imports), fmt(plain), fmt(counted)])
    if not body:
        return "(no rows with both runs' import times)"
    means = [fmt(geometric_mean([r[k] for r in ratios])) for k in (0, 1)]
    body.append(["**geometric mean**", "", "", *means])
    return markdown_table(headers, body)


def report(results: Mapping[str, Any], names: Sequence[str] | None = None) -> str:
    """The Markdown report: settings, machine, the ratio and absolute tables."""
    rows = {(r["posterior"], r["row"]): r for r in results["rows"]}
    names = names or list(dict.fromkeys(r["posterior"] for r in results["rows"]))
    ratios = ratio_rows(rows, names)
    engines = [e for e in RATIO_ENGINES if any(r["engine"] == e for r in ratios)]
    runs = results.get("runs", [])
    loads = [float(r["load_average"].split(",")[0]) for r in results["rows"] if "load_average" in r]
    lines = [
        "Ratios to Stan (above 1: better than Stan), per posterior and engine: `cold` = ESS "
        "per second of time to result in a new process with empty caches (Stan: C++ build "
        "+ sampling); `warm` = the same in a second process with the caches filled (Stan: "
        "cached build + sampling); `sampling` = ESS per second of sampling only, from the "
        "cold row (a warm bayesuq process traces the model while its chains sample); "
        "`per_grad` = ESS per gradient evaluation (leapfrog steps of the kept draws).",
        "",
        ratios_table(ratios, engines),
        "",
        "Every row (seconds; ESS = minimum bulk ESS over posteriordb's reference "
        "quantities; `max z` = largest |posterior mean - reference mean| / reference sd, "
        "FAIL above 0.3):",
        "",
        absolute_table(rows, names),
        "",
        "Warm, with the imports counted (bayesuq's first-call imports: JAX, NumPyro, ArviZ; "
        "Stan's: `import stan` and ArviZ, for `az.from_pystan`), ratios to Stan:",
        "",
        imports_table(rows, names),
        "",
    ]
    if runs:
        first = runs[0]
        lines += [
            f"Settings: {first['settings']}. Machine: {first['machine']['processor']}, "
            f"{first['machine']['cpu_count']} CPUs, {first['machine']['platform']}. "
            f"Versions: {first['versions']}.",
            "",
            f"Load average (1, 5, 15 min) when each row finished: from {min(loads)} to "
            f"{max(loads)} (on {first['machine']['cpu_count']} cores; other work shared the "
            f"machine)."
            if loads
            else "",
            "",
            "Commands: " + "; ".join(f"`{r['command']}`" for r in runs),
        ]
    return "\n".join(lines)


# --------------------------------------------------------------------------- CLI


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--posteriordb", help="posteriordb checkout (or its posterior_database)")
    parser.add_argument("--posteriors", nargs="+", choices=sorted(suite.SUITE))
    parser.add_argument("--engines", nargs="+", choices=ENGINES, default=list(ENGINES))
    parser.add_argument("--before", help="source tree of the bayesuq to compare ('before')")
    parser.add_argument("--results", type=Path, default=Path("results/suite.json"))
    parser.add_argument(
        "--merge", type=Path, nargs="+", default=[], help="more results files for the report"
    )
    parser.add_argument("--fresh", action="store_true", help="re-measure rows already saved")
    parser.add_argument("--report-only", action="store_true", help="tables from --results")
    parser.add_argument("--write-docs", type=Path, help="replace the suite section of this file")
    parser.add_argument("--quick", action="store_true", help="2 chains, 300 + 300 (smoke)")
    parser.add_argument("--child", choices=sorted(suite.SUITE), help=argparse.SUPPRESS)
    parser.add_argument("--engine", choices=("stan", "bayesuq", "nutpie"), help=argparse.SUPPRESS)
    parser.add_argument("--adaptation", default="stan", help=argparse.SUPPRESS)
    parser.add_argument("--source", help=argparse.SUPPRESS)
    for field, default in asdict(Settings()).items():
        parser.add_argument(f"--{field}", type=type(default), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if not args.report_only and not args.posteriordb:
        parser.error("--posteriordb PATH is required (a checkout of stan-dev/posteriordb)")
    if args.posteriordb:
        suite.check_root(args.posteriordb)
    args.posteriors = args.posteriors or list(suite.DEFAULT)
    return args


def settings_from(args: argparse.Namespace) -> Settings:
    """Settings from ``--quick`` and the hidden per-field options children receive."""
    base = asdict(Settings(chains=2, warmup=300, draws=300) if args.quick else Settings())
    given = {k: getattr(args, k) for k in base if getattr(args, k) is not None}
    return Settings(**{**base, **given})


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: a child measurement, the suite, or the report of saved results."""
    args = parse_args(argv)
    settings = settings_from(args)
    if args.child:
        child_main(args, settings)
        return 0
    if args.report_only:
        results = load_results(args.results)
    else:
        print(describe_machine(), flush=True)
        results = run_suite(args, settings)
    for path in args.merge:  # rows measured by other runs (a row here wins)
        other = load_results(path)
        have = {(r["posterior"], r["row"]) for r in results["rows"]}
        results = {
            "rows": results["rows"]
            + [r for r in other["rows"] if (r["posterior"], r["row"]) not in have],
            "runs": results["runs"] + other["runs"],
        }
    text = report(
        results, [n for n in suite.SUITE if any(r["posterior"] == n for r in results["rows"])]
    )
    print(text)
    if args.write_docs:
        replace_marked_section(args.write_docs, DOCS_SECTION, text)
        print(f"Section '{DOCS_SECTION}' of {args.write_docs} regenerated.")
    failed = [r for r in results["rows"] if "failed" in r]
    return 1 if failed and not args.report_only else 0


if __name__ == "__main__":
    sys.exit(main())
