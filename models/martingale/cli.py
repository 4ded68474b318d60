"""``bayesuq martingale``: run the martingale-posterior case study."""

from __future__ import annotations

import argparse
import runpy
import sys
from pathlib import Path

CASE_STUDY = Path(__file__).resolve().parents[2] / "case_studies" / "martingale_posteriors.py"


def _cli_main(args: argparse.Namespace) -> int:
    if not CASE_STUDY.is_file():
        raise FileNotFoundError(f"case study not found at {str(CASE_STUDY)!r} (source checkout)")
    argv = [str(CASE_STUDY), "--out", args.out] + (["--smoke"] if args.smoke else [])
    saved = sys.argv
    sys.argv = argv
    try:
        runpy.run_path(str(CASE_STUDY), run_name="__main__")
    finally:
        sys.argv = saved
    return 0


def add_cli(commands: argparse._SubParsersAction) -> None:
    """Register ``bayesuq martingale [--smoke] [--out DIR]``."""
    parser = commands.add_parser(
        "martingale",
        help="martingale posteriors: run the case study (normal, GMM, regression, moons)",
    )
    parser.add_argument("--smoke", action="store_true", help="tiny run (seconds)")
    parser.add_argument("--out", default="results/martingale", help="output folder")
    parser.set_defaults(handler=_cli_main)
