"""Start repair and stuck-chain recovery for MCMC runs.

Two rare paths, both re-using the compiled programs of the run:

* **Start repair**: a chain whose candidate starting points all have a non-finite log
  density (or gradient) gets a wider search (:data:`~bayesuq.infer.init.FALLBACK_CANDIDATES`
  uniform(-2, 2) points); if that fails too, or the user's ``init`` values are at fault, the
  error names the site whose log density is not finite.
* **Stuck-chain recovery**: a chain that ends warm-up with a collapsed step size or a frozen
  log density (:func:`bayesuq.diagnostics.chains.find_stuck_chains`) is re-initialised from
  a healthy chain's final position (or fresh points when none is healthy) and the run is
  repeated; only the stuck chains' results are replaced. What happened is returned as
  messages for ``attrs`` and warnings.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from bayesuq.diagnostics.chains import find_stuck_chains
from bayesuq.infer import init as initialisation
from bayesuq.infer.data import PreparedData
from bayesuq.infer.density import postprocess_fn_gen, potential_fn_gen
from bayesuq.infer.programs import Programs, RunOutput, SamplerConfig, run

RECOVERY_ATTEMPTS = 2


def repair_starts(
    key: jax.Array,
    invalid: np.ndarray,
    start: tuple[dict, dict],
    z_template: Any,
    *,
    model: Callable,
    data: PreparedData,
    user_init: bool,
) -> tuple[dict, dict]:
    """New ``(fixed, mask)`` starts for the chains without a finite start, or raise.

    User-given starts are never replaced: the error then says which site is at fault.
    """
    chains = np.flatnonzero(invalid).tolist()
    if not user_init:
        wide = initialisation.uniform_candidates(
            key, z_template, len(chains), initialisation.FALLBACK_CANDIDATES
        )
        potentials = potential_fn_gen(model, data)

        def search(candidates, arrays):
            start, found = initialisation.pick_candidate(potentials(**arrays), candidates)
            return start.z, found

        positions, found = jax.jit(jax.vmap(search, in_axes=(0, None)))(wide, data.arrays)
        if bool(jnp.all(found)):
            return initialisation.fix_values(*start, jax.device_get(positions), chains)
        first = jax.tree.map(lambda x: x[0, 0], wide)
    else:
        first = jax.tree.map(lambda x: x[chains[0]], start[0])
    reason = initialisation.explain_init_failure(
        model, data, postprocess_fn_gen(model, data), first
    )
    tried = (
        "at the values given in init"
        if user_init
        else f"at any of {initialisation.FALLBACK_CANDIDATES} points drawn uniformly from "
        f"(-2, 2) on the unconstrained scale"
    )
    raise RuntimeError(
        f"could not initialise chain(s) {chains}: the log density is not finite {tried}; "
        f"{reason}. Pass init={{site: value}} with values inside each site's support."
    )


def _merge_chains(old: Any, new: Any, chains: list[int]) -> Any:
    """``old`` with the rows of ``chains`` taken from ``new`` (leaves lead with the chain)."""

    def merge(a, b):
        a = np.array(a)
        a[chains] = np.asarray(b)[chains]
        return a

    return jax.tree.map(merge, jax.device_get(old), jax.device_get(new))


class Recovery(NamedTuple):
    """The outcome of :func:`recover_stuck_chains`."""

    output: RunOutput
    stuck: dict[int, str]  # chains still stuck
    recovered: list[int]
    messages: list[str]


def recover_stuck_chains(
    key: jax.Array,
    stuck: dict[int, str],
    first: RunOutput,
    start: tuple[dict, dict],
    *,
    programs: Programs,
    data: PreparedData,
    config: SamplerConfig,
    z_template: Any,
    progress: bool,
) -> Recovery:
    """Re-run stuck chains from a healthy chain's final position (or fresh points if none).

    All chains run again with the same compiled programs; only the stuck chains' draws,
    statistics and final states are kept from the re-run.
    """
    output, before = first, set(stuck)
    messages: list[str] = []
    for attempt in range(1, RECOVERY_ATTEMPTS + 1):
        bad = sorted(stuck)
        healthy = [c for c in range(config.chains) if c not in stuck]
        key, k_run = jax.random.split(key)
        if healthy:
            donors = [healthy[i % len(healthy)] for i in range(len(bad))]
            source = f"the final state of chain(s) {donors}"
            final_z = jax.device_get(output.state.z)
            donor_z = {name: np.asarray(z)[donors] for name, z in final_z.items()}
            restart = initialisation.fix_values(*start, donor_z, bad)
        else:
            source = "fresh uniform(-2, 2) points"
            restart = initialisation.no_fixed_values(z_template, config.chains)
        rerun = run(
            programs,
            k_run,
            restart,
            data.arrays,
            config,
            progress=progress,
            desc=f"re-running chains {bad}",
        )
        if not rerun.valid.all():
            break
        output = RunOutput(
            draws=_merge_chains(output.draws, rerun.draws, bad),
            stats=_merge_chains(output.stats, rerun.stats, bad),
            state=_merge_chains(output.state, rerun.state, bad),
            valid=output.valid,
        )
        messages += [
            f"{stuck[c]}; re-initialised it from {source} and re-ran warm-up and sampling "
            f"(attempt {attempt}; pass recover=False to keep stuck chains)"
            for c in bad
        ]
        stuck = find_stuck_chains(output.stats["step_size"], output.stats["lp"])
        if not stuck:
            break
    return Recovery(output, stuck, sorted(before - set(stuck)), messages)
