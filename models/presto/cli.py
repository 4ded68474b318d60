"""``bayesuq presto``: run the rare-class MSE simulation study, write a table and a figure."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_cli(commands: argparse._SubParsersAction) -> None:
    """Register ``bayesuq presto`` (called by :mod:`bayesuq.cli`)."""
    p = commands.add_parser(
        "presto", help="PRESTO simulation study: rare-class MSE of PRESTO vs Logit vs PO"
    )
    p.add_argument("--design", choices=("sparse", "dense"), default="sparse")
    p.add_argument("--reps", type=int, default=20, help="replications")
    p.add_argument("--n", type=int, default=2500, help="observations per data set")
    p.add_argument("--p", type=int, default=10, help="features")
    p.add_argument("--dev-prob", type=float, default=0.5, help="sparse design: jump probability")
    p.add_argument("--intercepts", type=float, nargs="+", default=[0.0, 3.5, 5.5])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("-o", "--out", default="results/presto", help="output folder")
    p.set_defaults(handler=_cli_main)


def _cli_main(args: argparse.Namespace) -> int:
    from bayesuq.models.presto.simulate import simulation_study, summarise_study

    if args.reps < 1:
        raise ValueError(f"--reps: got {args.reps}; expected a positive integer")
    table = simulation_study(
        design=args.design,
        n_reps=args.reps,
        n=args.n,
        p=args.p,
        dev_prob=args.dev_prob,
        intercepts=tuple(args.intercepts),
        seed=args.seed,
    )
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    table.to_csv(out / "mse.csv", index=False)
    summary = summarise_study(table)
    summary.to_csv(out / "summary.csv")
    plot_study(table, out / "mse_boxplot.png", title=f"{args.design} differences, n={args.n}")
    print(summary.to_string())
    print(f"wrote {out / 'mse.csv'}, {out / 'summary.csv'} and {out / 'mse_boxplot.png'}")
    return 0


def plot_study(table, path: Path, *, title: str = "") -> None:
    """Box plots of the rare-class MSE per method (Agg backend)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    methods = ["PRESTO", "Logit", "PO"]
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.boxplot([table.loc[table.method == m, "mse"] for m in methods], tick_labels=methods)
    ax.set_yscale("log")
    ax.set_ylabel("rare-class MSE (in-sample)")
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
