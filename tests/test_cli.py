"""The bayesuq command: version, bundled example, script runner, diagnose exit status."""

from __future__ import annotations

import subprocess
import sys

import pytest

import bayesuq
from bayesuq.cli import main


def test_version(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["--version"])
    assert stop.value.code == 0
    assert capsys.readouterr().out.strip() == f"bayesuq {bayesuq.__version__}"


def test_examples_listed(capsys):
    assert main(["examples"]) == 0
    assert "eight_schools" in capsys.readouterr().out


def test_run_example_writes_results_and_diagnose_reads_them(tmp_path, capsys):
    out = tmp_path / "res"
    code = main(
        [
            "run",
            "eight_schools",
            "-o",
            str(out),
            "--chains",
            "2",
            "--draws",
            "500",
            "--warmup",
            "500",
            "--seed",
            "2",
            "--no-progress",
        ]
    )
    printed = capsys.readouterr().out
    assert {p.name for p in out.iterdir()} == {"posterior.nc", "summary.csv", "diagnostics.txt"}
    assert "bayesuq diagnostics (nuts)" in printed
    loaded = bayesuq.load(out / "posterior.nc")
    assert loaded.posterior.sizes["chain"] == 2
    assert code == main(["diagnose", str(out / "posterior.nc")])


def test_diagnose_exit_status_flags_problems(tmp_path):
    out = tmp_path / "res"
    code = main(
        [
            "run",
            "eight_schools_centered",
            "-o",
            str(out),
            "--chains",
            "2",
            "--draws",
            "300",
            "--warmup",
            "300",
            "--seed",
            "1",
            "--no-progress",
        ]
    )
    assert code == 1
    assert main(["diagnose", str(out / "posterior.nc")]) == 1


def test_run_script_passes_arguments(tmp_path):
    script = tmp_path / "study.py"
    marker = tmp_path / "ran.txt"
    script.write_text("import sys, pathlib\npathlib.Path(sys.argv[1]).write_text(sys.argv[2])\n")
    assert main(["run", str(script), str(marker), "smoke"]) == 0
    assert marker.read_text() == "smoke"


def test_unknown_target_is_a_usage_error(capsys):
    assert main(["run", "no_such_example"]) == 2
    assert "neither a bundled example" in capsys.readouterr().err


def test_missing_results_file_is_a_clear_error(tmp_path, capsys):
    assert main(["diagnose", str(tmp_path / "absent.nc")]) == 2
    assert "no results file" in capsys.readouterr().err


def test_console_script_and_module_entry_points():
    out = subprocess.run(
        [sys.executable, "-m", "bayesuq", "--version"],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    assert out.stdout.startswith("bayesuq ")
