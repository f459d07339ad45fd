"""Chunk tasks on a dask.distributed cluster (`--dask-scheduler`).

A task names its function and its arguments' classes by module (`stream_processor`,
`media`, `config`, ...), and the scheduler as well as the workers unpickle it, so both must
import these modules. This program is a folder of flat modules, usually not installed where
the cluster runs: on connecting, the engine modules the tasks need are zipped and sent to
the scheduler and every worker (present and future) with Dask's upload plugins, named after
their content, so a cluster receives each version once and runs the client's own code.
The cluster still needs the third-party packages (numpy, OpenCV, ...); when it lacks one,
the user gets one line saying so.
"""

from __future__ import annotations

import ast
import hashlib
import io
import logging
import os
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from config import Config
from errors import InputError, KickClipError

logger = logging.getLogger(__name__)

TASK_MODULE = "stream_processor"  # the span tasks' functions live here
_ROOT = Path(__file__).resolve().parent
_FIX = ("install this program's requirements there: pip install -r requirements.txt "
        "-r requirements-dask.txt (see README, Dask cluster)")


def open_executor(config: Config) -> tuple[Any, Callable[[], None]]:
    """(executor, close) sending tasks to the cluster at `config.dask_scheduler`."""
    try:
        from distributed import Client
    except ImportError as err:
        raise InputError("a Dask scheduler needs dask.distributed - "
                         "pip install -r requirements-dask.txt",
                         setting="dask_scheduler") from err
    address = config.dask_scheduler
    try:
        client = Client(address, timeout=config.request_timeout_s)
    except (OSError, TimeoutError) as err:
        raise KickClipError(f"cannot reach the Dask scheduler at {address}: "
                            f"{err} - check the address and that the scheduler runs") from err
    try:
        ship_modules(client, address)
    except BaseException:
        client.close()
        raise
    n_workers = max(1, len(client.scheduler_info().get("workers", {})))
    logger.info("sending chunks to %s (%d workers)", address, n_workers)
    return _Executor(client.get_executor(pure=False), address), client.close


def engine_modules(entry: str = TASK_MODULE) -> dict[str, Path]:
    """This program's modules that `entry` imports, directly or not, itself included."""
    found: dict[str, Path] = {}
    todo = [entry]
    while todo:
        name = todo.pop()
        path = _ROOT / f"{name}.py"
        if name in found or not path.is_file():
            continue  # done, or not ours (numpy, the standard library)
        found[name] = path
        for node in ast.walk(ast.parse(path.read_bytes(), str(path))):
            if isinstance(node, ast.Import):
                todo += [alias.name.split(".")[0] for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                todo.append(node.module.split(".")[0])
    return found


def modules_zip(modules: dict[str, Path]) -> tuple[bytes, str]:
    """The modules as a zip (the same bytes for the same sources) and their digest."""
    digest = hashlib.sha256()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(modules):
            source = modules[name].read_bytes()
            digest.update(name.encode() + b"\0" + source + b"\0")
            archive.writestr(zipfile.ZipInfo(f"{name}.py", (2020, 1, 1, 0, 0, 0)), source)
    return buffer.getvalue(), digest.hexdigest()[:16]


def ship_modules(client: Any, address: str) -> None:
    """Upload the engine modules to the scheduler and the workers (what `Client.upload_file`
    does, under a name per version so that repeated runs do not pile up plugins). Each
    side imports them at once: a missing package shows here, as a `KickClipError`."""
    from distributed.diagnostics.plugin import SchedulerUploadFile, UploadFile

    data, digest = modules_zip(engine_modules())
    name = f"kick-clip-generator-{digest}"
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"{name}.zip"  # on the cluster's sys.path: a name per version
        path.write_bytes(data)
        plugins = {"scheduler": SchedulerUploadFile(str(path)),
                   "workers": UploadFile(str(path))}
    # A scheduler or workers in this very process (a LocalCluster) have the modules: loading
    # the upload there would reload them under the client and split its classes in two.
    here = os.getpid()
    in_this_process = {"scheduler": client.run_on_scheduler(os.getpid) == here,
                       "workers": here in client.run(os.getpid).values()}
    for where, plugin in plugins.items():
        if in_this_process[where]:
            continue
        plugin.idempotent = True  # registered before under this name: the same code is there
        try:
            client.register_plugin(plugin, name=name)
        except ImportError as err:
            raise _missing(err, f"the Dask {where} at {address}") from err
    logger.info("engine modules %s sent to the cluster (%d bytes)", digest, len(data))


def _missing(err: ImportError, where: str) -> KickClipError:
    what = repr(err.name) if err.name else str(err).splitlines()[0]
    return KickClipError(f"{where} cannot import {what} - {_FIX}")


def _import_error(err: BaseException) -> ImportError | None:
    """The ImportError behind a task's failure (Dask wraps the scheduler's in a RuntimeError)."""
    while err is not None and not isinstance(err, ImportError):
        err = err.__cause__ or err.__context__
    return err


class _Executor:
    """The client's executor, its futures' import errors turned into one-line errors: a
    worker that joined later without a package the tasks need."""

    def __init__(self, executor: Any, address: str):
        self._executor, self._address = executor, address

    def submit(self, fn: Callable[..., Any], *args: Any) -> _Future:
        return _Future(self._executor.submit(fn, *args), self._address)


class _Future:
    def __init__(self, future: Any, address: str):
        self._future, self._address = future, address

    def done(self) -> bool:
        return self._future.done()

    def result(self) -> Any:
        try:
            return self._future.result()
        except Exception as err:
            missing = _import_error(err)
            if missing is None:
                raise
            raise _missing(missing, f"the Dask cluster at {self._address}") from err
