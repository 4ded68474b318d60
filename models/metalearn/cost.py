"""Memory and time of one meta-step as the number of inner steps grows: NIW-Meta vs MAML.

NIW-Meta's surrogate is under ``stop_gradient``, so the backward pass never enters the inner
loop and the memory of a meta-step does not depend on the number of SGLD steps; MAML's
second-order meta-gradient differentiates through the inner loop and keeps every inner
step's activations (Kim & Hospedales 2024, Fig. 5). Memory is read from XLA's compiled
memory analysis (``jax.jit(f).lower(...).compile().memory_analysis()``): ``temp`` bytes are
the program's scratch buffers, the peak beyond its inputs and outputs.
"""

from __future__ import annotations

import time
from typing import Any

import jax
import numpy as np

from bayesuq.models.metalearn.episode import EpisodeConfig, init_global, meta_loss
from bayesuq.models.metalearn.likelihood import Likelihood
from bayesuq.models.metalearn.maml import maml_loss
from bayesuq.models.metalearn.niw import NIW
from bayesuq.models.metalearn.tasks import Episodes
from bayesuq.nn import Network

__all__ = ["METHODS", "meta_step", "meta_step_cost"]

METHODS = ("niw_meta", "maml", "maml_first_order")


def meta_step(
    method: str, network: Network, likelihood: Likelihood, inner_steps: int, **settings: Any
):
    """``(f, args)``: the meta-gradient of one meta-batch as a function, and its arguments.

    ``f(params, episodes, key)`` returns the loss and the gradient in the meta-parameters.
    NIW-Meta uses the SGLD surrogate with ``inner_steps`` steps (``settings``: any
    :class:`~bayesuq.models.metalearn.episode.EpisodeConfig` field); MAML ``inner_steps``
    gradient steps of size ``settings.get("learning_rate", 0.01)``.
    """
    if method == "niw_meta":
        config = EpisodeConfig(steps=inner_steps, **settings)

        def f(params, episodes, key, prior):
            return jax.value_and_grad(meta_loss, has_aux=True)(
                params,
                prior,
                1000.0,
                episodes,
                key,
                apply=network.apply,
                likelihood=likelihood,
                config=config,
            )

        return f
    if method not in METHODS:
        raise ValueError(f"method must be one of {list(METHODS)}, got {method!r}")
    lr = settings.get("learning_rate", 0.01)

    def g(theta, episodes, key, prior):
        return jax.value_and_grad(maml_loss, has_aux=True)(
            theta,
            episodes,
            apply=network.apply,
            likelihood=likelihood,
            steps=inner_steps,
            learning_rate=lr,
            first_order=method == "maml_first_order",
        )

    return g


def meta_step_cost(
    method: str,
    network: Network,
    likelihood: Likelihood,
    episodes: Episodes,
    inner_steps: int,
    *,
    repeats: int = 20,
    seed: int = 0,
    **settings: Any,
) -> dict[str, float]:
    """Compiled memory (bytes) and run time (seconds per meta-step) of one meta-gradient.

    Returns ``temp_bytes`` (XLA scratch: the peak beyond arguments and outputs),
    ``argument_bytes``, ``output_bytes``, ``compile_seconds`` and ``step_seconds`` (median
    of ``repeats`` timed calls after one warm-up).
    """
    key = jax.random.PRNGKey(seed)
    theta = network.init(key)
    if method == "niw_meta":
        params = init_global(theta, covariance="diag", n0=1.0, gamma0=1e2)
        d = theta.shape[0]
        prior = NIW(
            np.zeros(d, theta.dtype),
            np.asarray(0.01, theta.dtype),
            np.full(d, 0.01, theta.dtype),
            np.asarray(2.0, theta.dtype),
        )
    else:
        params, prior = theta, None
    f = jax.jit(meta_step(method, network, likelihood, inner_steps, **settings))
    episodes = episodes._replace(truth=None)
    start = time.perf_counter()
    compiled = f.lower(params, episodes, key, prior).compile()
    compile_s = time.perf_counter() - start
    memory = compiled.memory_analysis()
    jax.block_until_ready(compiled(params, episodes, key, prior))
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(compiled(params, episodes, key, prior))
        times.append(time.perf_counter() - t0)
    return {
        "temp_bytes": float(memory.temp_size_in_bytes),
        "argument_bytes": float(memory.argument_size_in_bytes),
        "output_bytes": float(memory.output_size_in_bytes),
        "compile_seconds": compile_s,
        "step_seconds": float(np.median(times)),
    }
