"""What every benchmark in this folder shares: timing, child processes, tables, the machine.

* **Compile meter.** JAX reports a time span for every jaxpr trace, MLIR lowering and XLA
  compilation (including a load from the persistent cache) to ``jax.monitoring``
  listeners; :class:`JaxCompileMeter` adds up the union of those spans during a call
  (spans of nested programs overlap) and counts the traces, lowerings, compilations and
  persistent-cache hits.
* **Child processes.** Each measurement that must not inherit caches, JAX configuration
  or warmed-up memory runs in a fresh interpreter (:func:`run_child`); the child prints one
  ``BENCH_RESULT {json}`` line (:func:`emit_result`) that the parent parses.
* **Tables.** :func:`markdown_table`, :func:`fmt`, :func:`geometric_mean`, and
  :func:`replace_marked_section` to regenerate a marked part of a Markdown file.
* **Machine.** :func:`machine_description` (platform, cores, load average) and
  :func:`package_versions`, read without importing the packages.

The module imports only the standard library and NumPy at import time, so that a child
process can load it before choosing its JAX configuration.
"""

from __future__ import annotations

import json
import math
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np

RESULT_MARKER = "BENCH_RESULT "
TRACE_EVENT = "/jax/core/compile/jaxpr_trace_duration"
LOWER_EVENT = "/jax/core/compile/jaxpr_to_mlir_module_duration"
BACKEND_COMPILE_EVENT = "/jax/core/compile/backend_compile_duration"
COMPILE_EVENTS = frozenset({TRACE_EVENT, LOWER_EVENT, BACKEND_COMPILE_EVENT})
CACHE_HIT_EVENT = "/jax/compilation_cache/cache_hits"
DEFAULT_PACKAGES = (
    "bayesuq",
    "jax",
    "jaxlib",
    "numpyro",
    "arviz",
    "numpy",
    "pystan",
    "httpstan",
    "nutpie",
)
CACHE_VARIABLES = frozenset(
    {
        "JAX_COMPILATION_CACHE_DIR",
        "BAYESUQ_CACHE_DIR",
        "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS",
        "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES",
    }
)


# --------------------------------------------------------------------------- timing


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    """Call ``fn()`` and return its result and the wall time it took, in seconds."""
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def safe_ratio(numerator: float, denominator: float) -> float:
    """``numerator / denominator``, or NaN when either is missing or the denominator is not > 0."""
    if numerator is None or denominator is None:
        return float("nan")
    return numerator / denominator if denominator > 0 else float("nan")


def union_seconds(spans: Iterable[tuple[float, float]]) -> float:
    """Total length of the union of ``(start, end)`` intervals.

    Examples
    --------
    >>> union_seconds([(0.0, 2.0), (1.0, 3.0), (5.0, 6.0)])
    4.0
    """
    total, reach = 0.0, float("-inf")
    for start, end in sorted(spans):
        if end > reach:
            total += end - max(start, reach)
            reach = end
    return total


@dataclass(frozen=True)
class RunTiming:
    """Outcome of :meth:`JaxCompileMeter.measure`.

    Attributes
    ----------
    result
        What the measured function returned.
    wall_s
        Wall time of the call.
    compile_s
        Wall time JAX spent tracing, lowering and compiling during the call (union of spans).
    cache_hits
        Programs loaded from the persistent compilation cache during the call.
    traces, lowerings, compiles
        Number of jaxpr traces, MLIR lowerings and backend compilations (cache loads
        included) JAX reported during the call.
    """

    result: Any
    wall_s: float
    compile_s: float
    cache_hits: int
    traces: int = 0
    lowerings: int = 0
    compiles: int = 0


class JaxCompileMeter:
    """Record the time JAX spends compiling, from its ``jax.monitoring`` time spans."""

    def __init__(self) -> None:
        import jax.monitoring

        self._spans: list[tuple[str, float, float]] = []
        self._cache_hits = 0
        jax.monitoring.register_event_time_span_listener(self._on_span)
        jax.monitoring.register_event_listener(self._on_event)

    def _on_span(self, event: str, start: float, end: float, **_: Any) -> None:
        if event in COMPILE_EVENTS:
            self._spans.append((event, start, end))

    def _on_event(self, event: str, **_: Any) -> None:
        if event == CACHE_HIT_EVENT:
            self._cache_hits += 1

    def counts(self) -> dict[str, int]:
        """Traces, lowerings and compilations seen so far."""
        names = {TRACE_EVENT: "traces", LOWER_EVENT: "lowerings", BACKEND_COMPILE_EVENT: "compiles"}
        out = dict.fromkeys(names.values(), 0)
        for event, _, _ in self._spans:
            out[names[event]] += 1
        return out

    def measure(self, fn: Callable[[], Any]) -> RunTiming:
        """Call ``fn()`` and return its result with wall time, compile time and counts."""
        first, hits = len(self._spans), self._cache_hits
        result, wall_s = timed(fn)
        spans = self._spans[first:]
        kinds = [event for event, _, _ in spans]
        return RunTiming(
            result=result,
            wall_s=wall_s,
            compile_s=union_seconds((start, end) for _, start, end in spans),
            cache_hits=self._cache_hits - hits,
            traces=kinds.count(TRACE_EVENT),
            lowerings=kinds.count(LOWER_EVENT),
            compiles=kinds.count(BACKEND_COMPILE_EVENT),
        )


def start_jax() -> JaxCompileMeter:
    """Install the compile meter and initialise the backend outside any measurement."""
    import jax.numpy as jnp

    meter = JaxCompileMeter()
    jnp.zeros(1).block_until_ready()
    return meter


def min_bulk_ess(idata: Any, parameters: Sequence[str] | None = None) -> float:
    """Minimum bulk ESS (``arviz.ess(method="bulk")``) over every element of the variables."""
    import arviz as az

    ess = az.ess(idata, var_names=None if parameters is None else list(parameters), method="bulk")
    return float(min(float(ess[name].min()) for name in ess.data_vars))


# --------------------------------------------------------------------------- children


class ChildFailed(RuntimeError):
    """A measurement subprocess exited with an error or printed no result."""


def emit_result(result: Mapping[str, Any]) -> None:
    """Print ``result`` as the marked JSON line :func:`run_child` reads."""
    print(RESULT_MARKER + json.dumps(result, default=float), flush=True)


def child_environment(updates: Mapping[str, str], *, clear: Iterable[str] = CACHE_VARIABLES):
    """This process's environment without the cache settings in ``clear``, plus ``updates``."""
    cleared = set(clear)
    env = {k: v for k, v in os.environ.items() if k not in cleared}
    env.update(updates)
    return env


def run_child(
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    timeout: float = 3600,
    cwd: str | os.PathLike | None = None,
) -> dict[str, Any]:
    """Run ``python argv...`` in a fresh process and return the dict of its result line.

    Raises
    ------
    ChildFailed
        With the tail of the child's output when it exits non-zero or prints no result.
    subprocess.TimeoutExpired
        When it runs longer than ``timeout`` seconds.
    """
    cmd = [sys.executable, *map(str, argv)]
    proc = subprocess.run(
        cmd,
        capture_output=True,
        text=True,
        env=dict(os.environ if env is None else env),
        timeout=timeout,
        check=False,
        cwd=cwd,
    )
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith(RESULT_MARKER)]
    if proc.returncode != 0 or not lines:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-25:])
        raise ChildFailed(f"`{' '.join(cmd)}` exited with {proc.returncode}:\n{tail}")
    return json.loads(lines[-1][len(RESULT_MARKER) :])


# --------------------------------------------------------------------------- tables


def fmt(value: float | int | str | None, digits: int = 2) -> str:
    """Format a number for a table; ``None`` and NaN become ``n/a``."""
    if value is None or isinstance(value, str):
        return "n/a" if value is None else value
    value = float(value)
    if math.isnan(value):
        return "n/a"
    return f"{value:.{digits}f}"


def markdown_table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """Render a GitHub-flavoured Markdown table with aligned columns."""
    rows = [[str(c) for c in r] for r in rows]
    widths = [max(len(str(c)) for c in col) for col in zip(headers, *rows, strict=False)]

    def line(cells: Sequence[str]) -> str:
        padded = (str(c).ljust(w) for c, w in zip(cells, widths, strict=True))
        return "| " + " | ".join(padded) + " |"

    separator = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(headers), separator, *(line(r) for r in rows)])


def geometric_mean(values: Iterable[float]) -> float:
    """Geometric mean of the finite positive values (NaN if there are none)."""
    kept = [float(v) for v in values if v is not None and np.isfinite(v) and v > 0]
    return float(np.exp(np.mean(np.log(kept)))) if kept else float("nan")


def replace_marked_section(path: Path, name: str, text: str) -> None:
    """Replace what lies between ``<!-- name:start -->`` and ``<!-- name:end -->`` in ``path``.

    Raises
    ------
    ValueError
        If the markers are missing.
    """
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    content = path.read_text()
    if start not in content or end not in content:
        raise ValueError(f"{path} has no section marked {start} ... {end}")
    head, rest = content.split(start, 1)
    _, tail = rest.split(end, 1)
    path.write_text(f"{head}{start}\n{text.strip()}\n{end}{tail}")


# --------------------------------------------------------------------------- machine


def package_versions(names: Sequence[str] = DEFAULT_PACKAGES) -> dict[str, str]:
    """Installed versions of the packages involved (read without importing them)."""
    versions = {}
    for name in names:
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def load_average() -> str:
    """The 1, 5 and 15 minute load averages, as text (other processes add noise)."""
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_description() -> dict[str, Any]:
    """Platform, processor, core count, Python version and load of this machine."""
    return {
        "platform": platform.platform(),
        "processor": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "jax_platforms": os.environ.get("JAX_PLATFORMS", "(default)"),
        "load_average": load_average(),
    }


def describe_machine() -> str:
    """One line for a report: the machine and its load now."""
    m = machine_description()
    return (
        f"{m['processor']}, {m['cpu_count']} CPUs, {m['platform']}, Python {m['python']}; "
        f"load average (1, 5, 15 min) {m['load_average']}"
    )
