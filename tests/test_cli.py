"""The bayesuq command: version, bundled example, script runner, diagnose exit status."""

from __future__ import annotations

import subprocess
import sys

import pytest

import bayesuq
from bayesuq.cli import main


def test_version(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"bayesuq {bayesuq.__version__}"


def test_example_names_match_the_bundled_examples():
    from bayesuq.cli import EXAMPLE_NAMES
    from bayesuq.data import EXAMPLES

    assert list(EXAMPLE_NAMES) == list(EXAMPLES)


def test_version_and_help_import_nothing_heavy():
    """The parser imports neither JAX, NumPyro, ArviZ nor matplotlib (fast --help)."""
    code = (
        "import sys, contextlib, io\n"
        "from bayesuq.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    main(['--version'])\n"
        "    try:\n"
        "        main(['--help'])\n"
        "    except SystemExit:\n"
        "        pass\n"
        "print(sorted(m for m in ('jax', 'numpyro', 'arviz', 'matplotlib') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert out.stdout.strip() == "[]", out.stdout


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
    assert (out / "summary.csv").read_text().startswith("parameter,mean,")
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


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["diagnose", "{tmp}/empty.nc"], "the file is empty"),
        (["diagnose", "{tmp}/text.nc"], "not a netCDF-4/HDF5 file"),
        (["diagnose", "{tmp}"], "it is a directory"),
        (["report", "{tmp}/absent.nc"], "no results file"),
        (["run", "eight_schools", "-o", "{tmp}/afile/out", "--no-progress"], "is a file"),
        (["run", "{tmp}/script.py", "-o", "{tmp}/x"], "--out applies to bundled examples"),
    ],
)
def test_user_errors_print_one_line_and_exit_2(tmp_path, capsys, argv, message):
    (tmp_path / "empty.nc").write_bytes(b"")
    (tmp_path / "text.nc").write_text("not netcdf")
    (tmp_path / "afile").write_text("a file, not a folder")
    (tmp_path / "script.py").write_text("print('ran')\n")
    argv = [a.format(tmp=tmp_path) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
