"""Running a compiled step program in chunks, with a progress bar between chunks.

Long runs are cut into chunks of ``chunk`` iterations, each one call of the same compiled
``lax.scan`` program: the progress bar advances between calls without host callbacks
(which would make the program uncacheable) and without recompiling.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tqdm.auto import tqdm


def chunk_length(total: int, target_chunks: int = 20) -> int:
    """Iterations per chunk: about ``total / target_chunks``, a divisor of ``total`` if one is near.

    Examples
    --------
    >>> chunk_length(2000)
    100
    """
    if total <= target_chunks:
        return max(total, 1)
    ideal = total // target_chunks
    for c in range(ideal, max(ideal // 2, 1) - 1, -1):
        if total % c == 0:
            return c
    return -(-total // target_chunks)


def run_in_chunks(
    program: Callable[[Any, Any], tuple[Any, Any]],
    state: Any,
    data: Any,
    *,
    total: int,
    chunk: int,
    progress: bool,
    desc: str,
    postfix: Callable[[Any], dict] | None = None,
) -> tuple[Any, Any]:
    """Call ``program(state, data) -> (state, outputs)`` until ``total`` iterations are done.

    Parameters
    ----------
    program
        Compiled program advancing ``chunk`` iterations; outputs have the iteration axis at
        position 1 (after the chain axis) or 0 when unbatched, as declared by its caller.
    total, chunk
        Iterations wanted and iterations per call; the last call may overshoot ``total``
        by less than ``chunk`` iterations, whose outputs the caller drops.
    progress
        Show a tqdm bar.
    postfix
        Maps the latest outputs to a dict shown beside the bar.

    Returns
    -------
    (final state, list of per-chunk outputs)
    """
    n_calls = -(-total // chunk)
    outputs = []
    with tqdm(total=total, desc=desc, disable=not progress, leave=True) as bar:
        for _ in range(n_calls):
            state, out = program(state, data)
            outputs.append(out)
            bar.update(min(chunk, total - bar.n))
            if progress and postfix is not None:
                bar.set_postfix(postfix(out), refresh=False)
    return state, outputs
