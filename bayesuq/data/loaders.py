"""Loaders of the datasets shipped with the package."""

from __future__ import annotations

from importlib.resources import files

import pandas as pd


def load_eight_schools() -> pd.DataFrame:
    """The eight schools SAT coaching study (Rubin 1981, J. Educational Statistics 6(4)).

    Returns
    -------
    pandas.DataFrame
        Indexed by ``school``, with the estimated coaching effect ``y`` and its standard
        error ``sigma``.
    """
    with files("bayesuq.data").joinpath("eight_schools.csv").open() as handle:
        return pd.read_csv(handle, index_col="school")
