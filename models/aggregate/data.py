"""Simulated trials and the model inputs each likelihood mode needs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bayesuq.infer.arguments import check_choice

LIKELIHOODS = ("local", "full", "exact", "approx")
"""Likelihood modes: own raw data only; raw data of both trials (gold standard); the
analytic MVN of the averages (linear model only); the simulated MVN of the averages."""

_NEEDS = {
    "local": ("local",),
    "full": ("local", "external_raw"),
    "exact": ("local", "external_mean"),
    "approx": ("local", "external_mean", "simulation"),
}


@dataclass(frozen=True)
class Simulation:
    """A simulated pair of trials.

    Attributes
    ----------
    data
        Every model input: the local raw data, the external raw data (``y_ext``, used only
        by ``likelihood="full"``), the published means ``ybar_ext`` and ``J_prime``.
    truth
        The true parameter values, ``site -> value``.
    groups
        Which keys of ``data`` belong to ``"local"``, ``"external_raw"`` and
        ``"external_mean"``.
    """

    data: dict[str, Any]
    truth: dict[str, Any]
    groups: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def model_data(
        self,
        likelihood: str,
        *,
        xi: Any = None,
        mask: Any = None,
    ) -> dict[str, Any]:
        """The inputs of the model built for ``likelihood``.

        ``xi`` (and optionally ``mask``) are required for ``likelihood="approx"``.
        """
        check_likelihood(likelihood, LIKELIHOODS)
        keys = [k for group in _NEEDS[likelihood] for k in self.groups.get(group, ())]
        out = {k: self.data[k] for k in keys}
        if likelihood == "approx":
            if xi is None:
                raise ValueError(
                    "likelihood='approx' needs xi, the fixed standardised random effects of "
                    "shape (J_tilde, n_effects); draw them with draw_xi"
                )
            out["xi"] = xi
            if mask is not None:
                out["mask"] = mask
        return out


def check_likelihood(likelihood: Any, allowed: tuple[str, ...]) -> str:
    """Raise unless ``likelihood`` is one of ``allowed``."""
    return check_choice("likelihood", likelihood, allowed)


def check_design(name: str, value: Any, *, ndim: int, shape: Mapping[int, int] | None = None):
    """Raise unless ``value`` is an array of ``ndim`` dims with the given axis lengths."""
    if value is None:
        raise ValueError(f"{name} is missing; expected an array with {ndim} dimension(s)")
    got = np.shape(value)
    if len(got) != ndim:
        raise ValueError(f"{name} has shape {got}; expected {ndim} dimension(s)")
    for axis, size in (shape or {}).items():
        if got[axis] != size:
            raise ValueError(f"{name} has shape {got}; expected length {size} on axis {axis}")


def checked_truth(defaults: Mapping[str, Any], truth: Mapping[str, Any] | None) -> dict:
    """``defaults`` updated by ``truth``, checked: known keys, finite values, sds > 0."""
    truth = dict(truth or {})
    unknown = sorted(set(truth) - set(defaults))
    if unknown:
        raise ValueError(
            f"truth has unknown parameter(s) {unknown}; expected some of {sorted(defaults)}"
        )
    merged = {**defaults, **truth}
    for name, value in truth.items():
        array = np.asarray(value, dtype=float)
        if array.shape != np.shape(defaults[name]) or not np.all(np.isfinite(array)):
            raise ValueError(
                f"truth[{name!r}] = {value!r}; expected finite value(s) of shape "
                f"{np.shape(defaults[name])}"
            )
        if name.startswith("sigma") and np.any(array <= 0):
            raise ValueError(f"truth[{name!r}] = {value!r}; a standard deviation must be > 0")
    return merged
