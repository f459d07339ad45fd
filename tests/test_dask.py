"""The same chunk tasks on a dask.distributed cluster give the same result as a local run:
on a LocalCluster, and on a cluster of `dask scheduler` and `dask worker` processes started
the way a user starts them, where the project is neither installed nor on the path."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

import dask_cluster
from errors import InputError, KickClipError
from kick_clip_generator import KickClipGenerator

distributed = pytest.importorskip("distributed", reason="pip install -r requirements-dask.txt")


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None, host="127.0.0.1") as local:
        yield local


@pytest.mark.slow  # two runs: ~5 s
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


DASK = Path(sys.executable).with_name("dask")


class ProcessCluster:
    """`dask scheduler` (and `dask worker`s) as processes of their own on 127.0.0.1, run from
    `folder` with a PYTHONPATH of `python_path` only: the project is not on their path."""

    def __init__(self, folder: Path, workers: int, python_path: str = ""):
        if not DASK.exists():
            pytest.skip(f"no dask command beside {sys.executable}")
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        if python_path:
            self.env["PYTHONPATH"] = python_path
        self.scheduler_file = folder / "scheduler.json"
        self.logs: list = []
        self.processes = [self._start("scheduler", "--host", "127.0.0.1", "--port", "0",
                                      "--no-dashboard")]
        deadline = time.monotonic() + 60
        while (address := self._address()) is None:  # written once the scheduler listens
            assert self.processes[0].poll() is None, self.log("scheduler")
            assert time.monotonic() < deadline, self.log("scheduler")
            time.sleep(0.05)
        self.address = address
        if workers:
            self.processes.append(self._start(
                "worker", "--nworkers", str(workers), "--nthreads", "1", "--no-dashboard",
                "--host", "127.0.0.1", "--local-directory", str(folder / "work")))
            with distributed.Client(address, timeout=30) as client:
                client.wait_for_workers(workers, timeout=60)

    def _address(self) -> str | None:
        try:
            return json.loads(self.scheduler_file.read_text())["address"]
        except (OSError, ValueError, KeyError):
            return None  # not there yet, or half-written

    def _start(self, role: str, *args: str) -> subprocess.Popen:
        log = open(self.folder / f"{role}.log", "wb")
        self.logs.append(log)
        return subprocess.Popen([str(DASK), role, "--scheduler-file", str(self.scheduler_file),
                                 *args], cwd=self.folder, env=self.env, stdout=log,
                                stderr=subprocess.STDOUT)

    def log(self, role: str) -> str:
        return (self.folder / f"{role}.log").read_text(errors="replace")[-3000:]

    def close(self) -> None:
        for process in reversed(self.processes):
            process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for log in self.logs:
            log.close()


@pytest.fixture(scope="module")
def process_cluster(tmp_path_factory):
    cluster = ProcessCluster(tmp_path_factory.mktemp("dask-cluster"), workers=2)
    yield cluster
    cluster.close()


@pytest.mark.slow
def test_a_cluster_of_its_own_processes_runs_the_chunks(process_cluster, sample_stream,
                                                        config):
    """Issue 11, item 9: on a real cluster the scheduler failed to unpickle the tasks
    (ModuleNotFoundError: No module named 'media'): the modules now go with them."""
    config = config.replace(make_clips=False, use_cache=False)
    local = KickClipGenerator(config).run(str(sample_stream), config).to_dict()
    remote_config = config.replace(dask_scheduler=process_cluster.address,
                                   models_dir=config.models_dir.with_name("models-dask"))
    remote = KickClipGenerator(remote_config).run(str(sample_stream), remote_config).to_dict()
    for key in ("highlights", "audio_highlights", "video_highlights"):
        assert [(h["start"], h["end"], h["score"]) for h in remote[key]] == \
            [(h["start"], h["end"], h["score"]) for h in local[key]]
    with distributed.Client(process_cluster.address, timeout=30) as client:
        done = client.run_on_scheduler(lambda dask_scheduler: dask_scheduler.task_prefixes[
            "analyze_span_collect"].state_counts["memory"])
        assert done >= 2  # both halves of the stream ran on the cluster
        plugins = client.run_on_scheduler(lambda dask_scheduler: sorted(dask_scheduler.plugins))
        dask_cluster.ship_modules(client, process_cluster.address)  # as the next run does
        assert client.run_on_scheduler(
            lambda dask_scheduler: sorted(dask_scheduler.plugins)) == plugins
    assert sum(p.startswith("kick-clip-generator-") for p in plugins) == 1  # once a version


@pytest.mark.slow
def test_a_cluster_without_a_module_the_tasks_need_is_a_one_line_error(
        tmp_path, sample_stream, capsys):
    """A scheduler whose Python has no OpenCV: the user gets one line saying what to do."""
    broken = tmp_path / "no-opencv"
    broken.mkdir()
    (broken / "cv2.py").write_text(
        "raise ModuleNotFoundError(\"No module named 'cv2'\", name='cv2')\n")
    cluster = ProcessCluster(tmp_path / "cluster", workers=0, python_path=str(broken))
    try:
        import main

        code = main.main([str(sample_stream), "--dask-scheduler", cluster.address,
                          "--no-clips", "--no-cache", "-q", "--output-dir",
                          str(tmp_path / "out"), "--models-dir", str(tmp_path / "models")])
    finally:
        cluster.close()
    err = capsys.readouterr().err
    assert code != 0
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    assert lines[-1].startswith("error: the Dask scheduler at ") and "'cv2'" in lines[-1], err
    assert "pip install" in lines[-1]
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_a_task_the_cluster_cannot_unpickle_is_a_one_line_error():
    """A worker that joined later without a package: the client's future raises Dask's
    RuntimeError whose cause is the ModuleNotFoundError."""
    from concurrent.futures import Future

    failed: Future = Future()
    try:
        try:
            raise ModuleNotFoundError("No module named 'media'", name="media")
        except ImportError as err:
            raise RuntimeError("Error during deserialization of the task graph.") from err
    except RuntimeError as err:
        failed.set_exception(err)
    future = dask_cluster._Future(failed, "tcp://127.0.0.1:8786")
    assert future.done()
    with pytest.raises(KickClipError, match=r"^the Dask cluster at tcp://127.0.0.1:8786 "
                                            r"cannot import 'media' - install"):
        future.result()
    other: Future = Future()
    other.set_exception(ValueError("a bug"))
    with pytest.raises(ValueError):
        dask_cluster._Future(other, "x").result()
