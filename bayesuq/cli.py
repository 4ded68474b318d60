"""The ``bayesuq`` command.

``bayesuq run eight_schools -o results``    fit a bundled example, write results and diagnostics
``bayesuq run case_studies/x.py -- --smoke`` run a script (a case study) with arguments
``bayesuq diagnose results/posterior.nc``   print the verdict on a saved fit (exit 1 if not ok)
``bayesuq report results/posterior.nc -o report.html``  write the HTML report on a saved fit
``bayesuq sbc eight_schools --observed y``  simulation-based calibration (exit 1 if not)
``bayesuq examples``                        list the bundled examples
``bayesuq <family> ...``                    model-family commands (see ``bayesuq --help``)
"""

from __future__ import annotations

import argparse
import runpy
import sys
from pathlib import Path

EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE = 0, 1, 2


def _run_example(args: argparse.Namespace) -> int:
    import bayesuq
    from bayesuq.data import EXAMPLES

    example = EXAMPLES[args.target]
    settings = {**example.settings}
    for name in ("chains", "draws", "warmup", "seed"):
        if getattr(args, name) is not None:
            settings[name] = getattr(args, name)
    print(f"fitting {args.target}: {example.description}")
    idata = bayesuq.nuts(example.model, example.data(), progress=not args.no_progress, **settings)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    bayesuq.save(idata, out / "posterior.nc")
    report = bayesuq.diagnose(idata)
    report.table.to_csv(out / "summary.csv")
    (out / "diagnostics.txt").write_text(str(report) + "\n")
    print(report)
    print(
        f"compile {idata.attrs['compile_seconds']:.2f} s, sampling "
        f"{idata.attrs['sampling_seconds']:.2f} s; wrote {out / 'posterior.nc'}, "
        f"{out / 'summary.csv'} and {out / 'diagnostics.txt'}"
    )
    return EXIT_OK if report.ok else EXIT_PROBLEMS


def _run_script(args: argparse.Namespace) -> int:
    path = Path(args.target)
    if not path.is_file():
        from bayesuq.data import EXAMPLES

        print(
            f"bayesuq run: {args.target!r} is neither a bundled example ({', '.join(EXAMPLES)}) "
            f"nor a script file",
            file=sys.stderr,
        )
        return EXIT_USAGE
    sys.argv = [str(path), *args.script_args]
    runpy.run_path(str(path), run_name="__main__")
    return EXIT_OK


def _run(args: argparse.Namespace) -> int:
    from bayesuq.data import EXAMPLES

    return _run_example(args) if args.target in EXAMPLES else _run_script(args)


def _diagnose(args: argparse.Namespace) -> int:
    import bayesuq

    report = bayesuq.diagnose(bayesuq.load(args.results))
    print(report)
    return EXIT_OK if report.ok else EXIT_PROBLEMS


def _report(args: argparse.Namespace) -> int:
    import bayesuq

    results = Path(args.results)
    out = Path(args.out) if args.out else results.with_suffix(".html")
    path = bayesuq.report(bayesuq.load(results), out, title=args.title)
    print(f"wrote {path} ({path.stat().st_size / 1e3:.0f} kB)")
    return EXIT_OK


def _examples(_: argparse.Namespace) -> int:
    from bayesuq.data import EXAMPLES

    for name, example in EXAMPLES.items():
        print(f"{name:24s} {example.description}")
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``bayesuq`` command (sub-commands register here)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        current = version("bayesuq")
    except PackageNotFoundError:
        current = "unknown"
    parser = argparse.ArgumentParser(prog="bayesuq", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"bayesuq {current}")
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="fit a bundled example, or run a script")
    run.add_argument("target", help="bundled example name (see `bayesuq examples`) or .py path")
    run.add_argument("script_args", nargs="*", help="arguments passed to a script (after --)")
    run.add_argument("-o", "--out", default="results", help="output folder (examples)")
    run.add_argument("--chains", type=int)
    run.add_argument("--draws", type=int)
    run.add_argument("--warmup", type=int)
    run.add_argument("--seed", type=int)
    run.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    run.set_defaults(handler=_run)

    diagnose = commands.add_parser("diagnose", help="diagnose a saved fit (netCDF)")
    diagnose.add_argument("results", help="path to a .nc file written by bayesuq")
    diagnose.set_defaults(handler=_diagnose)

    report = commands.add_parser(
        "report", help="write a self-contained HTML report on a saved fit (netCDF)"
    )
    report.add_argument("results", help="path to a .nc file written by bayesuq")
    report.add_argument(
        "-o", "--out", help="the .html file to write (default: the results path with .html)"
    )
    report.add_argument("--title", help="page title (default: 'bayesuq report: <model>')")
    report.set_defaults(handler=_report)

    examples = commands.add_parser("examples", help="list the bundled examples")
    examples.set_defaults(handler=_examples)
    from bayesuq.calibration.cli import add_cli as add_sbc_command

    add_sbc_command(commands)
    _add_family_commands(commands)
    return parser


def _add_family_commands(commands: argparse._SubParsersAction) -> None:
    """Let each model family add its sub-command.

    A module (or package) ``bayesuq.models.<family>`` that defines
    ``add_cli(commands)`` registers its parser there and sets ``handler`` (a function of the
    parsed arguments returning an exit status) with ``set_defaults``.
    """
    import importlib
    import pkgutil

    import bayesuq.models

    for info in sorted(pkgutil.iter_modules(bayesuq.models.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"bayesuq.models.{info.name}")
        register = getattr(module, "add_cli", None)
        if register is not None:
            register(commands)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``bayesuq`` command; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except (ValueError, TypeError, RuntimeError, FileNotFoundError) as err:
        print(f"bayesuq {args.command}: error: {err}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    raise SystemExit(main())
