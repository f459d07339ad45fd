"""The same chunk tasks on a dask.distributed cluster give the same result as a local run."""

import pytest

from errors import InputError, KickClipError
from kick_clip_generator import KickClipGenerator

distributed = pytest.importorskip("distributed", reason="pip install -r requirements-dask.txt")


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None, host="127.0.0.1") as local:
        yield local


def test_dask_run_equals_local_run(cluster, sample_stream, config):
    config = config.replace(make_clips=False, use_cache=False)
    local = KickClipGenerator(config).run(str(sample_stream), config).to_dict()
    remote_config = config.replace(dask_scheduler=cluster.scheduler_address,
                                   models_dir=config.models_dir.with_name("models-dask"))
    remote = KickClipGenerator(remote_config).run(str(sample_stream), remote_config).to_dict()
    for key in ("highlights", "audio_highlights", "video_highlights"):
        assert [(h["start"], h["end"], h["score"]) for h in remote[key]] == \
            [(h["start"], h["end"], h["score"]) for h in local[key]]
    assert remote["skipped_chunks"] == []
    prefix = cluster.scheduler.task_prefixes["analyze_span_collect"]
    assert prefix.state_counts["memory"] >= 2  # both halves of the stream ran on the cluster


def test_unreachable_scheduler_is_a_clear_error(sample_stream, config):
    bad = config.replace(dask_scheduler="tcp://127.0.0.1:9", request_timeout_s=2,
                         make_clips=False, use_cache=False)
    with pytest.raises(KickClipError, match="cannot reach the Dask scheduler"):
        KickClipGenerator(bad).run(str(sample_stream), bad)


def test_missing_distributed_says_how_to_install(monkeypatch, sample_stream, config):
    import builtins

    real_import = builtins.__import__

    def no_distributed(name, *args, **kwargs):
        if name == "distributed":
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_distributed)
    bad = config.replace(dask_scheduler="tcp://127.0.0.1:9", make_clips=False, use_cache=False)
    with pytest.raises(InputError, match="requirements-dask.txt"):
        KickClipGenerator(bad).run(str(sample_stream), bad)
