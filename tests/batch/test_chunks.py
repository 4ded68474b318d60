"""Chunked nuts_many in process: bounded chunks, one compiled program, the same draws
whatever the chunk size, a store that resumes, and progress figures."""

from __future__ import annotations

import json
import os
import signal

import numpy as np
import pytest
from scale_models import SAMPLER, assert_same_fits, datasets, normal_mean

from bayesuq.batch import chunks as chunk_module
from bayesuq.batch import store as store_module
from bayesuq.batch.progress import BatchProgress
from bayesuq.batch.store import read_manifest
from bayesuq.infer.many import nuts_many

SETTINGS = {**SAMPLER, "seed": 3, "progress": False}
DATASETS = 7  # chunks of 2: the last one is padded


@pytest.fixture(scope="module")
def whole():
    """All datasets in one chunk on one device: the reference."""
    return nuts_many(
        normal_mean,
        {"y": datasets(DATASETS)},
        batched=["y"],
        chunk_size=DATASETS,
        devices=1,
        **SETTINGS,
    )


def test_chunks_give_the_same_draws_with_one_compiled_program(whole):
    before = chunk_module.PROGRAMS.compiles
    chunked = nuts_many(
        normal_mean, {"y": datasets(DATASETS)}, batched=["y"], chunk_size=2, devices=1, **SETTINGS
    )
    assert chunk_module.PROGRAMS.compiles <= before + 1  # 4 chunks, 1 program at most
    assert chunked.attrs["chunks"] == 4 and chunked.attrs["chunk_size"] == 2
    assert chunked.attrs["fits_per_second"] > 0
    assert chunked.posterior["mu"].shape == (DATASETS, 2, 150)
    assert_same_fits(chunked, whole)
    # Exact posterior N(sum y / (n + 1), 1 / (n + 1)): means within 0.35 sd (300 draws,
    # ESS >= 100: MCSE <= 0.1 sd, so 0.35 sd is > 3.5 MCSE for each dataset).
    y = datasets(DATASETS)
    n = y.shape[1]
    z = (chunked.posterior["mu"].mean(axis=(1, 2)) - y.sum(axis=1) / (n + 1)) * np.sqrt(n + 1)
    assert np.max(np.abs(z)) < 0.35, z


def test_store_resumes_and_refuses_another_run(whole, tmp_path):
    store = tmp_path / "run"
    first = nuts_many(
        normal_mean,
        {"y": datasets(DATASETS)},
        batched=["y"],
        chunk_size=2,
        devices=1,
        store=store,
        **SETTINGS,
    )
    manifest = read_manifest(store)
    assert sorted(manifest["chunks"]) == ["0", "1", "2", "3"]
    assert manifest["chunks"]["3"]["datasets"] == [6, 7]
    # An interruption between chunks: chunk 1 finished but never listed.
    del manifest["chunks"]["1"]
    (store / "manifest.json").write_text(json.dumps(manifest))
    resumed = nuts_many(
        normal_mean, {"y": datasets(DATASETS)}, batched=["y"], devices=1, store=store, **SETTINGS
    )  # no chunk_size=: the store's
    assert resumed.attrs["resumed_chunks"] == 3 and resumed.attrs["chunk_size"] == 2
    assert_same_fits(resumed, whole)
    assert_same_fits(first, whole)
    with pytest.raises(ValueError, match=r"different run \(.*seed: stored 3, now 4"):
        nuts_many(
            normal_mean,
            {"y": datasets(DATASETS)},
            batched=["y"],
            devices=1,
            store=store,
            **{**SETTINGS, "seed": 4},
        )
    with pytest.raises(ValueError, match="data_fingerprint"):
        nuts_many(
            normal_mean,
            {"y": datasets(DATASETS, seed=1)},
            batched=["y"],
            devices=1,
            store=store,
            **SETTINGS,
        )


def test_ctrl_c_while_a_chunk_is_written_lists_it_then_stops(
    whole, tmp_path, monkeypatch, ctrl_c_raises
):
    """Ctrl-C arriving mid-write is held until the chunk file and its manifest line exist."""
    write = store_module.write_chunk_file

    def interrupted_write(path, chunk, dims):
        if chunk.index == 1:
            os.kill(os.getpid(), signal.SIGINT)
        return write(path, chunk, dims)

    monkeypatch.setattr(store_module, "write_chunk_file", interrupted_write)
    store = tmp_path / "run"
    kwargs = {"batched": ["y"], "chunk_size": 2, "devices": 1, "store": store, **SETTINGS}
    with pytest.raises(KeyboardInterrupt):
        nuts_many(normal_mean, {"y": datasets(DATASETS)}, **kwargs)
    assert sorted(read_manifest(store)["chunks"]) == ["0", "1"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    monkeypatch.undo()
    resumed = nuts_many(normal_mean, {"y": datasets(DATASETS)}, **kwargs)
    assert resumed.attrs["resumed_chunks"] == 2
    assert_same_fits(resumed, whole)


def test_bad_chunk_and_device_arguments_are_refused():
    data = {"y": datasets(4)}
    with pytest.raises(ValueError, match="chunk_size"):
        nuts_many(normal_mean, data, batched=["y"], chunk_size=0, **SETTINGS)
    with pytest.raises(ValueError, match=r"only \d+ local device"):
        nuts_many(normal_mean, data, batched=["y"], devices=64, **SETTINGS)
    with pytest.raises(ValueError, match="devices= sets the local devices"):
        nuts_many(normal_mean, data, batched=["y"], devices=1, client="local", **SETTINGS)
    with pytest.raises(ValueError, match="client must be None, 'local'"):
        nuts_many(normal_mean, data, batched=["y"], client="remote", **SETTINGS)


def test_progress_counts_chunks_rates_and_workers():
    progress = BatchProgress(
        n_chunks=4, n_datasets=40, resumed_chunks=1, resumed_fits=10, enabled=False
    )
    progress.chunk_done(fits=10, worker="tcp://127.0.0.1:1", seconds=2.0)
    progress.chunk_done(fits=10, worker="tcp://127.0.0.1:2", seconds=4.0)
    assert progress.done_chunks == 3 and progress.done_fits == 30
    assert progress.workers["tcp://127.0.0.1:1"].fits_per_second == pytest.approx(5.0)
    rate = progress.fits_per_second
    assert rate > 0 and progress.seconds_left == pytest.approx(10 / rate, rel=0.2)
    progress.close()
    summary = progress.summary()
    assert summary["fits_per_second"] == pytest.approx(progress.fits_per_second, rel=1e-3)
    assert summary["fits_per_second"] > 0
    assert summary["resumed_chunks"] == 1
    assert summary["workers"] == "127.0.0.1:1=1;127.0.0.1:2=1"
    assert "127.0.0.1:2" in progress._postfix()
