"""Benchmark NIW-Meta's meta-step against MAML's as the number of inner steps grows.

Two measurements, with ratios against MAML (second order) taken in the same run:

1. **Cost per meta-step** for 1, 3, 10 and 30 inner steps (NIW-Meta: SGLD steps of its
   surrogate; MAML: gradient steps): XLA's compiled scratch memory of one meta-gradient
   (``jax.jit(f).lower(...).compile().memory_analysis().temp_size_in_bytes``, the peak
   beyond arguments and outputs) and the median wall time of a compiled step (meta-steps
   per second). 16 sine-line episodes, MLP 1-40-40-1 (D = 1761), float32.
2. **Time to a fixed sine-line MSE**: NIW-Meta (the case-study settings) and MAML are
   trained in chunks of meta-steps; after each chunk the test MSE on 200 held-out tasks is
   measured (not timed) and the run stops when it reaches ``--target`` (default 4.5; the
   "predict zero" anchor is 16.1) or at ``--max-steps``.

CPU only here: no GPU was available on the machine these figures come from; on a machine
with one, JAX uses it and the same script prints GPU figures.

Usage::

    python benchmarks/bench_metalearn.py                 # full (about 15 min on 2 CPU cores)
    python benchmarks/bench_metalearn.py --quick         # a smoke run
"""

from __future__ import annotations

import argparse
import platform
import time

import jax

from bayesuq.models.metalearn import MAML, SINE, NIWMeta, regression_metrics, sine_line_tasks
from bayesuq.models.metalearn.cost import meta_step_cost
from bayesuq.nn import mlp


def cost_table(inner: tuple[int, ...], repeats: int, batch: int) -> list[dict]:
    tasks = sine_line_tasks()
    episodes = tasks.sample(0, batch)
    net = mlp((1, 40, 40, 1))
    rows = []
    for k in inner:
        row = {"inner_steps": k}
        for method in ("niw_meta", "maml", "maml_first_order"):
            settings = {"step_scale": 0.004} if method == "niw_meta" else {}
            cost = meta_step_cost(
                method, net, tasks.likelihood, episodes, k, repeats=repeats, **settings
            )
            row[f"{method}_MiB"] = cost["temp_bytes"] / 2**20
            row[f"{method}_steps_per_s"] = 1.0 / cost["step_seconds"]
        rows.append(row)
    return rows


def time_to_mse(model, target: float, chunk: int, max_steps: int, test) -> tuple[float, int, float]:
    """Wall seconds of training (evaluation excluded) until the test MSE <= target."""
    tasks = sine_line_tasks()
    trained, seconds, mse = 0, 0.0, float("inf")
    params = None
    while trained < max_steps:
        start = time.perf_counter()
        if params is None:
            model.fit(tasks, steps=chunk, meta_batch=16, learning_rate=1e-3, progress=False)
        else:  # continue from the current parameters: refit from them
            _continue(model, tasks, chunk)
        seconds += time.perf_counter() - start
        params = model.params_
        trained += chunk
        kwargs = {"draws": 30} if isinstance(model, NIWMeta) else {}
        out = model.predict_outputs(test.support_x, test.support_y, test.query_x, **kwargs)
        mse = regression_metrics(out, test.query_y, 0.3)["mse"]
        if mse <= target:
            break
    return seconds, trained, mse


def _continue(model, tasks, chunk):
    """Train ``chunk`` more meta-steps from the model's current parameters."""
    from bayesuq.models.metalearn.training import meta_train
    from bayesuq.precision import computing_in

    with computing_in(model.precision):
        key = jax.random.PRNGKey(model.seed + 7919 * (len(model.history_) + 1))
        if isinstance(model, NIWMeta):
            loss = model._loss()
            extra = (model._prior(), jax.numpy.asarray(float(model.n_episodes_)))
        else:
            loss, extra = model.loss_function(), ()
        result = meta_train(
            loss,
            model.params_,
            tasks,
            steps=chunk,
            meta_batch=16,
            learning_rate=1e-3,
            key=key,
            cache=model._programs,
            extra=extra,
            progress=False,
            tag=model.precision,
        )
    model.params_ = result.params
    import pandas as pd

    model.history_ = pd.concat([model.history_, result.history], ignore_index=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--target", type=float, default=4.5)
    parser.add_argument("--max-steps", type=int, default=4000)
    args = parser.parse_args()
    inner = (1, 3) if args.quick else (1, 3, 10, 30)
    print(
        f"machine: {platform.processor() or platform.machine()}, "
        f"JAX {jax.__version__} on {jax.default_backend()} ({jax.devices()[0]})"
    )

    print("\n1. cost per meta-step (16 episodes, MLP 1-40-40-1)")
    rows = cost_table(inner, repeats=3 if args.quick else 20, batch=4 if args.quick else 16)
    header = (
        "inner",
        "NIW MiB",
        "MAML MiB",
        "FO MiB",
        "mem NIW/MAML",
        "NIW st/s",
        "MAML st/s",
        "FO st/s",
        "speed NIW/MAML",
    )
    print(" ".join(f"{h:>14}" for h in header))
    for r in rows:
        print(
            " ".join(
                f"{v:>14.3f}"
                for v in (
                    r["inner_steps"],
                    r["niw_meta_MiB"],
                    r["maml_MiB"],
                    r["maml_first_order_MiB"],
                    r["niw_meta_MiB"] / r["maml_MiB"],
                    r["niw_meta_steps_per_s"],
                    r["maml_steps_per_s"],
                    r["maml_first_order_steps_per_s"],
                    r["niw_meta_steps_per_s"] / r["maml_steps_per_s"],
                )
            )
        )

    print(f"\n2. training time to a test MSE <= {args.target} (200 held-out tasks)")
    test = sine_line_tasks(queries=100).sample(4242, 200)
    net = mlp((1, 40, 40, 1))
    chunk = 20 if args.quick else 250
    max_steps = 40 if args.quick else args.max_steps
    results = {}
    for name, model in (
        ("niw_meta", NIWMeta(net, seed=0, **SINE.niw)),
        ("maml", MAML(net, seed=0, **SINE.maml)),
    ):
        seconds, steps, mse = time_to_mse(model, args.target, chunk, max_steps, test)
        results[name] = seconds
        reached = "reached" if mse <= args.target else "NOT reached"
        print(f"{name:>10}: {seconds:7.1f} s, {steps} meta-steps, MSE {mse:.2f} ({reached})")
    print(f"ratio NIW-Meta / MAML: {results['niw_meta'] / results['maml']:.2f}")
    print("(first chunk includes compilation for both methods)")


if __name__ == "__main__":
    main()
