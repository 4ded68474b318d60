"""Saving and loading results as netCDF (through ArviZ), attributes included."""

from __future__ import annotations

import os
from pathlib import Path

import arviz as az


def save(idata: az.InferenceData, path: str | os.PathLike) -> Path:
    """Write ``idata`` to a netCDF file (all groups and ``attrs``) and return the path.

    The file is written next to its destination first and then moved into place, so an
    interrupted save never leaves a truncated file under ``path``.
    """
    if not isinstance(idata, az.InferenceData):
        raise TypeError(f"idata must be an arviz.InferenceData, got {type(idata).__name__}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    idata.to_netcdf(str(partial), engine="h5netcdf")
    os.replace(partial, path)
    return path


def load(path: str | os.PathLike) -> az.InferenceData:
    """Read an ``InferenceData`` written by :func:`save` (or by ArviZ) fully into memory."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no results file at {str(path)!r}")
    idata = az.from_netcdf(str(path), engine="h5netcdf")
    for group in idata.groups():
        getattr(idata, group).load()
    return idata
