"""Sequential model optimisation: result structure, random-search oracle, compilation, TuRBO."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

from bayesuq.models.deup import (
    LEVI_N13,
    MULTI_OPTIMA,
    SMO_METHODS,
    TURBO_METHODS,
    ackley,
    compare,
    optimize,
    random_search_expected_best,
    smo,
)
from bayesuq.precision import computing_in

TINY = {
    "hidden": (8,),
    "fit_steps": 5,
    "epochs": 2,
    "passes": 4,
    "members": 2,
    "raw_samples": 16,
    "restarts": 2,
    "iterations": 2,
    "fast_compile": True,
}


def test_random_search_matches_its_exact_expected_best_and_the_result_is_complete():
    """The harness check of the spec: mean best of random search vs E[max of m draws].

    400 seeds; tolerance 4 standard errors at every step. The same result is checked for
    structure: every evaluation, the running best, named dims, attrs.
    """
    result = optimize(MULTI_OPTIMA, surrogate="random", steps=20, seeds=400, seed=4,
                      progress=False)  # fmt: skip
    best = result.best.values
    exact = random_search_expected_best(MULTI_OPTIMA, 6, 20)
    se = best.std(axis=0, ddof=1) / np.sqrt(best.shape[0])
    assert np.all(np.abs(best.mean(axis=0) - exact) <= 4 * se), (best.mean(axis=0), exact, se)

    assert result.best.dims == ("seed", "step") and result.best.shape == (400, 21)
    assert result.x.dims == ("seed", "evaluation", "dim") and result.x.shape == (400, 26, 1)
    assert result.initial.values.tolist() == [True] * 6 + [False] * 20
    y = result.y.values
    np.testing.assert_allclose(best[:, 0], y[:, :6].max(axis=1))
    np.testing.assert_allclose(best[:, -1], y.max(axis=1))
    assert np.all(np.diff(best, axis=1) >= 0)
    with computing_in("float64"):
        np.testing.assert_allclose(y, np.asarray(MULTI_OPTIMA(jnp.asarray(result.x.values))))
    assert np.all((result.x.values >= -1) & (result.x.values <= 2))
    np.testing.assert_allclose(result.regret, MULTI_OPTIMA.optimum - best)
    assert result.attrs["inference"] == "deup" and result.attrs["surrogate"] == "random"
    assert result.attrs["seed"] == 4 and result.attrs["function"] == "multi_optima"


def test_no_recompilation_across_steps_or_when_the_loop_runs_again():
    """Two chunks per run, two runs with other seeds: one compiled start and chunk program."""
    settings = None
    for seed in (0, 1):
        result = optimize(MULTI_OPTIMA, surrogate="gp", steps=10, seeds=2, seed=seed,
                          progress=False, **TINY)  # fmt: skip
        settings = smo._settings(
            MULTI_OPTIMA, surrogate="gp", acquisition="ei", trust_region=False, predictor=None,
            features=None, error_model=None, steps=10, n_init=6, folds=2, repeats=2,
            learning_rate=1e-3, warm_start=True, dropout=0.3, ucb_beta=2.0, precision=None,
            **TINY,
        )  # fmt: skip
        start, run = smo.smo_programs(settings)
        assert settings.calls == 2  # the chunk program ran twice per run
        assert start._cache_size() == 1 and run._cache_size() == 1
        assert np.all(np.isfinite(result.best.values))
    assert smo.smo_programs.cache_info().hits >= 3


def test_trust_region_doubles_after_successes_and_halves_after_failures():
    s = smo.SMOSettings(objective=ackley(2), trust_region=True, success_tolerance=3)
    assert s.failure_tolerance == 4
    state = {"best": jnp.asarray(-1.0), "length": jnp.asarray(0.8), "succ": 0, "fail": 0}
    for value in (-0.5, -0.2, -0.1):  # three successes: expand
        state = smo._update_trust_region(s, state, jnp.asarray(value))
        state["best"] = jnp.maximum(state["best"], value)
    assert float(state["length"]) == pytest.approx(1.6) and state["succ"] == 0
    state = smo._update_trust_region(s, state, jnp.asarray(-0.1 + 1e-5))  # gain < 1e-3 |best|
    assert state["fail"] == 1
    for _ in range(3):
        state = smo._update_trust_region(s, state, jnp.asarray(-5.0))
    assert float(state["length"]) == pytest.approx(0.8) and state["fail"] == 0
    state = smo._update_trust_region(s, {**state, "length": jnp.asarray(1.6)}, jnp.asarray(0.0))
    assert float(state["length"]) == pytest.approx(1.6)  # capped at L_max after expansion rules


def test_bad_settings_are_refused_clearly():
    with pytest.raises(ValueError, match="surrogate must be one of"):
        optimize(MULTI_OPTIMA, surrogate="forest")
    with pytest.raises(ValueError, match="no model to centre a trust region"):
        optimize(MULTI_OPTIMA, surrogate="random", trust_region=True)
    with pytest.raises(ValueError, match="needs dropout > 0"):
        optimize(MULTI_OPTIMA, surrogate="mc_dropout", dropout=0.0)
    with pytest.raises(ValueError, match="restarts must be <="):
        optimize(MULTI_OPTIMA, raw_samples=4, restarts=8)
    with pytest.raises(TypeError, match="objective must be"):
        optimize(lambda x: x)
    with pytest.raises(ValueError, match="steps must be an integer"):
        optimize(MULTI_OPTIMA, steps=0)


@pytest.mark.slow
def test_deup_loop_does_not_recompile():
    for seed in (0, 1):
        result = optimize(MULTI_OPTIMA, surrogate="deup", steps=10, seeds=2, seed=seed,
                          progress=False, **TINY)  # fmt: skip
        assert np.all(np.isfinite(result.best.values))
    cached = [s for s in _cached_settings() if s.surrogate == "deup"]
    assert cached
    for settings in cached:
        start, run = smo.smo_programs(settings)
        assert start._cache_size() == 1 and run._cache_size() == 1


def _cached_settings():
    # lru_cache keeps no key list; rebuild the one DEUP settings object used above.
    return [
        smo._settings(
            MULTI_OPTIMA, surrogate="deup", acquisition="ei", trust_region=False, predictor=None,
            features=None, error_model=None, steps=10, n_init=6, folds=2, repeats=2,
            learning_rate=1e-3, warm_start=True, dropout=0.3, ucb_beta=2.0, precision=None,
            **TINY,
        )
    ]  # fmt: skip


@pytest.mark.slow
def test_deup_ei_beats_the_other_model_based_methods_on_multi_optima():
    """The paper's qualitative result: 5 seeds (0-4 of seed 0), 50 steps, mean final best.

    Settings of the case study (the two network baselines with 50 epochs per refit).
    """
    runs = {k: v for k, v in SMO_METHODS.items() if k != "Random"}
    runs["MC-dropout-EI"] = {**runs["MC-dropout-EI"], "epochs": 50}
    runs["Ensemble-EI"] = {**runs["Ensemble-EI"], "epochs": 50}
    results = compare(MULTI_OPTIMA, runs, steps=50, seeds=5, seed=0)
    final = {name: float(ds.best.isel(step=-1).mean()) for name, ds in results.items()}
    for name in ("GP-EI", "MC-dropout-EI", "Ensemble-EI"):
        assert final["DEUP-EI"] > final[name], final


@pytest.mark.slow
def test_turbo_deup_is_at_least_as_good_as_turbo_ei_on_ackley_2():
    """Ackley d = 2, 20 Sobol points + 100 steps, 5 seeds: TuRBO-DEUP-EI >= TuRBO-EI - 2 SE."""
    results = compare(ackley(2), TURBO_METHODS, steps=100, seeds=5, seed=0, n_init=20)
    deup = results["TuRBO-DEUP-EI"].best.isel(step=-1).values
    ei = results["TuRBO-EI"].best.isel(step=-1).values
    se = np.sqrt(deup.var(ddof=1) / deup.size + ei.var(ddof=1) / ei.size)
    assert deup.mean() >= ei.mean() - 2 * se, (deup, ei)


def test_command_writes_netcdf_figure_and_table(tmp_path, capsys):
    from bayesuq.cli import main

    arguments = ["deup", "optimize", "--function", "levi_n13", "--surrogate", "random"]
    arguments += ["--steps", "4", "--seeds", "2", "--no-progress", "--out", str(tmp_path)]
    code = main(arguments)
    assert code == 0
    for name in ("levi_n13_random-ei.nc", "levi_n13_random-ei.png", "summary.csv"):
        assert (tmp_path / name).is_file(), name
    assert "levi_n13" in capsys.readouterr().out
    import xarray as xr

    with xr.open_dataset(tmp_path / "levi_n13_random-ei.nc") as saved:
        assert saved.x.shape == (2, 10, 2) and saved.attrs["function"] == "levi_n13"
        with computing_in("float64"):
            values = np.asarray(LEVI_N13(jnp.asarray(saved.x.values)))
        np.testing.assert_allclose(saved.y.values, values)
    assert main(["deup", "optimize", "--function", "sphere", "--out", str(tmp_path)]) == 2


@pytest.mark.slow
def test_command_smoke_runs_deup(tmp_path):
    from bayesuq.cli import main

    out = tmp_path / "deup"
    assert main(["deup", "optimize", "--smoke", "--no-progress", "--out", str(out)]) == 0
    assert (out / "multi_optima_deup-ei.nc").is_file()
