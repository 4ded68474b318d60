"""The on-disk store of a batched run: one netCDF file per finished chunk, and a manifest.

Layout of a store folder::

    <store>/
      manifest.json        what run this is (its fingerprint and settings) and, for every
                           finished chunk: file name, datasets [start, stop), SHA-256 of the
                           file, the worker that ran it, seconds, and when it was written
      chunk-000000.nc      draws and sampler statistics of the chunk's datasets
      chunk-000001.nc      (netCDF-4 through h5netcdf; groups ``posterior`` and
      ...                  ``sample_stats``, dims ``(dataset, chain, draw, ...)``)

A chunk file is written (atomically, :func:`bayesuq.io.atomic_write`) before the manifest
names it, and the manifest is rewritten (atomically) after every chunk: whatever kills the
run, the store holds only complete files, and the manifest only files that were complete
when it was written. On resuming, every listed chunk is checked against its checksum; a
missing or damaged file is reported with a warning and its chunk is computed again, never
used. A file without a manifest entry (the run died between the two writes) is computed
again too.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bayesuq.io import atomic_write, interrupts_deferred

FORMAT = "bayesuq-batch-store/1"
MANIFEST = "manifest.json"


@dataclass(frozen=True)
class ChunkResult:
    """What one chunk of a batched run produced.

    Attributes
    ----------
    index
        The chunk's number, ``0 .. n_chunks - 1``.
    datasets
        Global indices of its datasets, ``(n,)`` (no padding).
    draws
        ``site -> array (n, chain, draw, ...)``.
    stats
        ``statistic -> array (n, chain, draw)``.
    worker
        Where it ran (``"local"`` in process, else the Dask worker's address).
    seconds
        Wall-clock seconds of its sampling on the worker.
    compile_seconds
        Seconds the worker spent getting the compiled programs for it (0 when cached).
    """

    index: int
    datasets: np.ndarray
    draws: dict[str, np.ndarray]
    stats: dict[str, np.ndarray]
    worker: str = "local"
    seconds: float = 0.0
    compile_seconds: float = 0.0


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _group(values: dict[str, np.ndarray], dims: dict[str, list[str]]) -> Any:
    """An ``xarray.Dataset`` of ``name -> (dataset, chain, draw, ...)`` arrays."""
    import xarray as xr

    variables = {}
    for name, value in values.items():
        event = list(dims.get(name, []))
        extra = value.ndim - 3
        if len(event) != extra:
            event = [f"{name}_dim_{k}" for k in range(extra)]
        variables[name] = (("dataset", "chain", "draw", *event), value)
    return xr.Dataset(variables)


def write_chunk_file(path: Path, chunk: ChunkResult, dims: dict[str, list[str]]) -> str:
    """Write ``chunk`` to ``path`` atomically; return the SHA-256 of the file written."""
    posterior = _group(chunk.draws, dims).assign_coords(dataset=chunk.datasets)
    stats = _group(chunk.stats, {}).assign_coords(dataset=chunk.datasets)
    posterior.attrs.update(
        chunk=chunk.index,
        worker=chunk.worker,
        seconds=chunk.seconds,
        compile_seconds=chunk.compile_seconds,
    )
    digest = {}

    def write(partial: Path) -> None:
        posterior.to_netcdf(partial, group="posterior", engine="h5netcdf")
        stats.to_netcdf(partial, group="sample_stats", mode="a", engine="h5netcdf")
        digest["sha256"] = _sha256(partial)

    atomic_write(path, write)
    return digest["sha256"]


def read_chunk_file(path: Path, index: int) -> ChunkResult:
    """Read a chunk written by :func:`write_chunk_file` fully into memory."""
    import xarray as xr

    posterior = xr.load_dataset(path, group="posterior", engine="h5netcdf")
    stats = xr.load_dataset(path, group="sample_stats", engine="h5netcdf")
    return ChunkResult(
        index=index,
        datasets=np.asarray(posterior["dataset"].values),
        draws={k: np.asarray(v.values) for k, v in posterior.data_vars.items()},
        stats={k: np.asarray(v.values) for k, v in stats.data_vars.items()},
        worker=str(posterior.attrs.get("worker", "")),
        seconds=float(posterior.attrs.get("seconds", 0.0)),
        compile_seconds=float(posterior.attrs.get("compile_seconds", 0.0)),
    )


class ChunkStore:
    """A folder of finished chunks of one batched run (see the module docstring).

    Parameters
    ----------
    folder
        The store's folder; created if missing.
    fingerprint
        Hex digest of everything that determines the run's results (model, data,
        settings, seed, chunk size, library versions).
    settings
        The same in readable form, for the manifest and for error messages.
    n_chunks
        Number of chunks of the run.

    Raises
    ------
    ValueError
        The folder holds a store of a different run (the message lists the settings that
        differ), or a manifest that is not a bayesuq store's.
    """

    def __init__(
        self,
        folder: str | os.PathLike,
        *,
        fingerprint: str,
        settings: dict[str, Any],
        n_chunks: int,
    ) -> None:
        self.folder = Path(folder).expanduser()
        if self.folder.exists() and not self.folder.is_dir():
            raise NotADirectoryError(
                f"store={str(folder)!r} is a file; store must be a folder for the chunk files"
            )
        self.folder.mkdir(parents=True, exist_ok=True)
        self.fingerprint = fingerprint
        self.settings = settings
        self.n_chunks = n_chunks
        self.chunks: dict[int, dict[str, Any]] = {}
        self._load_manifest()

    @property
    def manifest_path(self) -> Path:
        """Path of the manifest file."""
        return self.folder / MANIFEST

    def chunk_path(self, index: int) -> Path:
        """Path of chunk ``index``'s file."""
        return self.folder / f"chunk-{index:06d}.nc"

    def _load_manifest(self) -> None:
        path = self.manifest_path
        if not path.exists():
            self._write_manifest()
            return
        try:
            manifest = json.loads(path.read_text())
            found_format = manifest.get("format")
        except (OSError, ValueError, AttributeError) as err:
            raise ValueError(
                f"store {str(self.folder)!r}: its {MANIFEST} cannot be read ({err}); it is "
                f"not a bayesuq batch store, or it was damaged. Use a new folder"
            ) from err
        if found_format != FORMAT:
            raise ValueError(
                f"store {str(self.folder)!r}: {MANIFEST} has format {found_format!r}, "
                f"expected {FORMAT!r}; use a new folder"
            )
        if manifest.get("fingerprint") != self.fingerprint:
            previous = manifest.get("settings", {})
            differ = sorted(
                k
                for k in set(previous) | set(self.settings)
                if previous.get(k) != self.settings.get(k)
            )
            detail = (
                "; ".join(
                    f"{k}: stored {previous.get(k)!r}, now {self.settings.get(k)!r}" for k in differ
                )
                or "the model's log density or the data values differ"
            )
            raise ValueError(
                f"store {str(self.folder)!r} holds chunks of a different run ({detail}). "
                f"Resuming needs the same model, data, settings and seed; pass another "
                f"store folder, or delete this one to start afresh"
            )
        self.chunks = {int(k): v for k, v in manifest.get("chunks", {}).items()}

    def _write_manifest(self) -> None:
        manifest = {
            "format": FORMAT,
            "fingerprint": self.fingerprint,
            "settings": self.settings,
            "n_chunks": self.n_chunks,
            "chunks": {str(k): v for k, v in sorted(self.chunks.items())},
        }
        text = json.dumps(manifest, indent=1, sort_keys=False)
        atomic_write(self.manifest_path, lambda partial: partial.write_text(text))

    def finished(self) -> dict[int, ChunkResult]:
        """Every listed chunk whose file is present and intact, read into memory.

        A listed chunk whose file is missing, fails its checksum or cannot be read is
        dropped from the manifest with a ``UserWarning`` naming it, so that it is computed
        again.
        """
        good: dict[int, ChunkResult] = {}
        dropped = []
        for index, entry in sorted(self.chunks.items()):
            path = self.folder / entry["file"]
            problem = None
            if not path.is_file():
                problem = "its file is missing"
            elif _sha256(path) != entry["sha256"]:
                problem = "its file fails its SHA-256 checksum (damaged or changed)"
            else:
                try:
                    chunk = read_chunk_file(path, index)
                except Exception as err:  # a checksummed file that does not read
                    problem = f"its file cannot be read ({type(err).__name__})"
                else:
                    if chunk.datasets.tolist() != list(range(*entry["datasets"])):
                        problem = "its file holds other datasets than the manifest says"
                    else:
                        good[index] = chunk
            if problem:
                dropped.append(index)
                start, stop = entry["datasets"]
                warnings.warn(
                    f"store {str(self.folder)!r}: chunk {index} (datasets {start}..{stop - 1}) "
                    f"is not used: {problem}; computing it again",
                    UserWarning,
                    stacklevel=3,
                )
        for index in dropped:
            del self.chunks[index]
        if dropped:
            self._write_manifest()
        return good

    def add(self, chunk: ChunkResult, dims: dict[str, list[str]]) -> None:
        """Write ``chunk``'s file, then list it in the manifest (both atomically).

        Ctrl-C is held while both are written (see :func:`bayesuq.io.interrupts_deferred`).
        """
        path = self.chunk_path(chunk.index)
        with interrupts_deferred():
            digest = write_chunk_file(path, chunk, dims)
            self.chunks[chunk.index] = {
                "file": path.name,
                "datasets": [int(chunk.datasets[0]), int(chunk.datasets[-1]) + 1],
                "sha256": digest,
                "worker": chunk.worker,
                "seconds": round(chunk.seconds, 4),
                "written": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            }
            self._write_manifest()


def read_manifest(folder: str | os.PathLike) -> dict[str, Any]:
    """The manifest of the store in ``folder`` as a dict (for inspection and monitoring)."""
    path = Path(folder) / MANIFEST
    if not path.is_file():
        raise FileNotFoundError(f"no batch store at {str(folder)!r} (no {MANIFEST})")
    return json.loads(path.read_text())
