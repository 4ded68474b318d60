"""Figures of the meta-learning studies (matplotlib object API, no pyplot)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from scipy.special import ndtri

from bayesuq.io import atomic_write
from bayesuq.models.metalearn.evaluate import predictive_probs, reliability

__all__ = ["plot_bars", "plot_reliability", "plot_sine_tasks", "save_figure"]

LABELS = {
    "niw_meta": "NIW-Meta",
    "maml": "MAML",
    "maml_first_order": "FOMAML",
    "protonet": "ProtoNet",
    "nearest_centroid": "nearest centroid",
}


def save_figure(fig: Figure, path: str | Path) -> Path:
    """Write ``fig`` to ``path`` atomically (PNG, 100 dpi)."""
    return atomic_write(path, lambda partial: fig.savefig(partial, dpi=100))


def _mixture_quantile(f: np.ndarray, noise: float, q: float) -> np.ndarray:
    """Quantile ``q`` of ``mean_s N(f_s, noise^2)`` per column, by bisection on the cdf."""
    from scipy.special import ndtr

    lo = f.min(0) - 6 * noise
    hi = f.max(0) + 6 * noise
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        below = ndtr((mid[None] - f) / noise).mean(0) < q
        lo = np.where(below, mid, lo)
        hi = np.where(below, hi, mid)
    return 0.5 * (lo + hi)


def plot_sine_tasks(
    models: dict, episodes, noise: dict[str, float], *, tasks: int = 4, draws: int = 50
) -> Figure:
    """Predictive mean and 90% band on a grid for the first ``tasks`` test tasks.

    ``models`` maps a method name to a fitted model with ``predict_outputs`` and ``noise``
    the name to the noise sd of its predictive (the study's ``noise`` column); the truth is
    drawn from ``episodes.truth`` (:func:`~bayesuq.models.metalearn.sine_line_function`).
    """
    from bayesuq.models.metalearn.tasks import sine_line_function

    grid = np.linspace(-5, 5, 200)
    sub = episodes.take(np.arange(tasks))
    qx = np.broadcast_to(grid[None, :, None], (tasks, len(grid), 1))
    fig = Figure(figsize=(2.6 * tasks, 2.4 * len(models)), layout="constrained")
    axes = np.atleast_2d(fig.subplots(len(models), tasks, sharex=True))
    truth = np.asarray(sine_line_function(sub.truth, grid[None, :]))
    for row, (name, model) in enumerate(models.items()):
        kwargs = {"draws": draws} if name == "niw_meta" else {}
        f = model.predict_outputs(sub.support_x, sub.support_y, qx, **kwargs)[..., 0]
        for t in range(tasks):
            ax = axes[row, t]
            lo = _mixture_quantile(f[t], noise[name], 0.05)
            hi = _mixture_quantile(f[t], noise[name], 0.95)
            ax.fill_between(grid, lo, hi, color="C0", alpha=0.25, label="90% band")
            ax.plot(grid, f[t].mean(0), color="C0", label="predictive mean")
            ax.plot(grid, truth[t], color="k", ls="--", lw=1, label="truth")
            ax.scatter(
                np.asarray(sub.support_x[t, :, 0]),
                np.asarray(sub.support_y[t]),
                color="C3",
                zorder=3,
                s=18,
                label="support",
            )
            ax.set_title(f"{LABELS.get(name, name)}, task {t}", fontsize=9)
            if t == 0 and row == 0:
                ax.legend(fontsize=7, loc="best")
    return fig


def plot_reliability(outputs: dict[str, np.ndarray], labels: np.ndarray) -> Figure:
    """Reliability diagrams (15 bins) side by side, one panel per method."""
    names = list(outputs)
    fig = Figure(figsize=(2.6 * len(names), 2.8), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(names), sharey=True))
    for ax, name in zip(axes, names, strict=True):
        rel = reliability(predictive_probs(outputs[name]), np.asarray(labels).astype(int))
        centres = 0.5 * (rel["edges"][1:] + rel["edges"][:-1])
        used = rel["count"] > 0
        ax.bar(
            centres[used],
            rel["accuracy"][used],
            width=1 / len(centres),
            edgecolor="k",
            alpha=0.7,
            label="accuracy",
        )
        ax.plot([0, 1], [0, 1], "k--", lw=1)
        ax.plot(rel["confidence"][used], rel["accuracy"][used], "o", ms=3, color="C3")
        ax.set_title(LABELS.get(name, name), fontsize=9)
        ax.set_xlabel("confidence")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
    axes[0].set_ylabel("accuracy")
    return fig


def plot_bars(summary, column: str, error: str | None = None, *, ylabel: str = "") -> Figure:
    """A bar chart of ``summary[column]`` per method with optional error bars."""
    fig = Figure(figsize=(4.5, 2.8), layout="constrained")
    ax = fig.subplots()
    names = [LABELS.get(m, m) for m in summary["method"]]
    yerr = None if error is None else summary[error]
    ax.bar(names, summary[column], yerr=yerr, capsize=3, color="C0")
    ax.set_ylabel(ylabel or column)
    ax.tick_params(axis="x", labelrotation=20, labelsize=8)
    return fig


def normal_band(noise: float, level: float = 0.9) -> float:
    """Half-width of the central ``level`` interval of ``N(0, noise^2)``."""
    return float(noise * ndtri(0.5 + level / 2))
