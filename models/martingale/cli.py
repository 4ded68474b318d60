"""``bayesuq martingale``: run the martingale-posterior study (package code, no file paths)."""

from __future__ import annotations

import argparse


def _cli_main(args: argparse.Namespace) -> int:
    from bayesuq.models.martingale.study import run_study

    table = run_study(args.out, smoke=args.smoke)
    print(table.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    print(f"wrote martingale.png, summary.csv and normal.nc to {args.out}")
    return 0


def add_cli(commands: argparse._SubParsersAction) -> None:
    """Register ``bayesuq martingale [--smoke] [--out DIR]``."""
    parser = commands.add_parser(
        "martingale",
        help="martingale posteriors: the paper's experiments at small scale, with baselines",
    )
    parser.add_argument(
        "--smoke", action="store_true", help="tiny run without the baselines (seconds)"
    )
    parser.add_argument("--out", "-o", default="results/martingale", help="output folder")
    parser.set_defaults(handler=_cli_main)
