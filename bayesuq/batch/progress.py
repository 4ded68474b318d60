"""Progress of a batched run: chunks done / total, fits per second, time left, per worker.

One :class:`BatchProgress` follows a run. Each finished chunk is reported with
:meth:`BatchProgress.chunk_done`; the bar (``tqdm.auto``) shows chunks done out of the
total, the fits per second since the run started, the estimated time left
(``remaining fits / fits per second``) and, on Dask, how many chunks each worker finished.
:meth:`BatchProgress.summary` gives the same figures for the result's ``attrs``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from tqdm.auto import tqdm


@dataclass
class WorkerTally:
    """What one worker finished: chunks, fits, and its busy seconds."""

    chunks: int = 0
    fits: int = 0
    seconds: float = 0.0

    @property
    def fits_per_second(self) -> float:
        """Fits per busy second of this worker."""
        return self.fits / self.seconds if self.seconds > 0 else float("nan")


def short_worker_name(address: str) -> str:
    """``tcp://127.0.0.1:40613`` -> ``127.0.0.1:40613``; ``local`` stays ``local``."""
    return address.split("://", 1)[-1]


@dataclass
class BatchProgress:
    """Progress of one batched run (see the module docstring).

    Parameters
    ----------
    n_chunks, n_datasets
        Size of the whole run.
    resumed_chunks, resumed_fits
        What a store already held when the run started (counted as done, not in the rate).
    enabled
        Show the bar.
    desc
        The bar's label.
    """

    n_chunks: int
    n_datasets: int
    resumed_chunks: int = 0
    resumed_fits: int = 0
    enabled: bool = True
    desc: str = "chunks"
    workers: dict[str, WorkerTally] = field(default_factory=dict)
    started: float = field(default_factory=time.perf_counter)

    def __post_init__(self) -> None:
        self.stopped: float | None = None
        self.done_chunks = self.resumed_chunks
        self.done_fits = self.resumed_fits
        self._bar = tqdm(
            total=self.n_chunks,
            initial=self.resumed_chunks,
            desc=self.desc,
            unit="chunk",
            disable=not self.enabled,
            leave=True,
        )

    @property
    def fits_per_second(self) -> float:
        """Fits finished in this session per wall-clock second since it started."""
        elapsed = (self.stopped or time.perf_counter()) - self.started
        new = self.done_fits - self.resumed_fits
        return new / elapsed if elapsed > 0 and new > 0 else float("nan")

    @property
    def seconds_left(self) -> float:
        """Estimated seconds to finish: remaining fits / fits per second."""
        rate = self.fits_per_second
        remaining = self.n_datasets - self.done_fits
        if remaining == 0:
            return 0.0
        return remaining / rate if rate == rate and rate > 0 else float("nan")

    def restart_clock(self) -> None:
        """Start the rate's clock now (after compiling, so the rate is sampling speed)."""
        self.started = time.perf_counter()

    def chunk_done(self, *, fits: int, worker: str, seconds: float) -> None:
        """Count one finished chunk of ``fits`` datasets run by ``worker`` in ``seconds``."""
        self.done_chunks += 1
        self.done_fits += fits
        tally = self.workers.setdefault(worker, WorkerTally())
        tally.chunks += 1
        tally.fits += fits
        tally.seconds += seconds
        if self.enabled:
            self._bar.set_postfix(self._postfix(), refresh=False)
            self._bar.update(1)

    def _postfix(self) -> dict[str, str]:
        shown = {"fits/s": f"{self.fits_per_second:.3g}"}
        left = self.seconds_left
        if left == left:
            shown["left"] = f"{left:.0f}s"
        if len(self.workers) > 1 or "local" not in self.workers:
            for address, tally in sorted(self.workers.items()):
                shown[short_worker_name(address)] = (
                    f"{tally.chunks} ({tally.fits_per_second:.3g} fits/s)"
                )
        return shown

    def close(self) -> None:
        """Close the bar and stop the clock."""
        self.stopped = time.perf_counter()
        self._bar.close()

    def summary(self) -> dict[str, Any]:
        """Figures for ``attrs``: chunks, resumed chunks, fits per second, per worker."""
        rate = self.fits_per_second
        return {
            "chunks": self.n_chunks,
            "resumed_chunks": self.resumed_chunks,
            "fits_per_second": round(rate, 4) if rate == rate else rate,
            "workers": ";".join(
                f"{short_worker_name(a)}={t.chunks}" for a, t in sorted(self.workers.items())
            ),
        }
