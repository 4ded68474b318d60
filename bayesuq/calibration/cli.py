"""``bayesuq sbc``: simulation-based calibration from the command line.

``bayesuq sbc eight_schools --observed y -o sbc_out``        a bundled example
``bayesuq sbc my_model.py:model --data data --observed y``   a model in a script
``bayesuq sbc my_model.py:model --fit-model approx --observed y``  fit another model

Writes ``ranks.csv``, ``summary.csv``, ``sbc.png`` and ``sbc.txt`` to the output folder;
the exit status is 0 when calibrated, 1 when not.
"""

from __future__ import annotations

import argparse
import runpy
from collections.abc import Callable
from pathlib import Path
from typing import Any

EXIT_OK, EXIT_PROBLEMS = 0, 1


def _load_target(
    target: str, data_name: str, fit_name: str | None
) -> tuple[Callable, dict[str, Any], Callable | None]:
    """The model, data and fit model of a bundled example, or of ``script.py:function``."""
    from bayesuq.data import EXAMPLES

    if target in EXAMPLES:
        if fit_name:
            raise ValueError("--fit-model needs a script target (script.py:model)")
        example = EXAMPLES[target]
        return example.model, example.data(), None
    path, _, function = target.partition(":")
    if not function or not Path(path).is_file():
        raise ValueError(
            f"target {target!r} is neither a bundled example ({', '.join(EXAMPLES)}) nor "
            f"'script.py:model_function'"
        )
    namespace = runpy.run_path(path)
    for name in (function, fit_name):
        if name and not callable(namespace.get(name)):
            raise ValueError(f"{path} defines no function {name!r}")
    data = namespace.get(data_name, {})
    data = data() if callable(data) else data
    if not isinstance(data, dict):
        raise ValueError(f"{path}: {data_name!r} must be a dict (or a function returning one)")
    return namespace[function], data, namespace[fit_name] if fit_name else None


def _sbc(args: argparse.Namespace) -> int:
    from bayesuq.calibration.sbc import sbc
    from bayesuq.io import atomic_write

    model, data, fit_model = _load_target(args.target, args.data, args.fit_model)
    result = sbc(
        model,
        data,
        fit_model=fit_model,
        observed=args.observed,
        n_sims=args.n_sims,
        draws=args.draws,
        warmup=args.warmup,
        chains=args.chains,
        thin=args.thin,
        seed=args.seed,
        progress=not args.no_progress,
    )
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write(out / "ranks.csv", result.ranks.to_csv)
    atomic_write(out / "summary.csv", result.summary().to_csv)
    figure = result.plot()
    atomic_write(out / "sbc.png", lambda p: figure.savefig(p, dpi=100))
    atomic_write(out / "sbc.txt", lambda p: p.write_text(f"{result}\n"))
    print(result)
    print(
        f"compile {result.attrs['compile_seconds']:.2f} s, {args.n_sims} fits "
        f"{result.attrs['sampling_seconds']:.2f} s; wrote ranks.csv, summary.csv, sbc.png "
        f"and sbc.txt to {out}"
    )
    return EXIT_OK if result.ok else EXIT_PROBLEMS


def add_cli(commands: argparse._SubParsersAction) -> None:
    """Register ``bayesuq sbc``."""
    parser = commands.add_parser("sbc", help="simulation-based calibration of a model")
    parser.add_argument("target", help="bundled example name, or script.py:model_function")
    parser.add_argument(
        "--observed", nargs="+", required=True, help="data entries to simulate (sample sites)"
    )
    parser.add_argument(
        "--data", default="data", help="name of the data dict (or function) in the script"
    )
    parser.add_argument(
        "--fit-model", default=None, help="function in the script to fit instead of the model"
    )
    parser.add_argument("--n-sims", type=int, default=100)
    parser.add_argument("--draws", type=int, default=250)
    parser.add_argument("--warmup", type=int, default=250)
    parser.add_argument("--chains", type=int, default=2)
    parser.add_argument("--thin", type=int, default=None, help="default: from the ESS")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("-o", "--out", default="sbc", help="output folder")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    parser.set_defaults(handler=_sbc)
