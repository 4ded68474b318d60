"""Column standardisation shared by the model families.

Several methods fit on standardised columns, ``z = (x - m) / s`` with the column means
``m`` and the *population* standard deviations ``s = sqrt((1/n) sum_i (x_i - m)^2)``
(the convention of the copula predictives of Fong, Holmes & Walker 2023 and of PRESTO's
solver), and map results back with the same ``m`` and ``s``. :func:`standardise` is that
one step, with one rule for constant columns and for non-finite values.
"""

from __future__ import annotations

from typing import Any

import numpy as np

CONSTANT_COLUMNS = ("raise", "keep")


def standardise(
    values: Any,
    *,
    name: str = "X",
    axis: int = 0,
    constant: str = "raise",
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``z = (values - m) / s`` with means ``m`` and population sds ``s`` along ``axis``.

    Parameters
    ----------
    values
        A float array (any shape); statistics are taken along ``axis`` (the rows).
    name
        The argument's name, for error messages.
    axis
        The axis of observations (``0`` for ``(n, p)`` data, ``1`` for a batch
        ``(R, n, p)`` standardised per replication).
    constant
        What to do with a constant column (``s = 0``): ``"raise"`` a ``ValueError`` naming
        it, or ``"keep"`` it (``s`` is set to 1, so the column becomes 0; a penalised fit
        then gives it a zero slope).

    Returns
    -------
    (z, m, s)
        The standardised values (shape of ``values``) and the statistics ``m`` and ``s``
        (shape of ``values`` without ``axis``; ``s = 1`` for kept constant columns).

    Raises
    ------
    ValueError
        Non-finite values, fewer than two observations, an unknown ``constant`` rule, or
        (``constant="raise"``) a constant column.
    """
    if constant not in CONSTANT_COLUMNS:
        raise ValueError(f"constant must be one of {list(CONSTANT_COLUMNS)}, got {constant!r}")
    array = np.asarray(values, dtype=np.float64)
    if array.ndim == 0:
        raise ValueError(f"{name} must be an array of observations, got a scalar {values!r}")
    if array.shape[axis] < 2:
        raise ValueError(
            f"{name} needs at least 2 observations along axis {axis} to standardise, got "
            f"shape {array.shape}"
        )
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} contains NaN or infinite values")
    mean = array.mean(axis=axis)
    sd = array.std(axis=axis)
    flat = np.asarray(sd <= 0)
    if np.any(flat):
        if constant == "raise":
            where = np.flatnonzero(flat) if flat.ndim == 1 else np.argwhere(flat)
            columns = where[:10].tolist()
            raise ValueError(
                f"{name} has constant column(s) {columns} (sd 0); cannot standardise them"
            )
        sd = np.where(flat, 1.0, sd)
    z = (array - np.expand_dims(mean, axis)) / np.expand_dims(sd, axis)
    return z, mean, sd
