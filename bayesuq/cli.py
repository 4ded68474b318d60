"""The ``bayesuq`` command.

``bayesuq run eight_schools -o results``    fit a bundled example, write results and diagnostics
``bayesuq run case_studies/x.py -- --smoke`` run a script (a case study) with arguments
``bayesuq diagnose results/posterior.nc``   print the verdict on a saved fit (exit 1 if not ok)
``bayesuq report results/posterior.nc -o report.html``  write the HTML report on a saved fit
``bayesuq sbc eight_schools --observed y``  simulation-based calibration (exit 1 if not)
``bayesuq examples``                        list the bundled examples
``bayesuq <family> ...``                    model-family commands (see ``bayesuq --help``)

Exit status: 0 success; 1 the diagnostics (or SBC) found problems; 2 a usage error, a bad or
missing file or option (one line on stderr, no traceback); 130 interrupted.
Building the parser imports nothing heavy (JAX, ArviZ, the families' numerics are imported
by the handlers), so ``--version`` and ``--help`` answer at once.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import pkgutil
import runpy
import sys
from pathlib import Path

EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
EXAMPLE_NAMES = ("eight_schools", "eight_schools_centered", "arma11")
CHAIN_METHODS = ("auto", "vectorized", "parallel", "sequential", "threads")  # infer.batching


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("bayesuq")
    except PackageNotFoundError:
        return "unknown"


def _check_writable_folder(out: Path) -> None:
    """Fail before any fitting when the output folder cannot be created or written."""
    from bayesuq.io import atomic_write

    atomic_write(out / ".bayesuq-write-test", lambda p: p.write_text("ok"))
    (out / ".bayesuq-write-test").unlink()


def _run_example(args: argparse.Namespace) -> int:
    out = Path(args.out or "results")
    _check_writable_folder(out)
    import bayesuq
    from bayesuq.data import EXAMPLES

    example = EXAMPLES[args.target]
    settings = {**example.settings}
    for name in ("chains", "draws", "warmup", "seed", "target_accept", "chain_method"):
        if getattr(args, name) is not None:
            settings[name] = getattr(args, name)
    print(f"fitting {args.target}: {example.description}")
    idata = bayesuq.nuts(example.model, example.data(), progress=not args.no_progress, **settings)
    bayesuq.save(idata, out / "posterior.nc")
    verdict = bayesuq.diagnose(idata)
    verdict.table.to_csv(out / "summary.csv", index_label="parameter")
    (out / "diagnostics.txt").write_text(str(verdict) + "\n")
    written = ["posterior.nc", "summary.csv", "diagnostics.txt"]
    if args.report:
        bayesuq.report(idata, out / "report.html")
        written.append("report.html")
    print(verdict)
    print(
        f"compile {idata.attrs['compile_seconds']:.2f} s, sampling "
        f"{idata.attrs['sampling_seconds']:.2f} s; wrote {', '.join(written)} to {out}"
    )
    return EXIT_OK if verdict.ok else EXIT_PROBLEMS


def _run_script(args: argparse.Namespace) -> int:
    path = Path(args.target)
    if not path.is_file():
        raise FileNotFoundError(
            f"{args.target!r} is neither a bundled example ({', '.join(EXAMPLE_NAMES)}) nor a "
            f"script file"
        )
    example_only = [
        f"--{name.replace('_', '-')}"
        for name in ("out", "chains", "draws", "warmup", "seed", "target_accept", "chain_method")
        if getattr(args, name) is not None
    ] + (["--report"] if args.report else [])
    if example_only:
        raise ValueError(
            f"{', '.join(example_only)} appl{'ies' if len(example_only) == 1 else 'y'} to "
            f"bundled examples; give a script its own options after --, e.g. "
            f"bayesuq run {args.target} -- --out DIR"
        )
    sys.argv = [str(path), *args.script_args]
    runpy.run_path(str(path), run_name="__main__")
    return EXIT_OK


def _run(args: argparse.Namespace) -> int:
    return _run_example(args) if args.target in EXAMPLE_NAMES else _run_script(args)


def _diagnose(args: argparse.Namespace) -> int:
    import bayesuq

    verdict = bayesuq.diagnose(bayesuq.load(args.results))
    print(verdict)
    return EXIT_OK if verdict.ok else EXIT_PROBLEMS


def _report(args: argparse.Namespace) -> int:
    import bayesuq

    results = Path(args.results)
    out = Path(args.out) if args.out else results.with_suffix(".html")
    idata = bayesuq.load(results)
    path = bayesuq.report(idata, out, title=args.title)
    print(f"wrote {path} ({path.stat().st_size / 1e3:.0f} kB)")
    return EXIT_OK


def _examples(_: argparse.Namespace) -> int:
    from bayesuq.data import EXAMPLES

    for name, example in EXAMPLES.items():
        print(f"{name:24s} {example.description}")
    return EXIT_OK


def _add_run(commands: argparse._SubParsersAction) -> None:
    run = commands.add_parser("run", help="fit a bundled example, or run a script")
    run.add_argument("target", help=f"bundled example ({', '.join(EXAMPLE_NAMES)}) or a .py script")
    run.add_argument("script_args", nargs="*", help="arguments passed to a script (after --)")
    run.add_argument("-o", "--out", default=None, help="output folder (default: results)")
    run.add_argument("--chains", type=int)
    run.add_argument("--draws", type=int)
    run.add_argument("--warmup", type=int)
    run.add_argument("--seed", type=int)
    run.add_argument("--target-accept", type=float, dest="target_accept")
    run.add_argument("--chain-method", choices=CHAIN_METHODS, dest="chain_method")
    run.add_argument("--report", action="store_true", help="also write report.html")
    run.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    run.set_defaults(handler=_run)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``bayesuq`` command (sub-commands register here)."""
    parser = argparse.ArgumentParser(prog="bayesuq", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"bayesuq {_version()}")
    commands = parser.add_subparsers(dest="command", required=True)
    _add_run(commands)

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


def family_cli_modules() -> list[str]:
    """The ``bayesuq.models.<family>.cli`` modules, in name order.

    Each defines ``add_cli(commands)``, which registers the family's parser and sets its
    ``handler`` (a function of the parsed arguments returning an exit status). These modules
    and the family packages import nothing heavy at import time.
    """
    import bayesuq.models

    found = []
    for info in sorted(pkgutil.iter_modules(bayesuq.models.__path__), key=lambda m: m.name):
        name = f"bayesuq.models.{info.name}.cli"
        if info.ispkg and importlib.util.find_spec(name) is not None:
            found.append(name)
    return found


def _add_family_commands(commands: argparse._SubParsersAction) -> None:
    for name in family_cli_modules():
        importlib.import_module(name).add_cli(commands)


USER_ERRORS = (ValueError, TypeError, RuntimeError, OSError)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``bayesuq`` command; returns the exit status."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv in (["--version"], ["-V"]):
        print(f"bayesuq {_version()}")
        return EXIT_OK
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except KeyboardInterrupt:
        print(f"bayesuq {args.command}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except USER_ERRORS as err:
        message = str(err).splitlines()[0] if str(err) else type(err).__name__
        print(f"bayesuq {args.command}: error: {message}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    raise SystemExit(main())
