"""Validation and conversion of the ``data`` a user hands to an inference engine.

The engines call models as ``model(**data)``. Before anything is traced, every entry is
checked (keys against the model signature, numeric dtype, finite values). Arrays, lists and
pandas objects become JAX arrays and are passed to compiled programs as *arguments*, so new
data of the same shape re-uses the compiled program. Python scalars (``int``, ``float``,
``bool``) stay static Python values: they may set plate sizes or branch the model, and a new
value compiles a new program. pandas indexes are kept aside so that the results can carry
them as coordinates.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import jax
import numpy as np
import pandas as pd


@dataclass(frozen=True)
class PreparedData:
    """Model inputs as arrays, plus the labels pandas inputs carried.

    Attributes
    ----------
    arrays
        ``name -> jax array`` (or ``None`` for entries the model should simulate); traced.
    static
        ``name -> Python scalar``; compiled in as constants.
    indexes
        ``name -> pandas.Index`` of the first axis, for pandas inputs.
    columns
        ``name -> pandas.Index`` of the columns, for DataFrame inputs.
    """

    arrays: dict[str, Any]
    static: dict[str, Any] = field(default_factory=dict)
    indexes: dict[str, pd.Index] = field(default_factory=dict)
    columns: dict[str, pd.Index] = field(default_factory=dict)

    @property
    def kwargs(self) -> dict[str, Any]:
        """All entries, as the model is called with them."""
        return {**self.arrays, **self.static}

    def call_kwargs(self, arrays: dict[str, Any]) -> dict[str, Any]:
        """The model's keyword arguments with (possibly traced) ``arrays`` in place."""
        return {**arrays, **self.static}

    def signature(self) -> tuple:
        """Hashable description of array shapes and dtypes and static values (cache key)."""
        arrays = tuple(
            (k, None if v is None else (tuple(v.shape), str(v.dtype)))
            for k, v in sorted(self.arrays.items())
        )
        static = tuple((k, type(v).__name__, v) for k, v in sorted(self.static.items()))
        return arrays, static


def _accepted_names(model: Callable) -> tuple[set[str], bool]:
    """Keyword names ``model`` accepts, and whether it takes ``**kwargs``."""
    try:
        params = inspect.signature(model).parameters.values()
    except (TypeError, ValueError):  # builtins or C callables: cannot check
        return set(), True
    names = {
        p.name
        for p in params
        if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    }
    var_kw = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params)
    return names, var_kw


def _to_array(name: str, value: Any) -> Any:
    """Convert one entry to a JAX array, refusing non-numeric or non-finite values."""
    if value is None:
        return None
    if isinstance(value, pd.DataFrame | pd.Series):
        value = value.to_numpy()
    if hasattr(value, "shape"):
        arr = np.asarray(value)
    elif isinstance(value, list | tuple):
        try:
            arr = np.asarray(value)
        except ValueError as err:
            raise ValueError(
                f"data[{name!r}] is a ragged {type(value).__name__}; expected a rectangular "
                f"array of numbers"
            ) from err
    else:
        raise TypeError(
            f"data[{name!r}] has type {type(value).__name__}; expected an array, a number, "
            f"a pandas Series/DataFrame or None"
        )
    if arr.dtype.kind not in "biuf":
        raise TypeError(
            f"data[{name!r}] has dtype {arr.dtype}; expected a numeric (bool, int or float) "
            f"array. Encode categories as integer codes first"
        )
    if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
        bad = np.flatnonzero(~np.isfinite(arr.ravel()))
        raise ValueError(
            f"data[{name!r}] contains {bad.size} non-finite value(s) (NaN or inf), first at "
            f"flat index {int(bad[0])}; drop or impute them before fitting"
        )
    # jnp.asarray would compile a conversion program in every new process; the cast in
    # NumPy to JAX's canonical dtype and a transfer give the same array without one.
    return jax.device_put(np.asarray(arr, dtype=jax.dtypes.canonicalize_dtype(arr.dtype)))


def _labelled(value: Any) -> bool:
    """A pandas object whose row index carries labels (not a default 0..n-1 range)."""
    if not isinstance(value, pd.Series | pd.DataFrame):
        return False
    index = value.index
    return not (
        index.name is None
        and index.dtype.kind == "i"
        and np.array_equal(np.asarray(index), np.arange(len(index)))
    )


def _align_pandas(data: Mapping[str, Any]) -> dict[str, Any]:
    """Put pandas entries whose row labels are the same set in the first one's order.

    pandas aligns by label, so ``frame.y.iloc[::-1]`` next to ``frame.sigma`` means the same
    rows; matching by position would pair each school with another school's value. Entries of
    the same length whose labels differ are refused, naming both.
    """
    aligned = dict(data)
    reference: dict[int, tuple[str, pd.Index]] = {}
    for key, value in data.items():
        if not _labelled(value):
            continue
        index = value.index
        first = reference.setdefault(len(index), (key, index))
        if first[0] == key or index.equals(first[1]):
            continue
        same_labels = index.is_unique and first[1].is_unique and set(index) == set(first[1])
        if not same_labels:
            raise ValueError(
                f"data[{key!r}] and data[{first[0]!r}] are pandas objects of the same length "
                f"with different row labels ({list(index[:3])}... vs {list(first[1][:3])}...); "
                f"rows are matched by label, so give them the same index (or pass arrays)"
            )
        aligned[key] = value.loc[first[1]]
    return aligned


def prepare_data(model: Callable, data: Mapping[str, Any] | None) -> PreparedData:
    """Check ``data`` against ``model`` and convert it to arrays.

    Parameters
    ----------
    model
        The NumPyro model, called as ``model(**data)``.
    data
        Mapping of argument name to array, number, pandas Series/DataFrame or ``None``.

    Returns
    -------
    PreparedData

    Raises
    ------
    TypeError
        If ``data`` is not a mapping, or an entry is not numeric.
    ValueError
        If a key is not an argument of the model, or an entry has NaN/inf.
    """
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise TypeError(f"data must be a dict of argument name -> array, got {type(data).__name__}")
    names, var_kw = _accepted_names(model)
    unknown = sorted(set(data) - names) if not var_kw else []
    if unknown:
        raise ValueError(
            f"data has key(s) {unknown} that model {getattr(model, '__name__', model)!r} does "
            f"not take; its arguments are {sorted(names)}"
        )
    arrays, static, indexes, columns = {}, {}, {}, {}
    data = _align_pandas(data)
    for key, value in data.items():
        if isinstance(value, bool | int | float | np.bool_ | np.integer | np.floating):
            if isinstance(value, float | np.floating) and not np.isfinite(value):
                raise ValueError(f"data[{key!r}] is {value}; expected a finite number")
            static[key] = value.item() if isinstance(value, np.generic) else value
            continue
        if isinstance(value, pd.Series | pd.DataFrame):
            indexes[key] = value.index
            if isinstance(value, pd.DataFrame):
                columns[key] = value.columns
        arrays[key] = _to_array(key, value)
    return PreparedData(arrays=arrays, static=static, indexes=indexes, columns=columns)
