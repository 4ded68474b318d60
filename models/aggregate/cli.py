"""``bayesuq aggregate``: fit every likelihood mode, run the noise study, write results."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def add_cli(commands: argparse._SubParsersAction) -> None:
    """Register ``bayesuq aggregate``."""
    p = commands.add_parser(
        "aggregate",
        help="raw data + published means (Weber et al. 2018): compare likelihood modes",
    )
    p.add_argument("--model", choices=("linear", "turnover"), default="linear")
    p.add_argument("--out", "-o", default="results/aggregate", help="output folder")
    p.add_argument(
        "--J-tilde",
        type=int,
        default=500,
        dest="J_tilde",
        help="simulated patients of the approx likelihood",
    )
    p.add_argument("--chains", type=int, default=None, help="default 4 (2 with --smoke)")
    p.add_argument("--draws", type=int, default=None, help="default 1000 (100 with --smoke)")
    p.add_argument("--warmup", type=int, default=None, help="default 1000 (100 with --smoke)")
    p.add_argument(
        "--chain-method",
        default="auto",
        dest="chain_method",
        choices=("auto", "vectorized", "sequential", "parallel", "threads"),
        help="how bayesuq.nuts runs the chains",
    )
    p.add_argument("--replicates", type=int, default=1000, help="xi sets in the noise study")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument(
        "--modes", default=None, help="comma-separated likelihood modes (default: all of them)"
    )
    p.add_argument(
        "--smoke",
        action="store_true",
        help="tiny noise study and, unless given, tiny fit settings (seconds, not minutes)",
    )
    p.set_defaults(handler=_cli_main)


def _cli_main(args: argparse.Namespace) -> int:
    from bayesuq.io import atomic_write
    from bayesuq.models.aggregate.study import (
        compare_modes,
        linear_noise_studies,
        plot_modes,
        plot_noise,
        summary_table,
    )

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    defaults = (100, 100, 2) if args.smoke else (1000, 1000, 4)
    draws, warmup, chains = (
        given if given is not None else default
        for given, default in zip((args.draws, args.warmup, args.chains), defaults, strict=True)
    )
    replicates, j_grid = args.replicates, None
    if args.smoke:
        replicates, j_grid = 50, [50, 100, 200, 400]
    sim, fits = compare_modes(
        args.model,
        modes=args.modes.split(",") if args.modes else None,
        J_tilde=args.J_tilde,
        seed=args.seed,
        chains=chains,
        draws=draws,
        warmup=warmup,
        chain_method=args.chain_method,
        progress=False,
    )
    parameters = ["delta"] + (["mu_a", "beta"] if args.model == "linear" else ["lEmax"])
    table = summary_table(fits, sim.truth, parameters)
    grid, band, exact_values, study = linear_noise_studies(
        replicates=replicates,
        J_tildes=j_grid,
        grid_points=11 if args.smoke else 51,
        seed=args.seed,
    )
    atomic_write(out / "summary.csv", lambda partial: table.to_csv(partial, index=False))
    deltas = [p for p in table.parameter.unique() if p.startswith("delta")]
    plot_modes(table, deltas, out / "modes.png")
    plot_noise(grid, band, exact_values, study, out / "noise_study.png")
    summary = {
        "model": args.model,
        "J_tilde": args.J_tilde,
        "noise_study_slope": study.slope,
        "delta": table[table.parameter.isin(deltas)][["mode", "parameter", "mean", "sd"]].to_dict(
            orient="records"
        ),
    }
    atomic_write(out / "summary.json", lambda p: p.write_text(json.dumps(summary, indent=2)))
    print(table.to_string(index=False))
    print(f"noise study slope {study.slope:.3f}; results in {out}")
    return 0
