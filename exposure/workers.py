"""Worker processes for index builds: forked from a fresh server process, never from the caller.

A caller may hold thread-pool locks: a notebook that checked a selfie has run dlib's CNN detector,
whose threads a forked child would lack while it inherits their locks half-held, and waits on
forever. So workers fork from multiprocessing's fork server, a new interpreter that has loaded
exposure's modules and no model (spawn where there is no fork server: Windows).

Such workers would normally also re-run the caller's script as `__mp_main__` (a script without
`if __name__ == "__main__":` would build again in every worker). The server is told the
caller's main module instead (EXPOSURE_POOL_MAIN_*), so each worker finds it "already imported"
and runs nothing of the caller's.
"""

from __future__ import annotations

import os
import sys

STALL_SECONDS = 600.0  # a build in which no image finishes for this long is stuck: it says so and stops


def stall_seconds() -> float:
    """How long a build waits for the next image before calling itself stuck ($EXPOSURE_STALL_SECONDS)."""
    return float(os.environ.get("EXPOSURE_STALL_SECONDS", STALL_SECONDS))


MODULES = ["exposure.workers", "exposure.index", "exposure.faces", "exposure.models", "exposure.samephoto",
           "exposure.encoders.onnx_resnet"]  # imported once in the fork server, not in every worker
_MAIN_FILE, _MAIN_NAME = "EXPOSURE_POOL_MAIN_FILE", "EXPOSURE_POOL_MAIN_NAME"


def context():
    """The multiprocessing context for a build's worker pool (see the module's docstring)."""
    import multiprocessing
    from multiprocessing import process

    main = sys.modules.get("__main__")
    file, spec = getattr(main, "__file__", None), getattr(main, "__spec__", None)
    if file:  # as multiprocessing.spawn.get_preparation_data names it; inherited by the fork server
        os.environ[_MAIN_FILE] = os.path.normpath(os.path.join(process.ORIGINAL_DIR or "", file))
    if getattr(spec, "name", None):
        os.environ[_MAIN_NAME] = spec.name
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(MODULES)
    return ctx


def count(workers: int | None) -> int:
    """How many worker processes a build uses: as asked, else one per core."""
    return workers or os.cpu_count() or 1


def pool(workers: int | None):
    """A pool of build processes (see count) forked from the fork server (see context), each dying with this one."""
    from concurrent.futures import ProcessPoolExecutor

    return ProcessPoolExecutor(count(workers), mp_context=context(), initializer=init, initargs=(os.getpid(),))


def _stand_in_for_the_callers_main() -> None:
    """In the fork server: look as if the caller's main module were already imported (see above)."""
    main = sys.modules.get("__main__")
    in_server = sys.argv[:1] == ["-c"] and "multiprocessing.forkserver" in sys.modules
    if main is None or not in_server or getattr(main, "__file__", None):
        return
    if os.environ.get(_MAIN_FILE):
        main.__file__ = os.environ[_MAIN_FILE]
    if os.environ.get(_MAIN_NAME):
        from importlib.machinery import ModuleSpec

        main.__spec__ = ModuleSpec(os.environ[_MAIN_NAME], None)


def init(caller: int) -> None:
    """In each worker: one encoder thread (the parallelism is across workers), and die with the caller.

    A worker's parent is the fork server, not the caller, and it holds the fork server's lifeline
    itself: were the caller killed, neither would ever exit. So each worker watches the caller."""
    os.environ["EXPOSURE_ENCODER_THREADS"] = "1"
    import threading

    threading.Thread(target=_exit_with, args=(caller,), daemon=True, name="exposure-watch-caller").start()


def _exit_with(pid: int) -> None:
    """Block until process `pid` ends, then end this process."""
    import select
    import time

    try:
        fd = os.pidfd_open(pid)  # Linux 5.3+: readable once the process has ended
        select.select([fd], [], [])
    except (AttributeError, OSError):  # elsewhere: look once a second
        while True:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            except PermissionError:
                pass
            time.sleep(1.0)
    os._exit(1)


_stand_in_for_the_callers_main()
