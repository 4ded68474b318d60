"""Each case study runs end to end in smoke mode."""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# Smoke runs longer than a minute on 2 cores run with `-m slow` only.
SLOW_STUDIES = {"aggregate_drug_trials"}
STUDIES = [
    pytest.param(p, id=p.stem, marks=[pytest.mark.slow] if p.stem in SLOW_STUDIES else [])
    for p in sorted((ROOT / "case_studies").glob("*.py"))
]


@pytest.mark.parametrize("path", STUDIES)
def test_case_study_smoke(path, tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "argv", [str(path), "--smoke", "--out", str(tmp_path)])
    namespace = runpy.run_path(str(path), run_name="__main__")
    if path.stem == "eight_schools":
        assert namespace["summary"]["centred_divergences"] > 0
        assert not namespace["summary"]["centred_ok"]
