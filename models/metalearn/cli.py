"""``bayesuq metalearn {sine,digits}``: train, evaluate, write ``summary.csv`` and figures."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_cli(commands: argparse._SubParsersAction) -> None:
    """Register ``bayesuq metalearn`` (called by :mod:`bayesuq.cli`)."""
    parser = commands.add_parser(
        "metalearn",
        help="NIW-Meta few-shot meta-learning vs MAML/ProtoNet: sine-line or digits-fs",
    )
    parser.add_argument("benchmark", choices=("sine", "digits"), help="which benchmark")
    parser.add_argument(
        "--shots",
        type=int,
        default=None,
        help="support points per task (sine, default 5) or per class (digits, default 1)",
    )
    parser.add_argument("--ways", type=int, default=5, help="classes per episode (digits)")
    parser.add_argument(
        "--steps", type=int, default=None, help="meta-steps of every method (default: the study's)"
    )
    parser.add_argument(
        "--test-episodes", type=int, default=None, help="test episodes (default 600)"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--smoke", action="store_true", help="tiny run (seconds)")
    parser.add_argument("--out", default="results/metalearn", help="output folder")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.set_defaults(handler=_cli_main)


def _cli_main(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from bayesuq.models.metalearn.study import DIGITS, SINE, digits_study, sine_study

    settings = SINE if args.benchmark == "sine" else DIGITS
    if args.smoke:
        settings = settings.smoke()
    changes = {"seed": args.seed}
    if args.steps is not None:
        changes["steps"] = args.steps
        settings = settings.with_steps(max(args.steps, 1))  # every method's budget
    if args.test_episodes is not None:
        changes["test_episodes"] = args.test_episodes
    for name in ("steps", "test_episodes", "seed"):
        if changes.get(name, 1) < (0 if name == "seed" else 1):
            raise ValueError(f"--{name.replace('_', '-')}: got {changes[name]}; expected >= 1")
    settings = replace(settings, **changes)
    out = Path(args.out)
    if args.benchmark == "sine":
        shots = 5 if args.shots is None else args.shots
        result = sine_study(settings, shots=shots, progress=not args.quiet)
    else:
        shots = 1 if args.shots is None else args.shots
        result = digits_study(settings, ways=args.ways, shots=shots, progress=not args.quiet)
    written = write_study(result, out, args.benchmark)
    print(result.summary.to_string(index=False))
    print("wrote " + ", ".join(str(p) for p in written))
    return 0


def write_study(result, out: Path, benchmark: str) -> list[Path]:
    """``summary.csv``, ``seconds.csv`` (each method's fit, calibration and prediction
    wall time) and the figures of a study under ``out``; returns the paths."""
    import numpy as np
    import pandas as pd

    from bayesuq.io import atomic_write
    from bayesuq.models.metalearn.plots import (
        plot_bars,
        plot_reliability,
        plot_sine_tasks,
        save_figure,
    )

    out.mkdir(parents=True, exist_ok=True)
    summary_path = atomic_write(
        out / "summary.csv", lambda p: result.summary.to_csv(p, index=False)
    )
    seconds = pd.DataFrame({"step": list(result.seconds), "seconds": list(result.seconds.values())})
    paths = [
        summary_path,
        atomic_write(out / "seconds.csv", lambda p: seconds.to_csv(p, index=False)),
    ]
    if benchmark == "sine":
        models = {k: result.models[k] for k in ("niw_meta", "maml")}
        noise = dict(zip(result.summary["method"], result.summary["noise"], strict=True))
        figure = plot_sine_tasks(models, result.episodes, noise)
        paths.append(save_figure(figure, out / "sine_tasks.png"))
        paths.append(
            save_figure(
                plot_bars(result.summary, "mse", "mse_se", ylabel="test MSE"), out / "sine_mse.png"
            )
        )
    else:
        paths.append(
            save_figure(
                plot_reliability(result.outputs, np.asarray(result.episodes.query_y)),
                out / "reliability.png",
            )
        )
        paths.append(
            save_figure(
                plot_bars(result.summary, "accuracy", "accuracy_ci95", ylabel="accuracy"),
                out / "accuracy.png",
            )
        )
    return paths
