"""Ordered parallel map for the corpus stages: results come back in input order, so outputs are
byte-identical whatever the number of processes, and input is read lazily (a whole dump never sits in
memory, unlike ``Pool.imap``, whose feeder thread drains its input as fast as it can)."""

from __future__ import annotations

import contextlib
import multiprocessing
from collections import deque
from collections.abc import Callable, Iterable, Iterator


@contextlib.contextmanager
def worker_pool(processes: int, warm_up: Callable[[], object] | None = None) -> Iterator:
    """A pool of ``processes`` workers, or ``None`` for one process (work then runs in-line).

    ``warm_up`` runs in the parent first, so forked workers inherit what it imported and compiled.
    Start the pool before opening pipes to other child processes, or the workers inherit those too.
    """
    if processes <= 1:
        yield None
        return
    if warm_up is not None:
        warm_up()
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    pool = multiprocessing.get_context(method).Pool(processes)
    try:
        yield pool
    finally:
        pool.terminate()
        pool.join()


def ordered_map(pool, func: Callable, items: Iterable, processes: int) -> Iterator[tuple[object, object]]:
    """Yield ``(item, func(item))`` in input order, with at most ``4 * processes`` items in flight."""
    if pool is None:
        yield from ((item, func(item)) for item in items)
        return
    pending: deque = deque()
    for item in items:
        pending.append((item, pool.apply_async(func, (item,))))
        if len(pending) >= 4 * processes:
            done, result = pending.popleft()
            yield done, result.get()
    while pending:
        done, result = pending.popleft()
        yield done, result.get()
