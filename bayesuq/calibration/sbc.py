"""Simulation-based calibration (SBC) with batched NUTS fits.

SBC checks a model *and* its inference algorithm together (Talts et al. 2018,
arXiv:1804.06788): draw ``theta_i`` from the prior, simulate ``y_i``, fit the posterior
``p(theta | y_i)`` and record the rank of ``theta_i`` among ``L`` (thinned) posterior
draws. If the fits are calibrated the ranks are uniform on ``{0, ..., L}``; departures
have shapes that say what is wrong (see :meth:`SBCResult.advice`).

The ``n_sims`` fits run as one compiled program over chunks of datasets
(:func:`bayesuq.nuts_many`), not one by one: on all local devices, or on Dask workers
(``client=``), with finished chunks kept in an on-disk store (``store=``) that an
interrupted calibration resumes from.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import arviz as az
import jax
import numpy as np
import pandas as pd

from bayesuq.calibration.ranks import UniformityReference, rank_statistics, uniformity_reference
from bayesuq.calibration.simulate import observed_sites, simulate_prior_predictive
from bayesuq.infer.arguments import check_int, check_open_unit
from bayesuq.infer.many import nuts_many

UNIFORM_RANK_SD = math.sqrt(1.0 / 12.0)


@dataclass(frozen=True)
class SBCResult:
    """Ranks, uniformity p-values and verdict of a simulation-based calibration.

    Attributes
    ----------
    ranks
        ``(simulation x quantity)`` integer ranks in ``{0, ..., max_rank}``; columns are
        scalar quantities such as ``"mu"`` or ``"theta[3]"``.
    max_rank
        ``L``, the number of thinned posterior draws per simulation.
    p_values
        Per-quantity p-value of the ECDF uniformity test.
    alpha
        Family-wise level: ``ok`` requires every p-value ``>= alpha / n_quantities``.
    truth
        The prior draws, ``(simulation x quantity)``.
    divergences
        Divergent transitions of each simulation's fit.
    stuck
        Simulations whose fit had a stuck chain.
    reference
        The null distribution and thresholds of the uniformity test.
    attrs
        Settings and timings (``compile_seconds``, ``sampling_seconds``, ``thin``, ...).
    """

    ranks: pd.DataFrame
    max_rank: int
    p_values: pd.Series
    alpha: float
    truth: pd.DataFrame
    divergences: np.ndarray
    stuck: list[int]
    reference: UniformityReference = field(repr=False)
    attrs: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when no quantity's ranks depart from uniformity (Bonferroni at ``alpha``)."""
        return bool((self.p_values >= self.alpha / len(self.p_values)).all())

    def summary(self) -> pd.DataFrame:
        """One row per quantity: p-value, pass/fail, mean and sd of the scaled rank, pattern.

        Scaled ranks ``r / L`` have mean 1/2 and sd ``sqrt(1/12) = 0.289`` when uniform.
        """
        scaled = self.ranks / self.max_rank
        threshold = self.alpha / len(self.p_values)
        table = pd.DataFrame(
            {
                "p_value": self.p_values,
                "ok": self.p_values >= threshold,
                "mean_scaled_rank": scaled.mean(),
                "sd_scaled_rank": scaled.std(ddof=1),
            }
        )
        table["pattern"] = [
            _pattern(row.mean_scaled_rank, row.sd_scaled_rank, row.ok) for row in table.itertuples()
        ]
        return table.rename_axis("quantity")

    def advice(self) -> list[str]:
        """Plain-language reading of the failures and of fit problems."""
        messages = []
        for name, row in self.summary().iterrows():
            if not row.ok:
                messages.append(
                    f"{name}: ranks are not uniform (p = {row['p_value']:.2g}); {row['pattern']}"
                )
        n_div = int((self.divergences > 0).sum())
        if n_div:
            messages.append(
                f"{n_div} of {len(self.divergences)} fits had divergent transitions: the "
                f"sampler, not only the model, may be miscalibrated there"
            )
        if self.stuck:
            messages.append(f"fits of simulations {self.stuck[:10]} had stuck chains")
        return messages

    def __str__(self) -> str:
        verdict = "calibrated" if self.ok else "NOT calibrated"
        lines = [
            f"SBC: {verdict} ({len(self.ranks)} simulations, ranks on 0..{self.max_rank}, "
            f"family-wise alpha {self.alpha})",
            self.summary().to_string(float_format=lambda x: f"{x:.3g}"),
            *self.advice(),
        ]
        return "\n".join(lines)

    def plot(self, quantities: Sequence[str] | None = None, *, level: float = 0.95, max_panels=12):
        """ECDF-difference plot with simultaneous ``level`` bands, one panel per quantity.

        A calibrated quantity's curve stays inside the band. A curve above then below zero
        (an S) means the posterior is too wide, below-then-above too narrow; a curve all
        above (below) zero means the posterior sits above (below) the truth.

        Returns
        -------
        matplotlib.figure.Figure
        """
        from matplotlib.figure import Figure

        names = list(quantities) if quantities is not None else list(self.ranks.columns)
        unknown = sorted(set(names) - set(self.ranks.columns))
        if unknown:
            raise ValueError(f"unknown quantities {unknown}; have {list(self.ranks.columns)}")
        if len(names) > max_panels:  # the worst first
            names = list(self.p_values[names].sort_values().index[:max_panels])
        lower, upper = self.reference.band(level)
        difference = self.reference.ecdf_difference(self.ranks[names].to_numpy())
        cols = min(len(names), 4)
        rows = -(-len(names) // cols)
        fig = Figure(figsize=(3.2 * cols, 2.6 * rows))
        axes = fig.subplots(rows, cols, squeeze=False)
        x = self.reference.probs
        for ax, name, diff in zip(axes.flat, names, difference, strict=False):
            ax.fill_between(x, lower, upper, step="post", color="0.85", label=f"{level:.0%} band")
            ax.step(
                x,
                diff,
                where="post",
                color="C0" if self.p_values[name] >= self.alpha / len(self.p_values) else "C3",
            )
            ax.axhline(0.0, color="0.4", linewidth=0.8)
            ax.set_title(f"{name} (p = {self.p_values[name]:.2g})", fontsize=9)
            ax.set_xlabel("scaled rank")
        for ax in axes.flat[len(names) :]:
            ax.set_visible(False)
        axes.flat[0].set_ylabel("ECDF - uniform")
        fig.tight_layout()
        return fig


def _pattern(mean: float, sd: float, ok: bool) -> str:
    """Which way a rank distribution departs from uniform, in words.

    A shift of the mean scaled rank by more than 0.1 is read first (bias), then the spread
    against the uniform's ``sqrt(1/12)`` (dispersion).
    """
    if ok:
        return "uniform"
    if mean > 0.6:
        return "skewed high: the posterior sits below the true values (underestimates)"
    if mean < 0.4:
        return "skewed low: the posterior sits above the true values (overestimates)"
    if sd > 1.1 * UNIFORM_RANK_SD:
        return "U-shaped: the posterior is too narrow (overconfident)"
    if sd < 0.9 * UNIFORM_RANK_SD:
        return "hump-shaped: the posterior is too wide (underconfident)"
    return "non-uniform without a simple shape (see the plot)"


def _flatten(values: Mapping[str, np.ndarray], names: Sequence[str], lead: int) -> pd.DataFrame:
    """``name -> array (*lead_axes, ...)`` as columns ``name`` or ``name[i,j]``."""
    columns = {}
    for name in names:
        value = np.asarray(values[name])
        event = value.shape[lead:]
        flat = value.reshape(*value.shape[:lead], -1)
        for k, index in enumerate(np.ndindex(*event)):
            label = name if not event else f"{name}[{','.join(map(str, index))}]"
            columns[label] = flat[..., k]
    return columns


def _automatic_thin(draws: dict[str, np.ndarray]) -> int:
    """Thinning that leaves about one draw per effective sample.

    ``thin = floor(S / ESS)``, with ``S`` the draws per simulation and ``ESS`` the smallest,
    over quantities, of the median over simulations of the bulk ESS.
    """
    worst = math.inf
    for series in draws.values():  # (sim, chain, draw)
        ess = [float(az.ess(np.asarray(s, dtype=float))) for s in series]
        worst = min(worst, float(np.median(ess)))
    size = next(iter(draws.values())).shape[1] * next(iter(draws.values())).shape[2]
    return max(1, int(size // max(worst, 1.0)))


def sbc(
    model: Callable,
    data: Mapping[str, Any] | None = None,
    *,
    observed: str | Sequence[str] | Mapping[str, str],
    n_sims: int = 100,
    draws: int = 250,
    warmup: int = 250,
    chains: int = 2,
    thin: int | None = None,
    params: Sequence[str] | None = None,
    fit_model: Callable | None = None,
    alpha: float = 0.01,
    seed: int = 0,
    chunk_size: int | None = None,
    devices: int | None = None,
    client: Any = None,
    store: str | os.PathLike | None = None,
    progress: bool = True,
    **nuts_options: Any,
) -> SBCResult:
    """Simulation-based calibration of a NumPyro model and NUTS.

    Parameters
    ----------
    model
        The generative model: it simulates parameters and data when the ``observed``
        entries are ``None``.
    data
        The covariates (entries that stay fixed); observed entries may be absent.
    observed
        The data entries to simulate: a name, a list of names (each the name of its
        sample site), or ``{data entry: sample site}``.
    n_sims
        Number of simulated datasets (each fitted once).
    draws, warmup, chains
        NUTS settings per simulated dataset.
    thin
        Keep every ``thin``-th draw for the ranks; ``None`` picks it from the effective
        sample size so that kept draws are nearly independent.
    params
        Quantities to rank (sites present in both the prior draws and the posterior);
        default: every latent sample site of ``model``.
    fit_model
        Model to fit (default ``model``), e.g. an approximation checked against the model
        that generated the data. Takes the same data entries.
    alpha
        Family-wise level of the uniformity test.
    seed
        Seed of the prior simulations, the fits and the test's null simulation.
    chunk_size, devices, client, store
        How the fits run, as in :func:`bayesuq.nuts_many`: datasets per chunk (``None``:
        chosen from memory), local devices, ``None`` / ``"local"`` / a
        ``dask.distributed.Client``, and a folder that keeps finished chunks (the same
        call resumes from it after an interruption, with the same result).
    progress
        Show a progress bar for the fits.
    **nuts_options
        ``target_accept``, ``max_tree_depth``, ``dense_mass`` for the fits.

    Returns
    -------
    SBCResult

    Raises
    ------
    ValueError
        Bad arguments, observed entries without a matching site, ranked quantities missing
        from the fit, or a simulated dataset with non-finite values.
    """
    started = time.perf_counter()
    check_int("n_sims", n_sims, minimum=2)
    check_int("seed", seed, minimum=0)
    check_open_unit("alpha", alpha)
    if thin is not None:
        check_int("thin", thin, minimum=1)
    unknown = sorted(set(nuts_options) - {"target_accept", "max_tree_depth", "dense_mass"})
    if unknown:
        raise TypeError(f"sbc() got unexpected keyword argument(s) {unknown}")
    entries = observed_sites(observed)
    data = dict(data or {})
    key_prior, key_fit = jax.random.split(jax.random.PRNGKey(seed))
    prior = simulate_prior_predictive(model, data, entries, n_sims, key_prior)
    names = list(params) if params is not None else list(prior.latent_sites)
    missing = sorted(set(names) - set(prior.latent))
    if missing:
        raise ValueError(
            f"params {missing} are not sites of the prior draws {sorted(prior.latent)}"
        )

    fits = nuts_many(
        fit_model or model,
        {**data, **prior.simulated},
        batched=list(entries),
        chains=chains,
        draws=draws,
        warmup=warmup,
        seed=int(jax.random.randint(key_fit, (), 0, 2**31 - 1)),
        chunk_size=chunk_size,
        devices=devices,
        client=client,
        store=store,
        progress=progress,
        **nuts_options,
    )
    missing = sorted(set(names) - set(fits.posterior))
    if missing:
        raise ValueError(
            f"quantities {missing} are not in the fitted model's posterior "
            f"({sorted(fits.posterior)}); pass params= with names both models share"
        )
    posterior = {name: fits.posterior[name] for name in names}
    if thin is None:
        thin = _automatic_thin(
            {label: column for label, column in _flatten(posterior, names, 3).items()}
        )
    kept = {name: value[:, :, ::thin] for name, value in posterior.items()}
    max_rank = chains * next(iter(kept.values())).shape[2]
    truth = pd.DataFrame(_flatten(prior.latent, names, 1))
    pooled = _flatten(
        {k: v.reshape(n_sims, max_rank, *v.shape[3:]) for k, v in kept.items()}, names, 2
    )
    rng = np.random.default_rng(seed)
    draws_by_quantity = np.stack([pooled[c] for c in truth.columns], axis=-1)
    ranks = rank_statistics(truth.to_numpy(), draws_by_quantity, rng)
    reference = uniformity_reference(n_sims, max_rank, rng)
    rank_frame = pd.DataFrame(ranks, columns=truth.columns)
    rank_frame.index.name = truth.index.name = "simulation"
    return SBCResult(
        ranks=rank_frame,
        max_rank=max_rank,
        p_values=pd.Series(reference.p_values(ranks), index=truth.columns, name="p_value"),
        alpha=float(alpha),
        truth=truth,
        divergences=fits.divergences(),
        stuck=sorted(fits.stuck),
        reference=reference,
        attrs={
            "model": getattr(model, "__name__", str(model)),
            "fit_model": getattr(fit_model or model, "__name__", str(fit_model or model)),
            "n_sims": n_sims,
            "chains": chains,
            "draws": draws,
            "warmup": warmup,
            "thin": thin,
            "seed": seed,
            "compile_seconds": fits.attrs["compile_seconds"],
            "sampling_seconds": fits.attrs["sampling_seconds"],
            **{
                k: fits.attrs[k]
                for k in ("chunk_size", "chunks", "resumed_chunks", "devices", "workers")
            },
            "fits_per_second": fits.attrs["fits_per_second"],
            "total_seconds": round(time.perf_counter() - started, 4),
        },
    )
