"""A posterior with thousands of scalars gives a small report, in bounded time.

5001 scalars (a 5000-vector and a scalar), 2 chains x 100 draws, 40 of them with chains
that disagree. Measured on the 2-core development machine under load from other jobs:
0.16 MB, 12-28 s, almost all of it in ``bayesuq.diagnose`` (ArviZ's summary costs a few
ms per scalar); the report itself adds 2-4 s. Bounds: < 1 MB and < 60 s.
"""

from __future__ import annotations

import re
import time

import arviz as az
import numpy as np

import bayesuq

SCALARS, BAD, MAX_BYTES, MAX_SECONDS = 5000, 40, 1_000_000, 60.0


def test_large_posterior_is_summarised(tmp_path):
    rng = np.random.default_rng(0)
    chains, draws = 2, 100
    beta = rng.normal(size=(chains, draws, SCALARS))
    beta[1, :, :BAD] += 3.0  # chain 1 disagrees on the first BAD scalars: R-hat >> 1.01
    diverging = np.zeros((chains, draws), bool)
    diverging[0, ::25] = True
    idata = az.from_dict(
        posterior={"beta": beta, "mu": rng.normal(size=(chains, draws))},
        sample_stats={
            "diverging": diverging,
            "energy": rng.normal(size=(chains, draws)),
            "lp": rng.normal(size=(chains, draws)),
            "step_size": np.full((chains, draws), 0.1),
        },
        dims={"beta": ["coefficient"]},
        coords={"coefficient": [f"c{i}" for i in range(SCALARS)]},
        attrs={"inference": "nuts", "seed": 0},
    )
    started = time.perf_counter()
    path = bayesuq.report(idata, tmp_path / "large.html")
    seconds = time.perf_counter() - started
    size = path.stat().st_size
    assert size < MAX_BYTES, f"report is {size / 1e6:.2f} MB"
    assert seconds < MAX_SECONDS, f"report took {seconds:.1f} s"

    page = path.read_text(encoding="utf-8")
    rows = re.findall(r"<tbody>.*</tbody>", page, re.S)[0].count("<tr")
    assert rows == 50
    assert f"Showing 50 of {SCALARS + 1} scalars" in page
    labels = re.findall(r'<tr class="problem"><th>([^<]+)</th>', page)
    # the worst rows come first: the BAD scalars whose chains disagree (R-hat >> 1.01);
    # some others are flagged by chance (bulk/tail ESS under 200 with 200 draws)
    assert sorted(labels[:BAD]) == sorted(f"beta[c{i}]" for i in range(BAD))
    assert page.count('data-figure="trace"') == 1
    shown = re.search(r'data-figure="trace" alt="([^"]*)"', page).group(1).split(", ")
    assert len(shown) == 6 and all(re.fullmatch(r"beta\[c\d+\]", s) for s in shown)
    assert all(int(s[6:-1]) < BAD for s in shown)  # plots show the worst-mixing scalars
