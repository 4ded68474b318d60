"""Detection of stuck chains: collapsed step size or a frozen log density.

A chain that starts in a bad region can end warm-up with a step size near machine epsilon
and then barely move. Such a chain is flagged when its adapted step size is below
``ABSOLUTE_STEP_FLOOR``, or ``RELATIVE_STEP_FLOOR`` times the median of the other chains,
or when (over at least 10 draws) its log density does not change while the other chains'
does.
Array functions take ``(chain, draw)`` arrays and know nothing of xarray.
"""

from __future__ import annotations

import numpy as np

ABSOLUTE_STEP_FLOOR = 1e-8
RELATIVE_STEP_FLOOR = 1e-3
MIN_DRAWS_TO_JUDGE_FROZEN = 10


def find_stuck_chains(step_size: np.ndarray, lp: np.ndarray) -> dict[int, str]:
    """Return ``{chain: reason}`` for every stuck chain.

    Parameters
    ----------
    step_size
        Adapted step size per chain and draw, shape ``(chain, draw)``.
    lp
        Log density per chain and draw, shape ``(chain, draw)``.
    """
    step = np.median(np.asarray(step_size, dtype=float), axis=1)
    lp = np.asarray(lp, dtype=float)
    spread = np.std(lp, axis=1)
    stuck: dict[int, str] = {}
    for c in range(step.shape[0]):
        others = np.delete(np.arange(step.shape[0]), c)
        ref_step = float(np.median(step[others])) if others.size else np.nan
        ref_spread = float(np.median(spread[others])) if others.size else np.nan
        if step[c] < ABSOLUTE_STEP_FLOOR or (
            others.size and step[c] < RELATIVE_STEP_FLOOR * ref_step
        ):
            stuck[c] = (
                f"chain {c} ended warm-up with step size {step[c]:.2g}"
                + (f" (other chains: {ref_step:.2g})" if others.size else "")
                + " and is stuck"
            )
        elif lp.shape[1] >= MIN_DRAWS_TO_JUDGE_FROZEN and (
            spread[c] == 0.0 or (others.size and spread[c] < 1e-6 * ref_spread)
        ):
            stuck[c] = f"chain {c} is frozen: its log density did not change over the draws"
    return stuck
