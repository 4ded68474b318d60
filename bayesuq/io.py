"""Saving and loading results as netCDF (through ArviZ), and atomic file writes.

Every file bayesuq writes (results, reports, figures, cached programs, batch chunks) goes
through :func:`atomic_write`: it is written next to its destination and moved into place,
so an interrupted or failed write never leaves a truncated file under the final name, and
the partial file is removed whatever happened.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Callable, Iterator
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
    if path.is_dir():
        raise IsADirectoryError(f"cannot write {str(path)!r}: it is an existing directory")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError) as err:
        raise NotADirectoryError(
            f"cannot write {str(path)!r}: a part of its folder path is a file, not a folder"
        ) from err
    except PermissionError as err:
        raise PermissionError(
            f"cannot write {str(path)!r}: no permission to create the folder {str(path.parent)!r}"
        ) from err
    _remove_stale_partials(path)
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial{path.suffix}")
    try:
        write(partial)
        os.replace(partial, path)
    except PermissionError as err:
        raise PermissionError(
            f"cannot write {str(path)!r}: the folder is not writable ({err.strerror})"
        ) from err
    finally:
        partial.unlink(missing_ok=True)
    return path


@contextlib.contextmanager
def interrupts_deferred() -> Iterator[None]:
    """Hold Ctrl-C (``SIGINT``) until the block ends, then raise ``KeyboardInterrupt``.

    For short units of work that must finish once begun: a batch chunk's file and its
    manifest entry are written together, so an interrupt never leaves a written chunk
    unlisted, nor a half-constructed netCDF writer whose clean-up fails later at garbage
    collection. Outside the main thread (where Python delivers no signals) it does nothing.
    If the block raises, its error propagates and a held interrupt is dropped with it.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: held.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if held and callable(previous):
        previous(signal.SIGINT, None)  # Python's default handler raises KeyboardInterrupt
    elif held and previous != signal.SIG_IGN:
        raise KeyboardInterrupt


def _remove_stale_partials(path: Path) -> None:
    """Delete partial files of ``path`` left by processes that no longer run (killed writes)."""
    for stale in path.parent.glob(f".{path.name}.*.partial{path.suffix}"):
        pid = stale.name[len(path.name) + 2 :].split(".", 1)[0]
        if pid.isdigit() and not _process_alive(int(pid)):
            stale.unlink(missing_ok=True)


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


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
    """Read an ``InferenceData`` written by :func:`save` (or by ArviZ) fully into memory.

    Raises
    ------
    FileNotFoundError
        No file at ``path``.
    ValueError
        The file is empty, truncated, not a netCDF/HDF5 file, or a netCDF file with no
        InferenceData groups (e.g. a plain ``xarray`` dataset); the message names the path.
    """
    import arviz as az

    path = Path(path)
    if path.is_dir():
        raise ValueError(f"cannot read {str(path)!r}: it is a directory, not a results file")
    if not path.is_file():
        raise FileNotFoundError(f"no results file at {str(path)!r}")
    size = path.stat().st_size
    if size == 0:
        raise ValueError(f"cannot read {str(path)!r}: the file is empty (0 bytes)")
    with path.open("rb") as handle:
        signature = handle.read(8)
    if signature != b"\x89HDF\r\n\x1a\n":
        raise ValueError(
            f"cannot read {str(path)!r}: it is not a netCDF-4/HDF5 file written by "
            f"bayesuq.save (its first bytes are {signature[:8]!r})"
        )
    try:
        idata = az.from_netcdf(str(path), engine="h5netcdf")
        for group in idata.groups():
            getattr(idata, group).load()
    except (OSError, ValueError, KeyError) as err:
        raise ValueError(
            f"cannot read {str(path)!r} ({size} bytes): the file is damaged or truncated "
            f"({type(err).__name__}: {str(err).splitlines()[0] if str(err) else 'no detail'})"
        ) from err
    if not idata.groups():
        raise ValueError(
            f"{str(path)!r} holds no InferenceData groups (posterior, sample_stats, ...): it "
            f"is a netCDF file but not a result written by bayesuq.save or arviz"
        )
    return idata
