"""``bayesuq deup``: sequential model optimisation and the misspecified-regression study.

``bayesuq deup optimize --function multi_optima --surrogate deup --steps 50 --seeds 5 --out DIR``
writes ``DIR/<function>_<surrogate>.nc`` (the result of
:func:`~bayesuq.models.deup.optimize`), ``DIR/curves.png`` and ``DIR/summary.csv``, and
prints the summary. ``bayesuq deup misspecified --out DIR`` runs the Spearman study.
Both take ``--smoke`` (a tiny run).
"""

from __future__ import annotations

import argparse
from pathlib import Path

SMOKE = {
    "steps": 3,
    "seeds": 2,
    "hidden": (16,),
    "fit_steps": 10,
    "epochs": 2,
    "passes": 4,
    "members": 2,
    "raw_samples": 32,
    "restarts": 2,
    "iterations": 3,
    "fast_compile": True,
}


def _optimize(args: argparse.Namespace) -> int:
    from bayesuq.io import atomic_write
    from bayesuq.models.deup.functions import get_function
    from bayesuq.models.deup.smo import optimize
    from bayesuq.models.deup.study import curves_figure, summary_table

    function = get_function(args.function)
    options = {
        "surrogate": args.surrogate,
        "acquisition": args.acquisition,
        "trust_region": args.trust_region,
        "steps": args.steps,
        "seeds": args.seeds,
        "seed": args.seed,
        "progress": not args.no_progress,
    }
    if args.n_init is not None:
        options["n_init"] = args.n_init
    elif args.trust_region:
        options["n_init"] = 20
    if args.smoke:
        options.update(SMOKE)
        options["n_init"] = min(options.get("n_init", 6), 6)
    result = optimize(function, **options)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    label = f"{args.surrogate}-{args.acquisition}" + ("-turbo" if args.trust_region else "")
    nc = atomic_write(
        out / f"{function.name}_{label}.nc", lambda p: result.to_netcdf(p, engine="h5netcdf")
    )
    png = curves_figure({function.name: {label: result}}, out / f"{function.name}_{label}.png")
    table = summary_table({function.name: {label: result}})
    csv = atomic_write(out / "summary.csv", lambda p: table.to_csv(p, index=False))
    print(table.to_string(index=False, float_format="%.4f"))
    print(f"wrote {nc}, {png} and {csv}")
    return 0


def _misspecified(args: argparse.Namespace) -> int:
    from bayesuq.io import atomic_write
    from bayesuq.models.deup.misspecified import misspecified_figure, spearman_study

    study = spearman_study(seed=args.seed, smoke=args.smoke)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    csv = atomic_write(out / "spearman.csv", lambda p: study["table"].to_csv(p, index=False))
    png = misspecified_figure(study, out / "misspecified.png")
    print(study["table"].to_string(index=False, float_format="%.3f"))
    print(f"wrote {csv} and {png}")
    return 0


def add_cli(commands: argparse._SubParsersAction) -> None:
    """Register ``bayesuq deup optimize ...`` and ``bayesuq deup misspecified ...``."""
    parser = commands.add_parser(
        "deup", help="DEUP: sequential model optimisation and the misspecified-regression study"
    )
    actions = parser.add_subparsers(dest="action", required=True)
    opt = actions.add_parser("optimize", help="maximise a test function (curves, netCDF, table)")
    opt.add_argument("--function", default="multi_optima", help="multi_optima, levi_n13, ackley<d>")
    opt.add_argument(
        "--surrogate", default="deup", choices=("deup", "gp", "mc_dropout", "ensemble", "random")
    )
    opt.add_argument("--acquisition", default="ei", choices=("ei", "ucb"))
    opt.add_argument("--trust-region", action="store_true", help="TuRBO trust regions")
    opt.add_argument("--steps", type=int, default=50)
    opt.add_argument("--seeds", type=int, default=5)
    opt.add_argument("--seed", type=int, default=0)
    opt.add_argument("--n-init", type=int, default=None, help="initial design (6; 20 with TuRBO)")
    opt.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    opt.add_argument("--smoke", action="store_true", help="tiny run (seconds)")
    opt.add_argument("-o", "--out", default="results/deup", help="output folder")
    opt.set_defaults(handler=_optimize)
    mis = actions.add_parser("misspecified", help="Spearman study on a misspecified regression")
    mis.add_argument("--seed", type=int, default=0)
    mis.add_argument("--smoke", action="store_true", help="tiny run (seconds)")
    mis.add_argument("-o", "--out", default="results/deup_misspecified", help="output folder")
    mis.set_defaults(handler=_misspecified)
