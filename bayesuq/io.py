"""Saving and loading results as netCDF (through ArviZ), and atomic file writes.

Every file bayesuq writes (results, reports, figures, cached programs, batch chunks) goes
through :func:`atomic_write`: it is written next to its destination and moved into place,
so an interrupted or failed write never leaves a truncated file under the final name, and
the partial file is removed whatever happened.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any


def atomic_write(path: str | os.PathLike, write: Callable[[Path], Any]) -> Path:
    """Call ``write(partial)`` on a temporary path beside ``path``, then move it into place.

    The temporary name keeps the suffix (``.<name>.<pid>.partial<suffix>``), so writers
    that infer a format from it (``savefig``, netCDF engines) work. On any failure,
    ``KeyboardInterrupt`` included, the partial file is removed and the error re-raised;
    ``path`` is then untouched.

    Parameters
    ----------
    path
        Final destination; its parent folder is created if missing.
    write
        Function writing the complete file to the path it is given.

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial{path.suffix}")
    try:
        write(partial)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    return path


def save(idata: Any, path: str | os.PathLike) -> Path:
    """Write ``idata`` to a netCDF file (all groups and ``attrs``) and return the path.

    The file is written next to its destination first and then moved into place, so an
    interrupted save never leaves a truncated file under ``path``.
    """
    import arviz as az

    if not isinstance(idata, az.InferenceData):
        raise TypeError(f"idata must be an arviz.InferenceData, got {type(idata).__name__}")
    return atomic_write(path, lambda partial: idata.to_netcdf(str(partial), engine="h5netcdf"))


def load(path: str | os.PathLike) -> Any:
    """Read an ``InferenceData`` written by :func:`save` (or by ArviZ) fully into memory."""
    import arviz as az

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no results file at {str(path)!r}")
    idata = az.from_netcdf(str(path), engine="h5netcdf")
    for group in idata.groups():
        getattr(idata, group).load()
    return idata
