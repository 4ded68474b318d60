"""Episode likelihoods ``p(y | x, theta)`` on a network's outputs: Gaussian and categorical.

Both give the *summed* negative log-likelihood of an episode's points (the scale the
quadratic surrogate must match, spec section 9) and the diagonal of the generalised
Gauss-Newton matrix ``sum_n diag(J_n^T H_n J_n)``, where ``J_n`` is the Jacobian of the
network output at point ``n`` and ``H_n`` the Hessian of the NLL in that output:

* ``gaussian``: ``y ~ N(f(x), noise^2)`` with a known noise scale, one output;
  ``H_n = 1/noise^2``;
* ``categorical``: ``y ~ Cat(softmax(f(x)))`` over the output width;
  ``H_n = diag(p) - p p^T``, so ``diag(J^T H J) = sum_k p_k J_k^2 - (sum_k p_k J_k)^2``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp

from bayesuq.infer.arguments import check_choice, check_positive

LIKELIHOODS = ("gaussian", "categorical")

__all__ = ["LIKELIHOODS", "Likelihood"]


class Likelihood(NamedTuple):
    """An episode likelihood: ``kind`` (``"gaussian"`` or ``"categorical"``) and ``noise``.

    ``noise`` is the known standard deviation of the Gaussian likelihood (ignored, and
    stored as 1.0, for the categorical one).
    """

    kind: str
    noise: float = 1.0

    @classmethod
    def make(cls, kind: str, noise: float | None = None) -> Likelihood:
        """A checked likelihood (``noise`` required for ``"gaussian"``)."""
        check_choice("likelihood", kind, LIKELIHOODS)
        if kind == "gaussian":
            if noise is None:
                raise ValueError("a gaussian likelihood needs noise= (its known noise scale)")
            return cls(kind, check_positive("noise", noise))
        return cls(kind, 1.0)

    def point_nll(self, out: jax.Array, y: jax.Array) -> jax.Array:
        """Per-point NLL: ``out (..., K)`` network outputs, ``y (...)`` targets."""
        if self.kind == "gaussian":
            resid = (y - out[..., 0]) / self.noise
            return 0.5 * resid**2 + math.log(self.noise) + 0.5 * math.log(2 * math.pi)
        logp = jax.nn.log_softmax(out, axis=-1)
        return -jnp.take_along_axis(logp, y[..., None].astype(jnp.int32), axis=-1)[..., 0]

    def nll(self, out: jax.Array, y: jax.Array) -> jax.Array:
        """Summed NLL of the points of one episode."""
        return jnp.sum(self.point_nll(out, y))

    def ggn_diag(self, apply: Callable, theta: jax.Array, x: jax.Array) -> jax.Array:
        """``sum_n diag(J_n^T H_n J_n)`` at ``theta`` for inputs ``x (N, F)``; shape ``(D,)``."""
        jac = jax.jacrev(lambda t: apply(t, x))(theta)  # (N, K, D)
        if self.kind == "gaussian":
            return jnp.sum(jac**2, axis=(0, 1)) / self.noise**2
        probs = jax.nn.softmax(apply(theta, x), axis=-1)[..., None]  # (N, K, 1)
        first = jnp.sum(probs * jac**2, axis=1)
        second = jnp.sum(probs * jac, axis=1) ** 2
        return jnp.sum(first - second, axis=0)
