"""Embed a dataset on a Dask distributed cluster: the same per-image work as the in-process path.

`embed_all_dask` yields `(record, rows)` for each item in the order given, like
`exposure.build._embed_all`, so build_index commits the same shards whichever path ran. Each
image is one task calling `exposure.embed.embed_image` on a worker; at most `window` tasks are in
flight, so memory stays flat however large the dataset. Without a scheduler address a
LocalCluster of 2 single-threaded worker processes is started (and stopped afterwards).

Payloads: a Source gives a file path or the image bytes. Paths are sent as they are to a local
cluster (its workers see the same files); to a remote scheduler the bytes are sent instead
(`send_bytes=None` chooses so; pass True/False to force), since its workers may not share the disk.
"""

from __future__ import annotations

import collections
import logging
from collections.abc import Iterable, Iterator

from exposure.embed import embed_image
from exposure.errors import ExposureError, PhotoError
from exposure.photos import read_file
from exposure.workers import stall_seconds

LOCAL_WORKERS = 2
TASKS_PER_WORKER = 4  # in flight per worker: enough to hide scheduling latency, little memory


def embed_all_dask(
    source,
    todo: Iterable,
    detector: str = "hog",
    scheduler: str | None = None,
    *,
    send_bytes: bool | None = None,
    window: int | None = None,
    known_box: dict | None = None,
) -> Iterator[tuple[dict, list[dict]]]:
    """Yield (record, rows) per item of `todo`, in order, computed by `embed_image` on Dask workers
    (`known_box`: the aligned-crop fast path's box, as in the in-process path)."""
    from distributed import Client, LocalCluster

    cluster = None
    try:
        if scheduler is None:
            cluster = LocalCluster(
                n_workers=LOCAL_WORKERS, threads_per_worker=1, processes=True,
                dashboard_address=None, silence_logs=logging.ERROR,
            )
            client = Client(cluster)
        else:
            client = Client(scheduler, timeout="30s")
    except OSError as e:
        if cluster is not None:
            cluster.close()
        raise ExposureError(f"cannot reach the Dask scheduler {scheduler or '(local)'}: {e}") from None
    if send_bytes is None:
        send_bytes = scheduler is not None
    pending: collections.deque = collections.deque()
    try:
        n_workers = max(1, len(client.scheduler_info().get("workers", {})))
        limit = window or n_workers * TASKS_PER_WORKER
        for item in todo:
            payload = source.payload(item)
            if send_bytes and isinstance(payload, str):
                try:
                    payload = read_file(payload, item.key)
                except PhotoError:  # unreadable here: embed_image records why, without sending anything
                    yield embed_image(item.key, payload, item.identity, item.meta, detector)
                    continue
            pending.append(client.submit(embed_image, item.key, payload, item.identity, item.meta, detector,
                                         known_box=known_box, pure=False))
            if len(pending) >= limit:
                yield _result(pending.popleft())
        while pending:
            yield _result(pending.popleft())
    finally:
        for fut in pending:  # the consumer stopped early (an error, Ctrl-C): drop the work in flight
            fut.cancel()
        client.close()
        if cluster is not None:
            cluster.close()


def _result(future) -> tuple[dict, list[dict]]:
    """The next result, or ExposureError when none comes for stall_seconds() (a stuck or lost worker)."""
    from distributed import TimeoutError as DaskTimeout

    try:
        record, rows = future.result(timeout=stall_seconds())
    except (DaskTimeout, TimeoutError):
        raise ExposureError(f"the build is stuck: no image finished on the Dask cluster in {stall_seconds():.0f} s; "
                            "every finished shard is kept: run the same command again to resume") from None
    future.release()
    return record, rows

