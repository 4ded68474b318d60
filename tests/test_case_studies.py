"""Each case study runs end to end in smoke mode."""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

import pytest

STUDIES = sorted((Path(__file__).resolve().parents[1] / "case_studies").glob("*.py"))


@pytest.mark.parametrize("path", STUDIES, ids=[p.stem for p in STUDIES])
def test_case_study_smoke(path, tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "argv", [str(path), "--smoke", "--out", str(tmp_path)])
    namespace = runpy.run_path(str(path), run_name="__main__")
    if path.stem == "eight_schools":
        assert namespace["summary"]["centred_divergences"] > 0
        assert not namespace["summary"]["centred_ok"]
