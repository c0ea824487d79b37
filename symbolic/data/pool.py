"""Work over many files on every core: results in task order from a spawn pool, with a tqdm bar
counting the skipped ones. `prepare` and `audio prepare` share it. Never imports jax."""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from tqdm.auto import tqdm


def run_in_pool(
    process: Callable[[Any], Any],
    tasks: Sequence[Any],
    workers: int,
    *,
    desc: str,
    progress: bool = True,
    chunksize: int | None = None,
    initializer: Callable | None = None,
    initargs: tuple = (),
) -> Iterator[Any]:
    """Yield `process(task)` for each task, in order; each result has an ``error`` (None, or
    why its task was skipped), counted on the bar. `workers == 1` runs here (after
    `initializer`), otherwise a pool of spawned processes does: spawn, not fork, since the
    parent may hold threads (jax, tqdm's monitor), and a fork after threads can deadlock. The
    pool is terminated however the caller stops reading. `chunksize` defaults to a few tasks
    per worker, at most 8."""
    bar = tqdm(total=len(tasks), desc=desc, unit="work", disable=not progress)
    skipped, pool = 0, None
    try:
        if workers == 1:
            if initializer is not None:
                initializer(*initargs)
            results = map(process, tasks)
        else:
            pool = multiprocessing.get_context("spawn").Pool(workers, initializer, initargs)
            chunk = chunksize or max(1, min(8, len(tasks) // (workers * 4)))
            results = pool.imap(process, tasks, chunksize=chunk)
        for result in results:
            skipped += result.error is not None
            bar.set_postfix(skipped=skipped, refresh=False)
            bar.update()
            yield result
    finally:
        bar.close()
        if pool is not None:
            pool.terminate()
