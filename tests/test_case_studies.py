"""Each case study runs end to end in smoke mode, as a program.

In the default suite the case studies run once, executed as notebooks by the docs build
(`tests/test_docs.py`, which also checks what they show). Here they run as programs
(`runpy`, as `bayesuq run case_studies/x.py -- --smoke --out DIR` does), under `-m slow`;
the argument parsing they share is tested cheaply by default.
"""

from __future__ import annotations

import argparse
import runpy
import sys
from pathlib import Path

import pytest

from bayesuq.case_study import ENV_VAR, case_study_args

ROOT = Path(__file__).resolve().parents[1]
STUDIES = [pytest.param(p, id=p.stem) for p in sorted((ROOT / "case_studies").glob("*.py"))]


def study_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser()
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--out", default="results/study")
    return parser


def test_arguments_come_from_the_command_line_when_run_as_a_program(monkeypatch, tmp_path):
    monkeypatch.setattr(sys, "argv", ["study.py", "--smoke", "--out", str(tmp_path)])
    monkeypatch.setenv(ENV_VAR, "--out elsewhere")  # read only inside a kernel
    args = case_study_args(study_parser(), "__main__")
    assert args.smoke and args.out == str(tmp_path)


def test_an_imported_study_takes_the_defaults(monkeypatch):
    monkeypatch.setattr(sys, "argv", ["pytest", "-k", "x"])
    args = case_study_args(study_parser(), "case_studies.study")
    assert not args.smoke and args.out == "results/study"


class FakeEvents:
    def __init__(self):
        self.callbacks = {}

    def register(self, event, callback):
        self.callbacks.setdefault(event, []).append(callback)


class FakeShell:
    def __init__(self):
        self.events = FakeEvents()


def test_in_a_kernel_arguments_come_from_the_environment_and_new_figures_are_shown(
    monkeypatch, tmp_path
):
    ipython_display = pytest.importorskip("IPython.display")
    shown = []
    monkeypatch.setattr(ipython_display, "display", lambda image: shown.append(image))
    shell = FakeShell()
    monkeypatch.setattr("bayesuq.case_study._kernel_shell", lambda: shell)
    monkeypatch.setattr(sys, "argv", ["ipykernel_launcher.py", "-f", "kernel.json"])
    monkeypatch.setenv(ENV_VAR, f"--smoke --out '{tmp_path / 'my out'}'")
    (tmp_path / "my out").mkdir()
    old = tmp_path / "my out" / "old.png"
    old.write_bytes(PNG)
    args = case_study_args(study_parser(), "__main__")
    assert args.smoke and args.out == str(tmp_path / "my out")
    (after_cell,) = shell.events.callbacks["post_run_cell"]
    after_cell(None)
    assert shown == []  # files that were there before the study started are not shown
    (tmp_path / "my out" / "new.png").write_bytes(PNG)
    after_cell(None)
    after_cell(None)  # shown once, below the cell that wrote it
    assert len(shown) == 1 and shown[0].data == PNG


# A valid 1 x 1 PNG.
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)


@pytest.mark.slow
@pytest.mark.parametrize("path", STUDIES)
def test_case_study_smoke(path, tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "argv", [str(path), "--smoke", "--out", str(tmp_path)])
    namespace = runpy.run_path(str(path), run_name="__main__")
    assert any(tmp_path.iterdir()), f"{path.stem} wrote nothing to --out"
    if path.stem == "eight_schools":
        assert namespace["summary"]["centred_divergences"] > 0
        assert not namespace["summary"]["centred_ok"]
        assert (tmp_path / "noncentred.nc").is_file()
