"""The external trial's contribution to an aggregate model, by likelihood mode.

Every aggregate model (linear, turnover, AMD) adds the same term for the external trial
(Weber et al. 2018, sections 2-3), chosen by its likelihood mode:

* ``"local"``: nothing (the model sees its own raw data only);
* ``"full"``: the external trial's raw data, as sample sites (the gold standard);
* ``"exact"``: ``log MVN(ybar'; m, Sigma / J')`` in closed form (linear model only);
* ``"approx"``: the simulated ``l~ = log MVN(ybar'; M~, (S~ + sigma_y^2 I) / J')`` of
  :func:`~bayesuq.models.aggregate.mvn_average_loglik` from fixed ``xi``.

:func:`external_likelihood` is that one dispatch; the models supply what differs (the raw
data sites, the closed form, the trajectory and its parameters).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import numpyro

from bayesuq.models.aggregate.data import check_design
from bayesuq.models.aggregate.likelihood import Trajectory, mvn_average_loglik
from bayesuq.models.aggregate.raw import N_EFFECTS


def external_likelihood(
    likelihood: str,
    *,
    n_times: int,
    ybar_ext: Any = None,
    J_prime: Any = None,
    sigma_y: Any = None,
    full: Callable[[], None] | None = None,
    exact: Callable[[], jax.Array] | None = None,
    trajectory: Trajectory | None = None,
    params: Any = None,
    xi: Any = None,
    mask: Any = None,
) -> None:
    """Add the external trial's likelihood term of mode ``likelihood`` to the model.

    Parameters
    ----------
    likelihood
        ``"local"``, ``"full"``, ``"exact"`` or ``"approx"`` (see the module docstring).
    n_times
        ``T'``, the external trial's number of visits (the length of ``ybar_ext``).
    ybar_ext, J_prime
        The published means ``(T',)`` and the number of patients behind them (``exact``
        and ``approx``).
    sigma_y
        The residual sd (``approx``).
    full
        Adds the external raw data as sample sites (``full``).
    exact
        Returns the closed-form ``log MVN(ybar'; ...)`` (``exact``).
    trajectory, params, xi, mask
        The noise-free curve of one patient, the external trial's population parameters
        (already shifted by ``delta``), the fixed standardised random effects
        ``(J_tilde, 2)`` and the optional mask (``approx``).

    Raises
    ------
    ValueError
        A missing or misshapen input of the chosen mode, named.
    """
    if likelihood == "local":
        return
    if likelihood == "full":
        full()
        return
    check_design("ybar_ext", ybar_ext, ndim=1, shape={0: n_times})
    if J_prime is None:
        raise ValueError("J_prime is missing; expected the external trial's sample size")
    if likelihood == "exact":
        value = exact()
    else:
        check_design("xi", xi, ndim=2, shape={1: N_EFFECTS})
        value = mvn_average_loglik(
            ybar_ext, trajectory, params, xi, sigma_y=sigma_y, J_prime=J_prime, mask=mask
        )
    numpyro.factor("ybar_ext_loglik", value)
