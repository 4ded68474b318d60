"""Warm start, step by step: what a second process spends before its first draw.

A first process fits the model with an empty ``BAYESUQ_CACHE_DIR``; then ``--repeats``
further processes fit it again with the cache filled. Each child times, in wall-clock and
CPU seconds, ``import bayesuq``, the imports of the first call (the engine and ArviZ), and
inside ``bayesuq.nuts`` (default ``chain_method``): data preparation, the warm start from
a hint (``bayesuq.infer.warm.speculate``: read the hint, load the init and chunk programs,
start the chains in a background thread), the abstract trace (``analyse_model``, which in
a warm process runs while the chains sample), the cache key, loading or building the
programs (a cold process), the call up to the first chunk of draws, sampling, and building
the ``InferenceData``; and counts the traces, lowerings and compilations JAX reports
during the call. ``python -X importtime -c "import bayesuq"`` is
parsed for the import time as Python measures it.

Usage::

    python benchmarks/bench_warm_start.py                  # eight schools, 3 warm repeats
    python benchmarks/bench_warm_start.py --posteriordb /tmp/posteriordb --posterior arK-arK
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from _harness import (
    child_environment,
    describe_machine,
    emit_result,
    fmt,
    markdown_table,
    run_child,
    start_jax,
)

STEPS = (
    ("import bayesuq", "import_bayesuq"),
    ("first-call imports (engine, ArviZ)", "import_engine"),
    ("prepare data", "prepare_data"),
    ("hint: load programs, start the chains", "speculate"),
    ("abstract trace (analyse_model)", "analyse_sampled_model"),
    ("cache key", "_disk_key"),
    ("load or build programs (no hint)", "get_programs"),
    ("call -> first chunk (ready)", "call_to_first_chunk"),
    ("sampling (after the first chunk starts)", "sampling"),
    ("InferenceData", "_result"),
    ("call -> result", "call"),
)


class _Clock:
    """Wall and CPU seconds spent in wrapped functions, by name."""

    def __init__(self) -> None:
        self.wall: dict[str, float] = {}
        self.cpu: dict[str, float] = {}

    def add(self, name: str, wall: float, cpu: float) -> None:
        self.wall[name] = self.wall.get(name, 0.0) + wall
        self.cpu[name] = self.cpu.get(name, 0.0) + cpu

    def time(self, name: str, fn: Callable[[], Any]) -> Any:
        wall, cpu = time.perf_counter(), time.process_time()
        result = fn()
        self.add(name, time.perf_counter() - wall, time.process_time() - cpu)
        return result

    def wrap(self, module: Any, name: str) -> None:
        original = getattr(module, name)

        def wrapped(*args, **kwargs):
            return self.time(name, lambda: original(*args, **kwargs))

        setattr(module, name, wrapped)


def _model_and_data(args: argparse.Namespace) -> tuple[Callable, dict]:
    if args.posterior:
        import posteriors

        posterior = posteriors.SUITE[args.posterior]
        return posterior.model, posterior.prepare(
            posteriors.stan_data(args.posteriordb, args.posterior)
        )
    from bayesuq.data.examples import eight_schools_noncentered
    from bayesuq.data.loaders import load_eight_schools

    frame = load_eight_schools()
    return eight_schools_noncentered, {k: frame[k].to_numpy(float) for k in ("sigma", "y")}


def child(args: argparse.Namespace) -> None:
    """One fit with every step timed; prints the marked result line."""
    clock = _Clock()
    bayesuq = clock.time("import_bayesuq", lambda: __import__("bayesuq"))
    model, data = _model_and_data(args)
    clock.time("import_engine", lambda: (bayesuq.nuts, __import__("arviz")))
    import bayesuq.infer.loop as loop
    import bayesuq.infer.mcmc as mcmc
    import bayesuq.infer.programs as programs

    for module, name in (
        (mcmc, "prepare_data"),
        (mcmc, "speculate"),
        (mcmc, "analyse_sampled_model"),
        (mcmc, "get_programs"),
        (mcmc, "_result"),
        (programs, "_disk_key"),
    ):
        clock.wrap(module, name)
    marks: dict[str, float] = {}
    run_in_chunks = loop.run_in_chunks

    def first_chunk(*a, **k):
        marks.setdefault("first_chunk", time.perf_counter())
        marks.setdefault("first_chunk_cpu", time.process_time())
        return run_in_chunks(*a, **k)

    programs.run_in_chunks = first_chunk
    meter = start_jax()
    call_wall, call_cpu = time.perf_counter(), time.process_time()
    timing = meter.measure(lambda: bayesuq.nuts(model, data, seed=1, progress=False))
    end_wall, end_cpu = time.perf_counter(), time.process_time()
    clock.add("call", end_wall - call_wall, end_cpu - call_cpu)
    clock.add(
        "call_to_first_chunk", marks["first_chunk"] - call_wall, marks["first_chunk_cpu"] - call_cpu
    )
    clock.wall["sampling"] = end_wall - marks["first_chunk"] - clock.wall["_result"]
    clock.cpu["sampling"] = float("nan")
    emit_result(
        {
            "warm_start": timing.result.attrs["warm_start"],
            "wall": clock.wall,
            "cpu": clock.cpu,
            "traces": timing.traces,
            "lowerings": timing.lowerings,
            "compiles": timing.compiles,
        }
    )


def import_time() -> float:
    """Cumulative seconds of ``import bayesuq`` reported by ``python -X importtime``."""
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import bayesuq"],
        capture_output=True,
        text=True,
        check=True,
    ).stderr
    for line in out.splitlines():
        parts = [p.strip() for p in line.split("|")]
        if len(parts) == 3 and parts[2] == "bayesuq":
            return int(parts[1]) / 1e6
    return float("nan")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3, help="warm processes")
    parser.add_argument("--posterior", help="a posterior of the suite instead of eight schools")
    parser.add_argument("--posteriordb", help="posteriordb checkout (with --posterior)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args)
        return 0
    print(describe_machine())
    with tempfile.TemporaryDirectory(prefix="bench-warm-") as cache:
        argv = [str(Path(__file__).resolve()), "--child"]
        if args.posterior:
            argv += ["--posterior", args.posterior, "--posteriordb", str(args.posteriordb)]
        env = child_environment({"BAYESUQ_CACHE_DIR": cache})
        runs = [run_child(argv, env=env) for _ in range(args.repeats + 1)]
    headers = ["step", "cold wall [s]", *(f"warm {i + 1} wall [s]" for i in range(args.repeats))]
    headers += ["warm CPU [s] (median)"]
    body = []
    for label, key in STEPS:
        cpus = sorted(r["cpu"].get(key, float("nan")) for r in runs[1:])
        body.append(
            [
                label,
                fmt(runs[0]["wall"].get(key), 3),
                *(fmt(r["wall"].get(key), 3) for r in runs[1:]),
                fmt(cpus[len(cpus) // 2], 3),
            ]
        )
    body.append(["warm start (`attrs`)", *(r["warm_start"] for r in runs), ""])
    for what in ("traces", "lowerings", "compiles"):
        body.append(
            [f"JAX {what} in the call", str(runs[0][what]), *(str(r[what]) for r in runs[1:]), ""]
        )
    print(markdown_table(headers, body))
    print(f"\n`python -X importtime -c 'import bayesuq'`: {import_time():.3f} s (cumulative)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
