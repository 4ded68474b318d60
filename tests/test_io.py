"""Saving and loading: clear errors naming the path, nothing partial left behind (issue 11)."""

from __future__ import annotations

import os
import signal
import threading

import arviz as az
import numpy as np
import pytest
import xarray as xr

import bayesuq
from bayesuq.io import atomic_write, interrupts_deferred


@pytest.fixture
def idata():
    return az.from_dict(posterior={"x": np.zeros((1, 5))})


def test_save_into_an_existing_directory_is_refused(tmp_path, idata):
    with pytest.raises(IsADirectoryError, match="it is an existing directory"):
        bayesuq.save(idata, tmp_path)


def test_save_below_a_file_is_refused(tmp_path, idata):
    (tmp_path / "file").write_text("x")
    with pytest.raises(NotADirectoryError, match="is a file, not a folder"):
        bayesuq.save(idata, tmp_path / "file" / "fit.nc")


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write into read-only folders")
def test_save_into_a_read_only_folder_is_refused(tmp_path, idata):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        with pytest.raises(PermissionError, match="not writable"):
            bayesuq.save(idata, folder / "fit.nc")
    finally:
        folder.chmod(0o700)


def test_a_failed_or_interrupted_write_leaves_no_partial_file(tmp_path):
    def fails(partial):
        partial.write_text("half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic_write(tmp_path / "out.txt", fails)
    assert list(tmp_path.iterdir()) == []


def test_stale_partials_of_dead_writers_are_removed(tmp_path):
    stale = tmp_path / ".fit.nc.999999999.partial.nc"
    stale.write_text("left by a killed process")
    atomic_write(tmp_path / "fit.nc", lambda p: p.write_text("new"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fit.nc"]


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"", "the file is empty"), (b"hello world", "not a netCDF-4/HDF5 file")],
)
def test_loading_empty_or_text_files_names_the_path(tmp_path, content, message):
    path = tmp_path / "bad.nc"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=f"{path}.*{message}|{message}") as info:
        bayesuq.load(path)
    assert str(path) in str(info.value)


def test_loading_a_truncated_file_names_the_path(tmp_path, idata):
    path = bayesuq.save(idata, tmp_path / "fit.nc")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="damaged or truncated") as info:
        bayesuq.load(path)
    assert str(path) in str(info.value)


def test_a_plain_xarray_file_is_not_a_result(tmp_path):
    path = tmp_path / "plain.nc"
    xr.Dataset({"a": ("x", np.arange(3.0))}).to_netcdf(path, engine="h5netcdf")
    with pytest.raises(ValueError, match="holds no InferenceData groups"):
        bayesuq.load(path)


def test_ctrl_c_is_held_to_the_end_of_a_deferred_block(ctrl_c_raises):
    finished = []
    with pytest.raises(KeyboardInterrupt):
        with interrupts_deferred():
            os.kill(os.getpid(), signal.SIGINT)
            finished.append(True)  # still runs: the interrupt waits for the block's end
    assert finished == [True]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    with interrupts_deferred():  # nothing held: no interrupt afterwards
        pass


def test_deferring_interrupts_outside_the_main_thread_changes_nothing(ctrl_c_raises):
    seen = []

    def run():
        with interrupts_deferred():
            seen.append(signal.getsignal(signal.SIGINT))

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    assert seen == [signal.default_int_handler]
