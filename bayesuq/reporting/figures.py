"""The report's figures, drawn with matplotlib's object API (no pyplot, no global state).

Each function takes plain arrays and returns a :class:`matplotlib.figure.Figure`; the
:class:`FigureEncoder` turns figures into inline ``<img>`` tags (base64 PNG) within a byte
budget. Plots follow the usual MCMC diagnostics: trace and rank plots (Vehtari et al. 2021,
"Rank-normalization, folding, and localization", Bayesian Analysis 16(2), sec. 4.2), the
energy plot (Betancourt 2017, "A conceptual introduction to Hamiltonian Monte Carlo",
arXiv:1701.02434, sec. 6.1), and posterior predictive checks (Gelman et al. 2013, Bayesian
Data Analysis, ch. 6).
"""

from __future__ import annotations

import base64
import contextlib
import html
import io
import warnings
from collections.abc import Iterator, Mapping

import matplotlib
import numpy as np
from matplotlib.figure import Figure
from PIL import Image

MAX_LINE_POINTS = 1000  # per chain in trace plots
MAX_SCATTER_POINTS = 2000  # per panel in pair plots (divergent draws are always kept)
MAX_RANK_CHAINS = 8
MAX_INTERVAL_POINTS = 60  # observations drawn as intervals; more become histograms
REPLICATE_LINES = 40
DIVERGENT = "#d62728"
OBSERVED = "#111111"


@contextlib.contextmanager
def plotting_style() -> Iterator[None]:
    """Small fonts, and no mathtext: labels are user strings, ``$`` must stay literal."""
    with matplotlib.rc_context(
        {
            "text.parse_math": False,
            "font.size": 8,
            "axes.titlesize": 8,
            "axes.labelsize": 8,
            "legend.fontsize": 7,
            "xtick.labelsize": 7,
            "ytick.labelsize": 7,
            "axes.spines.top": False,
            "axes.spines.right": False,
        }
    ):
        yield


def _figure(
    width: float,
    height: float,
    *,
    top: float = 0.3,
    bottom: float = 0.45,
    left: float = 0.45,
    right: float = 0.1,
) -> Figure:
    """A figure with fixed margins in inches (cheaper to draw than a layout engine)."""
    fig = Figure(figsize=(width, height))
    fig.subplots_adjust(
        left=left / width,
        right=1 - right / width,
        top=1 - top / height,
        bottom=bottom / height,
    )
    return fig


def _colour(chain: int) -> str:
    return f"C{chain % 10}"


def _finite(values: np.ndarray) -> np.ndarray:
    values = np.asarray(values, dtype=float).ravel()
    return values[np.isfinite(values)]


def _bins(values: np.ndarray, count: int = 30) -> np.ndarray:
    finite = _finite(values)
    if finite.size == 0:
        return np.linspace(-1.0, 1.0, count + 1)
    low, high = float(finite.min()), float(finite.max())
    if high <= low:
        low, high = low - 0.5, high + 0.5
    return np.linspace(low, high, count + 1)


def _histogram(ax, values: np.ndarray, bins: np.ndarray, *, fill: bool = True, **style) -> None:
    """One step patch per histogram (``ax.hist`` draws a patch per bar: slow)."""
    counts, _ = np.histogram(_finite(values), bins)
    if style.pop("density", False) and counts.sum() > 0:
        counts = counts / (counts.sum() * np.diff(bins))
    ax.stairs(counts, bins, fill=fill, **style)


def _thin(n: int, limit: int) -> np.ndarray:
    return np.arange(0, n, max(1, int(np.ceil(n / limit))))


def trace_figure(draws: Mapping[str, np.ndarray], divergent: np.ndarray | None) -> Figure:
    """Per scalar: per-chain histograms (left) and traces (right); divergences as red ticks.

    ``draws`` maps a label to an array ``(chain, draw)``; ``divergent`` is ``(chain, draw)``.
    """
    rows = len(draws)
    fig = _figure(9.0, 1.6 * rows + 0.5, left=0.2)
    fig.subplots_adjust(hspace=0.75, wspace=0.12)
    axes = fig.subplots(rows, 2, squeeze=False, width_ratios=(1, 3))
    for (label, values), (left, right) in zip(draws.items(), axes, strict=True):
        bins = _bins(values)
        keep = _thin(values.shape[1], MAX_LINE_POINTS)
        for chain, series in enumerate(values):
            _histogram(left, series, bins, fill=False, color=_colour(chain))
            right.plot(keep, series[keep], color=_colour(chain), lw=0.5, alpha=0.8)
        if divergent is not None and divergent.any():
            draw_idx = np.flatnonzero(divergent.any(axis=0))
            lowest = np.nanmin(values) if np.isfinite(values).any() else 0.0
            right.plot(draw_idx, np.full(draw_idx.size, lowest), "|", color=DIVERGENT, ms=8)
        left.set_title(label, loc="left", fontweight="bold")
        left.set_yticks([])
        right.set_xlim(0, values.shape[1] - 1)
    axes[0, 1].set_title("trace by chain; red ticks: divergent transitions", loc="right")
    axes[-1, 1].set_xlabel("draw")
    return fig


def rank_figure(draws: Mapping[str, np.ndarray], *, bins: int = 20) -> Figure:
    """Rank plots: histograms of each chain's ranks among all draws, stacked by chain.

    Well-mixed chains give flat histograms near the dashed line (the uniform count).
    """
    n = len(draws)
    columns = min(3, n)
    rows = int(np.ceil(n / columns))
    fig = _figure(3.0 * columns, 2.3 * rows, left=0.5)
    fig.subplots_adjust(hspace=0.75, wspace=0.3)
    axes = fig.subplots(rows, columns, squeeze=False).ravel()
    for ax, (label, values) in zip(axes, draws.items(), strict=False):
        shown = values[:MAX_RANK_CHAINS]
        flat = values.ravel()
        ranks = np.empty(flat.size)
        ranks[np.argsort(flat, kind="stable")] = np.arange(flat.size)
        ranks = ranks.reshape(values.shape)[: shown.shape[0]]
        edges = np.linspace(0, flat.size, bins + 1)
        expected = values.shape[1] / bins
        height = max(float(np.histogram(r, edges)[0].max()) for r in ranks) * 1.1
        for chain, chain_ranks in enumerate(ranks):
            counts, _ = np.histogram(chain_ranks, edges)
            base = chain * height
            ax.stairs(
                counts + base, edges, baseline=base, fill=True, color=_colour(chain), alpha=0.7
            )
            ax.axhline(base + expected, color="k", ls="--", lw=0.6)
        ax.set_yticks([(c + 0.5) * height for c in range(ranks.shape[0])])
        ax.set_yticklabels([str(c) for c in range(ranks.shape[0])])
        ax.set_ylabel("chain")
        ax.set_xlabel("rank (all chains)")
        ax.set_title(label)
    for ax in axes[n:]:
        ax.set_visible(False)
    return fig


def pair_figure(draws: Mapping[str, np.ndarray], divergent: np.ndarray | None) -> Figure:
    """Scatter of every pair of scalars (lower triangle), histograms on the diagonal."""
    labels = list(draws)
    k = len(labels)
    flat = {label: np.asarray(v, dtype=float).ravel() for label, v in draws.items()}
    size = next(iter(flat.values())).size
    div = np.zeros(size, bool) if divergent is None else np.asarray(divergent, bool).ravel()
    keep = np.zeros(size, bool)
    keep[_thin(size, MAX_SCATTER_POINTS)] = True
    keep |= div
    fig = _figure(2.2 * k, 2.2 * k, left=0.75, bottom=0.75, top=0.15)
    fig.subplots_adjust(hspace=0.15, wspace=0.15)
    axes = fig.subplots(k, k, squeeze=False)
    for i, row_label in enumerate(labels):
        for j, col_label in enumerate(labels):
            ax = axes[i, j]
            if j > i:
                ax.set_visible(False)
                continue
            if i == j:
                _histogram(ax, flat[col_label], _bins(flat[col_label]), color="C0")
                ax.set_yticks([])
            else:
                x, y = flat[col_label], flat[row_label]
                calm = keep & ~div
                ax.plot(x[calm], y[calm], ".", ms=2, alpha=0.35, color="C0")
                if div.any():
                    ax.plot(x[div], y[div], ".", ms=4, color=DIVERGENT, label="divergent")
            if i == k - 1:
                ax.set_xlabel(col_label)
            if j == 0:
                ax.set_ylabel(row_label)
    if div.any() and k > 1:
        axes[1, 0].legend(loc="best", frameon=False)
    return fig


def energy_figure(energy: np.ndarray, bfmi: np.ndarray | None) -> Figure:
    """Marginal energy ``E - mean(E)`` against energy transitions ``E_t - E_{t-1}``.

    When the transition distribution is much narrower than the marginal one, momentum
    resampling cannot move the sampler through the energy levels (low E-BFMI).
    """
    energy = np.asarray(energy, dtype=float)
    marginal = _finite(energy - energy.mean(axis=1, keepdims=True))
    transition = _finite(np.diff(energy, axis=1))
    bins = _bins(np.concatenate([marginal, transition]), 40)
    fig = _figure(5.5, 2.8, left=0.2)
    ax = fig.subplots()
    for values, colour, label in (
        (marginal, "C0", "marginal energy"),
        (transition, "C1", "energy transition"),
    ):
        _histogram(ax, values, bins, density=True, alpha=0.5, color=colour, label=label)
    ax.set_yticks([])
    ax.set_xlabel("energy (centred per chain)")
    ax.legend(frameon=False)
    if bfmi is not None:
        ax.set_title("E-BFMI per chain: " + ", ".join(f"{b:.2f}" for b in np.ravel(bfmi)))
    return fig


def marginals_figure(draws: Mapping[str, np.ndarray]) -> Figure:
    """Histograms of independent draws (non-MCMC methods), one panel per scalar."""
    n = len(draws)
    columns = min(3, n)
    rows = int(np.ceil(n / columns))
    fig = _figure(3.0 * columns, 2.0 * rows, left=0.2)
    fig.subplots_adjust(hspace=0.6, wspace=0.15)
    axes = fig.subplots(rows, columns, squeeze=False).ravel()
    for ax, (label, values) in zip(axes, draws.items(), strict=False):
        _histogram(ax, values, _bins(values, 40), color="C0", alpha=0.8)
        ax.set_title(label)
        ax.set_yticks([])
    for ax in axes[n:]:
        ax.set_visible(False)
    return fig


def elbo_figure(loss: np.ndarray) -> Figure:
    """The SVI loss (negative ELBO) over all steps, and over the last half of them."""
    loss = np.asarray(loss, dtype=float).ravel()
    steps = np.arange(loss.size)
    fig = _figure(9.0, 2.6, left=0.7)
    fig.subplots_adjust(wspace=0.25)
    whole, tail = fig.subplots(1, 2)
    keep = _thin(loss.size, 4 * MAX_LINE_POINTS)
    whole.plot(steps[keep], loss[keep], lw=0.6, color="C0")
    whole.set_title("loss (negative ELBO), all steps")
    half = loss.size // 2
    tail.plot(steps[half:], loss[half:], lw=0.6, color="C0")
    tail.set_title("last half of the steps")
    for ax in (whole, tail):
        ax.set_xlabel("SVI step")
    return fig


def _interval_panel(ax, replicates: np.ndarray, observed: np.ndarray | None, ticks) -> None:
    x = np.arange(replicates.shape[1])
    q05, q25, q50, q75, q95 = np.nanquantile(replicates, [0.05, 0.25, 0.5, 0.75, 0.95], axis=0)
    ax.vlines(x, q05, q95, color="C0", lw=1.0, label="90% interval")
    ax.vlines(x, q25, q75, color="C0", lw=3.0, label="50% interval")
    ax.plot(x, q50, "o", color="C0", ms=3)
    if observed is not None:
        ax.plot(x, observed, "x", color=OBSERVED, ms=5, label="observed")
    if ticks is not None and len(ticks) == x.size and x.size <= 30:
        ax.set_xticks(x)
        ax.set_xticklabels([str(t) for t in ticks], rotation=45, ha="right")
    else:
        ax.set_xlabel("observation")


def predictive_figure(
    replicates: np.ndarray,
    observed: np.ndarray | None,
    *,
    name: str,
    ticks: list | None = None,
) -> Figure:
    """Posterior predictive draws against the data.

    ``replicates`` is ``(samples, n)`` (flattened draws by flattened observations) and
    ``observed`` ``(n,)`` or ``None``. Up to :data:`MAX_INTERVAL_POINTS` observations are
    drawn as predictive intervals with the data marked; more are compared as histograms
    of the data and of :data:`REPLICATE_LINES` replicated data sets.
    """
    replicates = np.asarray(replicates, dtype=float)
    n = replicates.shape[1]
    labelled = ticks is not None and len(ticks) == n and n <= 30
    fig = _figure(9.0, 3.2 if labelled else 2.8, left=0.7, bottom=1.0 if labelled else 0.45)
    ax = fig.subplots()
    if n <= MAX_INTERVAL_POINTS:
        _interval_panel(ax, replicates, observed, ticks)
        ax.set_ylabel(name)
    else:
        pooled = replicates if observed is None else np.vstack([replicates, observed[None]])
        bins = _bins(pooled, 40)
        for row in replicates[_thin(replicates.shape[0], REPLICATE_LINES)]:
            _histogram(ax, row, bins, fill=False, color="C0", alpha=0.25, lw=0.6)
        if observed is not None:
            _histogram(ax, observed, bins, fill=False, color=OBSERVED, lw=1.5)
        ax.set_xlabel(name)
        ax.set_yticks([])
        data_note = "; black: observed data" if observed is not None else ""
        ax.set_title("blue: replicated data sets" + data_note)
    if n <= MAX_INTERVAL_POINTS:
        ax.legend(frameon=False, loc="best")
    return fig


def encode_png(fig: Figure, *, dpi: int) -> bytes:
    """``fig`` as a palette PNG (256 colours): about a third of the bytes of full colour."""
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        # Labels are user strings: a character missing from the font is drawn as a box.
        warnings.filterwarnings(
            "ignore", message="Glyph .* missing from font", category=UserWarning
        )
        fig.savefig(buffer, format="png", dpi=dpi, facecolor="white")
    buffer.seek(0)
    with Image.open(buffer) as image:
        palette = image.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT)
    out = io.BytesIO()
    palette.save(out, format="PNG", optimize=True)
    return out.getvalue()


class FigureEncoder:
    """Turns figures into inline ``<img>`` tags while the total stays within a byte budget.

    A figure that would push the encoded total past ``budget_bytes`` is replaced by a note,
    so a report never grows past its cap however many panels it has.
    """

    def __init__(self, *, budget_bytes: int, dpi: int = 80):
        self.budget_bytes = budget_bytes
        self.dpi = dpi
        self.used_bytes = 0
        self.omitted: list[str] = []

    def tag(self, fig: Figure, *, kind: str, alt: str) -> str:
        """``<img>`` of ``fig`` (PNG, base64), or a note if the budget is spent."""
        encoded = base64.b64encode(encode_png(fig, dpi=self.dpi)).decode("ascii")
        if self.used_bytes + len(encoded) > self.budget_bytes:
            self.omitted.append(kind)
            return (
                f'<p class="note">The {html.escape(kind)} figure was left out: the report '
                f"reached its size cap of {self.budget_bytes / 1e6:.1f} MB of images.</p>"
            )
        self.used_bytes += len(encoded)
        return (
            f'<img class="figure" data-figure="{html.escape(kind)}" alt="{html.escape(alt)}" '
            f'src="data:image/png;base64,{encoded}">'
        )
