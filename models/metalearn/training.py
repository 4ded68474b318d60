"""The meta-training loop shared by NIW-Meta and the baselines: Adam over meta-batches.

One jitted step per (loss, task sampler, meta-batch size, learning rate), cached by its
owner, so every meta-step of a run (and every later run with the same shapes) calls the
same compiled program; the episodes are drawn inside the step from the sampler's arrays
(an argument, not a constant).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from bayesuq.infer.arguments import check_int, check_positive
from bayesuq.models.metalearn.tasks import TaskSampler

__all__ = ["TrainResult", "meta_train", "train_step"]


class TrainResult(NamedTuple):
    """Fitted parameters, the loss history (``pandas.DataFrame``) and timings (seconds)."""

    params: Any
    history: Any
    compile_seconds: float
    total_seconds: float


def train_step(
    loss: Callable[..., tuple[jax.Array, dict[str, jax.Array]]],
    tasks: TaskSampler,
    meta_batch: int,
    learning_rate: float,
    cache: dict,
    tag: Any = None,
) -> Callable:
    """The jitted ``step(params, opt_state, extra, data, key)`` (built once per settings).

    ``loss(params, episodes, key, *extra) -> (value, parts)``; ``extra`` is a tuple of
    arrays passed to every step (e.g. the prior), ``data`` the sampler's arrays.
    """
    key = ("train", tag, loss, tasks.draw, meta_batch, learning_rate)
    if key not in cache:
        optimiser = optax.adam(learning_rate)
        draw = tasks.draw

        def step(params, opt_state, extra, data, key):
            k_draw, k_loss = jax.random.split(key)
            episodes = draw(data, k_draw, meta_batch)
            (value, parts), grads = jax.value_and_grad(loss, has_aux=True)(
                params, episodes, k_loss, *extra
            )
            updates, opt_state = optimiser.update(grads, opt_state, params)
            return optax.apply_updates(params, updates), opt_state, value, parts

        cache[key] = (jax.jit(step), optimiser)
    return cache[key]


def meta_train(
    loss: Callable[..., tuple[jax.Array, dict[str, jax.Array]]],
    params: Any,
    tasks: TaskSampler,
    *,
    steps: int,
    meta_batch: int,
    learning_rate: float,
    key: jax.Array,
    cache: dict,
    extra: tuple = (),
    progress: bool = True,
    desc: str = "meta-training",
    tag: Any = None,
) -> TrainResult:
    """Minimise ``loss`` over ``steps`` meta-batches of ``meta_batch`` episodes with Adam.

    Raises ``FloatingPointError`` naming the step where the loss became non-finite.
    """
    import pandas as pd
    from tqdm.auto import tqdm

    if not isinstance(tasks, TaskSampler):
        raise TypeError(f"tasks must be a TaskSampler, got {type(tasks).__name__}")
    steps = check_int("steps", steps, minimum=1)
    meta_batch = check_int("meta_batch", meta_batch, minimum=1)
    learning_rate = check_positive("learning_rate", learning_rate)
    if tasks.n_tasks is not None and meta_batch > tasks.n_tasks:
        raise ValueError(f"meta_batch {meta_batch} exceeds the {tasks.n_tasks} tasks")
    start = time.perf_counter()
    step, optimiser = train_step(loss, tasks, meta_batch, learning_rate, cache, tag)
    data = jax.tree.map(jnp.asarray, tasks.data)
    opt_state = optimiser.init(params)
    values, parts = [], []
    compile_s = 0.0
    for t in tqdm(range(steps), disable=not progress, desc=desc):
        t0 = time.perf_counter()
        params, opt_state, value, part = step(
            params, opt_state, extra, data, jax.random.fold_in(key, t)
        )
        if t == 0:
            value.block_until_ready()
            compile_s = time.perf_counter() - t0
        values.append(value)
        parts.append(part)
    values = np.asarray(jnp.stack(values))
    table = {"loss": values}
    for name in parts[0]:
        table[name] = np.asarray(jnp.stack([p[name] for p in parts]))
    if not np.all(np.isfinite(values)):
        bad = int(np.argmin(np.isfinite(values)))
        raise FloatingPointError(
            f"{desc}: the loss became non-finite at step {bad}; lower the learning rate or "
            "the inner step size, or check the inputs"
        )
    return TrainResult(params, pd.DataFrame(table), compile_s, time.perf_counter() - start)
