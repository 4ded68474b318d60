"""The distribution installs `models/` as `bayesuq.models`, in a wheel as in a checkout."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_models_importable_as_subpackage():
    import bayesuq.models

    assert Path(bayesuq.models.__file__).parent == ROOT / "models"


def test_every_family_package_is_listed_for_the_wheel():
    """Family sub-packages must be listed in pyproject (explicit package list)."""
    import tomllib

    listed = set(
        tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    )
    for package in (ROOT / "models").glob("*/__init__.py"):
        assert f"bayesuq.models.{package.parent.name}" in listed, package.parent.name


@pytest.fixture(scope="module")
def installed_wheel(tmp_path_factory):
    """The package built as a wheel and installed (without dependencies) into a folder.

    Commands run with that folder first on ``PYTHONPATH`` and from another directory, so
    they import the wheel's ``bayesuq``, not the checkout (the editable install's finder
    comes after ``sys.path``).
    """
    build = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(build), str(ROOT)],
        check=True,
        timeout=600,
    )
    (wheel,) = build.glob("bayesuq-*.whl")
    target = build / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "-q",
            "--target",
            str(target),
            str(wheel),
        ],
        check=True,
        timeout=600,
    )
    return wheel, target


def _from_wheel(target: Path, *args: str, cwd: Path, timeout: int = 120):
    env = {**os.environ, "PYTHONPATH": str(target)}
    return subprocess.run(
        [sys.executable, "-m", "bayesuq", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _subcommands(target: Path, cwd: Path) -> list[str]:
    out = _from_wheel(target, "--help", cwd=cwd)
    assert out.returncode == 0, out.stderr
    choices = re.search(r"\{([a-z_,]+)\}", out.stdout).group(1)
    return choices.split(",")


def test_every_subcommand_answers_help_from_the_wheel(installed_wheel, tmp_path):
    _, target = installed_wheel
    location = _from_wheel(target, "--version", cwd=tmp_path)
    assert location.returncode == 0 and location.stdout.startswith("bayesuq ")
    commands = _subcommands(target, tmp_path)
    families = sorted(p.parent.name for p in (ROOT / "models").glob("*/cli.py"))
    assert set(families) <= set(commands), commands
    for command in commands:
        out = _from_wheel(target, command, "--help", cwd=tmp_path)
        assert out.returncode == 0, (command, out.stderr)
        assert "usage: bayesuq " + command in out.stdout


@pytest.mark.slow
def test_every_family_subcommand_runs_from_the_wheel(installed_wheel, tmp_path):
    """Each family sub-command's --smoke run works from an installed wheel."""
    _, target = installed_wheel
    families = sorted(p.parent.name for p in (ROOT / "models").glob("*/cli.py"))
    for family in families:
        extra = ["optimize"] if family == "deup" else (["sine"] if family == "metalearn" else [])
        out = _from_wheel(
            target,
            family,
            *extra,
            "--smoke",
            "--out",
            str(tmp_path / family),
            cwd=tmp_path,
            timeout=900,
        )
        assert out.returncode == 0, (family, out.stderr[-2000:])
        assert any((tmp_path / family).iterdir()), family


def test_wheel_contains_models_subpackage_and_data(installed_wheel):
    wheel, _ = installed_wheel
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "bayesuq/models/__init__.py" in names
    for package in sorted((ROOT / "models").glob("*/__init__.py")):
        assert f"bayesuq/models/{package.parent.name}/__init__.py" in names, package
    assert "bayesuq/data/eight_schools.csv" in names
    assert not any(n.startswith("models/") for n in names)
