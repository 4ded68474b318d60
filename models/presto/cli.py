"""``bayesuq presto``: run the rare-class MSE simulation study, write a table and a figure."""

from __future__ import annotations

import argparse
from pathlib import Path

SMOKE = {"reps": 2, "n": 600, "p": 4}
SMOKE_PRESTO = {"n_lambdas": 6, "cv": 3, "tol": 1e-6}


def add_cli(commands: argparse._SubParsersAction) -> None:
    """Register ``bayesuq presto`` (called by :mod:`bayesuq.cli`)."""
    p = commands.add_parser(
        "presto", help="PRESTO simulation study: rare-class MSE of PRESTO vs Logit vs PO"
    )
    p.add_argument("--design", choices=("sparse", "dense"), default="sparse")
    p.add_argument("--reps", type=int, default=None, help="replications (default 20; 2 smoke)")
    p.add_argument("--n", type=int, default=None, help="rows per data set (2500; 600 smoke)")
    p.add_argument("--p", type=int, default=None, help="features (default 10; 4 smoke)")
    p.add_argument("--dev-prob", type=float, default=0.5, help="sparse design: jump probability")
    p.add_argument("--intercepts", type=float, nargs="+", default=[0.0, 3.5, 5.5])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("-o", "--out", default="results/presto", help="output folder")
    p.add_argument(
        "--smoke",
        action="store_true",
        help="a seconds-long run: 2 replications of n = 600, p = 4, a short PRESTO path",
    )
    p.set_defaults(handler=_cli_main)


def _cli_main(args: argparse.Namespace) -> int:
    from bayesuq.io import atomic_write
    from bayesuq.models.presto.study import plot_study, simulation_study, summarise_study

    sizes = {"reps": 20, "n": 2500, "p": 10} | (SMOKE if args.smoke else {})
    sizes |= {k: getattr(args, k) for k in sizes if getattr(args, k) is not None}
    table = simulation_study(
        design=args.design,
        n_reps=sizes["reps"],
        n=sizes["n"],
        p=sizes["p"],
        dev_prob=args.dev_prob,
        intercepts=tuple(args.intercepts),
        seed=args.seed,
        presto_kwargs=SMOKE_PRESTO if args.smoke else None,
    )
    out = Path(args.out)
    summary = summarise_study(table)
    atomic_write(out / "mse.csv", lambda partial: table.to_csv(partial, index=False))
    atomic_write(out / "summary.csv", lambda partial: summary.to_csv(partial))
    title = f"{args.design} differences, n={sizes['n']}"
    plot_study({title: table}, out / "mse_boxplot.png")
    print(summary.to_string())
    print(f"wrote {out / 'mse.csv'}, {out / 'summary.csv'} and {out / 'mse_boxplot.png'}")
    return 0
