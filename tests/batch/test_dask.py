"""Nothing lost on a Dask LocalCluster (loopback, 2 worker processes, 1 thread each):
a worker killed mid-run, a client interrupted (Ctrl-C) and resumed, a damaged chunk file.

Each run must give exactly the draws of an uninterrupted in-process run: every dataset's
keys depend on the seed and its index only, and workers run the same one-device program.
Events are triggered by the store's manifest (k chunks done), never by sleeping.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import threading
import time

import numpy as np
import pytest
from scale_models import SAMPLER, assert_same_fits, datasets, normal_mean

from bayesuq.batch.plan import ChunkPlan
from bayesuq.batch.store import MANIFEST, read_manifest
from bayesuq.batch.workers import lost_chunk_error
from bayesuq.infer.many import nuts_many

distributed = pytest.importorskip("distributed")  # in the test extra: CI has it

N_DATASETS = 16
SETTINGS = {**SAMPLER, "seed": 11, "chunk_size": 2}
N_CHUNKS = N_DATASETS // SETTINGS["chunk_size"]
TIMEOUT = 120.0


def _data():
    return {"y": datasets(N_DATASETS, seed=2)}


def _chunks_done(store) -> int:
    try:
        return len(json.loads((store / MANIFEST).read_text())["chunks"])
    except (OSError, ValueError, KeyError):
        return 0


def _when(condition, action) -> threading.Thread:
    """Run ``action`` in a thread as soon as ``condition()`` holds (polled every 10 ms)."""

    def watch():
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            if condition():
                action()
                return
            time.sleep(0.01)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


@pytest.fixture(scope="module")
def client():
    import dask

    # Bounded retries: a chunk whose workers die twice more is given up (tested below).
    with (
        dask.config.set({"distributed.scheduler.allowed-failures": 2}),
        distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
        ) as cluster,
        distributed.Client(cluster) as dask_client,
    ):
        yield dask_client


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The uninterrupted run, in process on one device, with its store."""
    store = tmp_path_factory.mktemp("reference") / "store"
    fits = nuts_many(
        normal_mean, _data(), batched=["y"], devices=1, store=store, progress=False, **SETTINGS
    )
    return fits, store


def test_killed_worker_chunk_runs_elsewhere(client, reference, tmp_path):
    store = tmp_path / "store"
    pids = client.run(os.getpid)
    killed = {}

    def kill_a_busy_worker():
        busy = {
            address: keys
            for address, keys in client.processing().items()
            if any("bayesuq-chunk" in str(k) for k in keys)
        }
        if not busy:
            return False
        address = sorted(busy)[0]
        killed.update(address=address, keys=busy[address])
        os.kill(pids[address], signal.SIGKILL)
        return True

    done = threading.Event()
    watcher = _when(
        lambda: _chunks_done(store) >= 1 and not done.is_set() and kill_a_busy_worker(),
        done.set,
    )
    fits = nuts_many(
        normal_mean, _data(), batched=["y"], client=client, store=store, progress=False, **SETTINGS
    )
    watcher.join(timeout=1)
    assert killed, "no worker was busy with a chunk after the first chunk finished"
    assert_same_fits(fits, reference[0])
    manifest = read_manifest(store)
    assert len(manifest["chunks"]) == N_CHUNKS
    assert fits.attrs["dask_workers"] == 2
    # The killed worker's process is gone; its chunk was finished by a live worker.
    with pytest.raises(ProcessLookupError):
        os.kill(pids[killed["address"]], 0)
    alive = set(client.run(os.getpid))
    assert killed["address"] not in alive


def test_interrupted_client_resumes_with_the_same_result(
    client, reference, tmp_path, ctrl_c_raises
):
    store = tmp_path / "store"
    watcher = _when(lambda: _chunks_done(store) >= 2, lambda: os.kill(os.getpid(), signal.SIGINT))
    with pytest.raises(KeyboardInterrupt):
        nuts_many(
            normal_mean,
            _data(),
            batched=["y"],
            client=client,
            store=store,
            progress=False,
            **SETTINGS,
        )
    watcher.join(timeout=1)
    kept = _chunks_done(store)
    assert 2 <= kept < N_CHUNKS
    fits = nuts_many(
        normal_mean, _data(), batched=["y"], client=client, store=store, progress=False, **SETTINGS
    )
    assert fits.attrs["resumed_chunks"] == kept
    assert_same_fits(fits, reference[0])
    # Progress per worker: chunks each worker finished, e.g. "127.0.0.1:40613=3;...".
    tallies = dict(item.split("=") for item in fits.attrs["workers"].split(";"))
    assert sum(map(int, tallies.values())) == N_CHUNKS - kept
    assert all(address.startswith("127.0.0.1:") for address in tallies)
    assert len(read_manifest(store)["chunks"]) == N_CHUNKS


def test_damaged_chunk_is_detected_and_recomputed(client, reference, tmp_path):
    store = tmp_path / "store"
    shutil.copytree(reference[1], store)
    damaged = store / "chunk-000003.nc"
    payload = bytearray(damaged.read_bytes())
    payload[len(payload) // 2] ^= 0xFF  # one flipped byte in the middle of the draws
    damaged.write_bytes(bytes(payload))
    with pytest.warns(UserWarning, match=r"chunk 3 \(datasets 6\.\.7\) is not used: .*checksum"):
        fits = nuts_many(
            normal_mean,
            _data(),
            batched=["y"],
            client=client,
            store=store,
            progress=False,
            **SETTINGS,
        )
    assert fits.attrs["resumed_chunks"] == N_CHUNKS - 1
    assert_same_fits(fits, reference[0])
    entry = read_manifest(store)["chunks"]["3"]
    assert entry["worker"].startswith("tcp://127.0.0.1")  # recomputed on a worker


def test_a_chunk_that_keeps_killing_workers_is_named():
    error = lost_chunk_error(5, ChunkPlan(20, 3), RuntimeError("KilledWorker"))
    assert "chunk 5 (datasets 15..17) was given up" in str(error)
    assert "allowed-failures" in str(error) and "chunk_size" in str(error)


def test_missing_dask_says_what_to_install(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_distributed(name, *args, **kwargs):
        if name == "distributed" or name.startswith("distributed."):
            raise ImportError("No module named 'distributed'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_distributed)
    with pytest.raises(ImportError, match=r"pip install 'bayesuq\[dask\]'"):
        nuts_many(
            normal_mean,
            {"y": np.zeros((2, 3))},
            batched=["y"],
            client="local",
            chains=1,
            warmup=10,
            draws=10,
            progress=False,
        )
