"""The distribution installs `models/` as `bayesuq.models`, in a wheel as in a checkout."""

from __future__ import annotations

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


@pytest.mark.slow
def test_wheel_contains_models_subpackage_and_data(tmp_path):
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(ROOT)],
        check=True,
        timeout=600,
    )
    (wheel,) = tmp_path.glob("bayesuq-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "bayesuq/models/__init__.py" in names
    for package in sorted((ROOT / "models").glob("*/__init__.py")):
        assert f"bayesuq/models/{package.parent.name}/__init__.py" in names, package
    assert "bayesuq/data/eight_schools.csv" in names
    assert not any(n.startswith("models/") for n in names)
