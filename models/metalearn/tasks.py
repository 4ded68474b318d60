"""Few-shot task generators that need no download: sine-or-line, linear-Gaussian, digits-fs.

A task set is a :class:`TaskSampler`: a pure, jittable ``draw(data, key, n) -> Episodes``
with its arrays ``data`` passed as an argument (so a training step compiled for one sampler
serves another of the same shapes), the likelihood of its targets and the number of
distinct tasks (``None`` for a generator that draws fresh tasks every time).

* :func:`sine_line_tasks` - Finn, Xu & Levine (2018, "Probabilistic Model-Agnostic
  Meta-Learning"): with probability 1/2 ``A sin(x + phi)``, ``A ~ U[0.1, 5]``,
  ``phi ~ U[0, pi]``, else ``a x + b``, ``a, b ~ U[-3, 3]``; ``x ~ U[-5, 5]``; noise 0.3.
* :func:`linear_gaussian_tasks` - ``y = X theta_i + eps``, ``theta_i ~ N(mu, diag s^2)``,
  the columns of each task's ``X`` orthogonal, a fixed finite set with known truth.
* :func:`digits_fewshot` - scikit-learn's bundled 8x8 digits, classes = digit x rotation
  {0, 90, 180, 270} degrees; meta-train digits {0, 1, 2, 3, 6}, meta-test {4, 5, 7, 8, 9}.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from bayesuq.infer.arguments import check_choice, check_int, check_positive
from bayesuq.models.metalearn.likelihood import Likelihood

TRAIN_DIGITS = (0, 1, 2, 3, 6)
TEST_DIGITS = (4, 5, 7, 8, 9)
ROTATIONS = (0, 1, 2, 3)  # multiples of 90 degrees
VALIDATION_CLASSES = ("0@90", "1@180", "2@270", "3@0", "6@90")
"""digits-fs validation classes: one rotation of each meta-training digit, held out from
``split="train_without_validation"`` so that a calibration fitted on them sees classes its
model never trained on."""
DIGITS_SPLITS = ("train", "test", "validation", "train_without_validation")

__all__ = [
    "DIGITS_SPLITS",
    "VALIDATION_CLASSES",
    "Episodes",
    "TaskSampler",
    "digits_fewshot",
    "linear_gaussian_network",
    "linear_gaussian_tasks",
    "shift_images",
    "sine_line_function",
    "sine_line_tasks",
]


class Episodes(NamedTuple):
    """A batch of episodes (leading axis: task).

    Attributes
    ----------
    support_x, support_y
        ``(T, S, F)`` inputs and ``(T, S)`` targets of the support (adaptation) sets.
    query_x, query_y
        ``(T, Q, F)`` and ``(T, Q)`` of the query (evaluation) sets.
    truth
        The generator's per-task truth where it has one (e.g. the sine/line parameters or
        the linear-Gaussian ``theta_i``), else ``None``.
    """

    support_x: jax.Array
    support_y: jax.Array
    query_x: jax.Array
    query_y: jax.Array
    truth: Any = None

    @property
    def n_tasks(self) -> int:
        """Number of episodes ``T``."""
        return int(self.support_x.shape[0])

    def take(self, index: Any) -> Episodes:
        """The episodes at ``index`` along the task axis."""
        return jax.tree.map(lambda a: a[index], self)


@dataclass(frozen=True)
class TaskSampler:
    """A source of episodes: ``draw(data, key, n) -> Episodes``, pure and jittable.

    Attributes
    ----------
    draw
        Pure function; ``n`` is static.
    data
        Pytree of arrays ``draw`` reads (an argument of compiled programs, not a constant).
    likelihood
        The targets' likelihood.
    n_tasks
        Number of distinct tasks (a finite set), or ``None`` for a generator.
    name
        Short description.
    info
        Generator settings and truth (e.g. the population mean of the linear-Gaussian tasks).
    """

    draw: Callable[[Any, jax.Array, int], Episodes]
    data: Any
    likelihood: Likelihood
    n_tasks: int | None
    name: str
    info: dict[str, Any] = field(default_factory=dict)

    def sample(self, seed: int | jax.Array, n: int) -> Episodes:
        """``n`` episodes from an integer seed or a PRNG key."""
        check_int("n", n, minimum=1)
        key = jax.random.PRNGKey(seed) if isinstance(seed, int) else seed
        return jax.jit(self.draw, static_argnums=2)(self.data, key, n)

    @classmethod
    def from_episodes(
        cls, episodes: Episodes, likelihood: Likelihood, *, name: str = "episodes", **info: Any
    ) -> TaskSampler:
        """A finite task set: each draw takes ``n`` distinct episodes at random."""
        arrays = Episodes(*(jnp.asarray(a) for a in episodes[:4]), truth=None)
        return cls(
            draw=_draw_from_set,
            data=arrays,
            likelihood=likelihood,
            n_tasks=episodes.n_tasks,
            name=name,
            info={"episodes": episodes, **info},
        )


def _draw_from_set(data: Episodes, key: jax.Array, n: int) -> Episodes:
    total = data.support_x.shape[0]
    if n > total:
        raise ValueError(f"cannot draw {n} distinct episodes from a set of {total}")
    index = jax.random.choice(key, total, (n,), replace=False)
    return data.take(index)


# ---------------------------------------------------------------- sine or line
def sine_line_function(truth: jax.Array, x: jax.Array) -> jax.Array:
    """Noise-free sine-or-line values: ``truth (..., 5)`` = ``[is_sine, A, phi, a, b]``."""
    is_sine, amp, phase, slope, icpt = (truth[..., k : k + 1] for k in range(5))
    return jnp.where(is_sine > 0.5, amp * jnp.sin(x + phase), slope * x + icpt)


def _draw_sine_line(data: dict, key: jax.Array, n: int, *, shots: int, queries: int):
    keys = jax.random.split(key, 7)
    is_sine = jax.random.bernoulli(keys[0], 0.5, (n, 1)).astype(data["noise"].dtype)
    amp = jax.random.uniform(keys[1], (n, 1), minval=0.1, maxval=5.0)
    phase = jax.random.uniform(keys[2], (n, 1), minval=0.0, maxval=math.pi)
    slope = jax.random.uniform(keys[3], (n, 1), minval=-3.0, maxval=3.0)
    icpt = jax.random.uniform(keys[4], (n, 1), minval=-3.0, maxval=3.0)
    truth = jnp.concatenate([is_sine, amp, phase, slope, icpt], axis=1)
    x = jax.random.uniform(keys[5], (n, shots + queries), minval=-5.0, maxval=5.0)
    y = sine_line_function(truth, x) + data["noise"] * jax.random.normal(keys[6], x.shape)
    return Episodes(x[:, :shots, None], y[:, :shots], x[:, shots:, None], y[:, shots:], truth=truth)


def sine_line_tasks(*, shots: int = 5, queries: int = 15, noise: float = 0.3) -> TaskSampler:
    """Sine-or-line regression tasks (Finn, Xu & Levine 2018), an unlimited generator.

    Each task is, with probability 1/2, ``A sin(x + phi)`` (``A ~ U[0.1, 5]``,
    ``phi ~ U[0, pi]``) and otherwise ``a x + b`` (``a, b ~ U[-3, 3]``); inputs
    ``x ~ U[-5, 5]``, targets with Gaussian noise of sd ``noise``.

    Parameters
    ----------
    shots
        Support points per task (5 in the case study).
    queries
        Query points per task (15 for training, 100 for evaluation in the spec).
    noise
        Noise standard deviation (0.3); also the likelihood's known noise.

    Returns
    -------
    TaskSampler
        Inputs ``(T, N, 1)``; ``truth`` holds ``[is_sine, A, phi, a, b]`` per task (see
        :func:`sine_line_function`).
    """
    shots = check_int("shots", shots, minimum=1)
    queries = check_int("queries", queries, minimum=1)
    noise = check_positive("noise", noise)

    def draw(data, key, n):
        return _draw_sine_line(data, key, n, shots=shots, queries=queries)

    return TaskSampler(
        draw=draw,
        data={"noise": jnp.asarray(noise)},
        likelihood=Likelihood.make("gaussian", noise),
        n_tasks=None,
        name=f"sine_line({shots}-shot, {queries} queries, noise {noise})",
        info={"shots": shots, "queries": queries, "noise": noise},
    )


# ---------------------------------------------------------------- linear Gaussian
def linear_gaussian_tasks(
    n_tasks: int,
    *,
    dim: int = 5,
    shots: int = 5,
    queries: int = 5,
    noise: float = 0.5,
    mean: Any = None,
    scale: Any = None,
    seed: int = 0,
) -> TaskSampler:
    """A finite set of linear-Gaussian regression tasks with known truth.

    ``y = X_i theta_i + eps``, ``eps ~ N(0, noise^2)``, ``theta_i ~ N(mu, diag s^2)``. Each
    task's design ``X_i`` (``shots + queries`` rows, ``dim`` columns) has orthogonal columns
    of squared norm ``shots + queries`` (a QR factor of a Gaussian matrix), so the exact
    episode likelihood is diagonal in ``theta``: ``A = diag(X^T X) / noise^2`` and the least
    squares solution (spec section 6). The union of support and query is orthogonal, not
    each part.

    Parameters
    ----------
    n_tasks
        Number of tasks.
    dim
        ``d``, the length of ``theta``.
    shots, queries
        Rows of the support and query parts of each design (need ``shots + queries >= dim``).
    noise
        Known noise standard deviation.
    mean, scale
        Population mean ``mu`` and standard deviations ``s`` (defaults:
        ``linspace(-1, 1, d)`` and ``linspace(0.3, 1, d)``).
    seed
        Integer seed.

    Returns
    -------
    TaskSampler
        A finite set (``n_tasks``); ``info`` holds ``mean``, ``scale``, ``noise`` and the
        ``episodes`` (``truth`` = the ``theta_i``).
    """
    n_tasks = check_int("n_tasks", n_tasks, minimum=1)
    dim = check_int("dim", dim, minimum=1)
    shots = check_int("shots", shots, minimum=1)
    queries = check_int("queries", queries, minimum=0)
    noise = check_positive("noise", noise)
    rows = shots + queries
    if rows < dim:
        raise ValueError(f"shots + queries must be >= dim for orthogonal columns, got {rows}")
    mu = np.linspace(-1.0, 1.0, dim) if mean is None else np.asarray(mean, float)
    s = np.linspace(0.3, 1.0, dim) if scale is None else np.asarray(scale, float)
    if mu.shape != (dim,) or s.shape != (dim,) or np.any(s <= 0):
        raise ValueError(f"mean and scale must have shape ({dim},), scale > 0")
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.normal(size=(n_tasks, rows, dim)))
    x = q * math.sqrt(rows)
    theta = mu + s * rng.normal(size=(n_tasks, dim))
    y = np.einsum("tnd,td->tn", x, theta) + noise * rng.normal(size=(n_tasks, rows))
    episodes = Episodes(x[:, :shots], y[:, :shots], x[:, shots:], y[:, shots:], truth=theta)
    return TaskSampler.from_episodes(
        episodes,
        Likelihood.make("gaussian", noise),
        name=f"linear_gaussian({n_tasks} tasks, d={dim}, {rows} points)",
        mean=mu,
        scale=s,
        noise=noise,
        dim=dim,
    )


def linear_gaussian_network(dim: int):
    """The network of the linear-Gaussian tasks: ``f(x) = x^T theta`` (no bias), ``D = dim``.

    A :class:`bayesuq.nn.Network` whose ``init`` returns zeros.
    """
    from bayesuq.nn import Network

    dim = check_int("dim", dim, minimum=1)

    def init(key: jax.Array) -> jax.Array:
        return jnp.zeros((dim,), jnp.result_type(float))

    def apply(theta: jax.Array, x: jax.Array, *, key: jax.Array | None = None) -> jax.Array:
        return (x @ theta)[..., None]

    return Network(init=init, apply=apply, size=dim, unravel=lambda t: t, name=f"linear({dim})")


# ---------------------------------------------------------------- digits few-shot
def _digit_pools(
    digits: tuple[int, ...], keep: Callable[[str], bool] = lambda name: True
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Images of each (digit, rotation) class whose name ``keep`` accepts, padded:
    ``(C, M, 64)``, counts ``(C,)`` and the names (``"digit@degrees"``)."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = bunch.images / 16.0
    pools, names = [], []
    for digit in digits:
        base = images[bunch.target == digit]
        for rot in ROTATIONS:
            name = f"{digit}@{90 * rot}"
            if keep(name):
                pools.append(np.rot90(base, k=rot, axes=(1, 2)).reshape(len(base), 64))
                names.append(name)
    counts = np.array([len(p) for p in pools])
    padded = np.zeros((len(pools), counts.max(), 64))
    for c, pool in enumerate(pools):
        padded[c, : len(pool)] = pool
    return padded, counts, names


def shift_images(key: jax.Array, x: jax.Array, shift: int, side: int = 8) -> jax.Array:
    """Each flattened ``side x side`` image of ``x (..., side**2)`` moved by its own offset.

    The offsets ``(dy, dx)`` are uniform on ``{-shift, ..., shift}^2``, independently per
    image; pixels moved in from outside the frame are zero (the digits' background).
    """
    if shift == 0:
        return x
    batch = x.shape[:-1]
    images = jnp.reshape(x, (-1, side, side))
    offsets = jax.random.randint(key, (images.shape[0], 2), -shift, shift + 1)
    padded = jnp.pad(images, ((0, 0), (shift, shift), (shift, shift)))

    def one(image, offset):
        return jax.lax.dynamic_slice(image, (shift - offset[0], shift - offset[1]), (side, side))

    return jnp.reshape(jax.vmap(one)(padded, offsets), (*batch, side * side))


def _draw_digits(
    data: dict, key: jax.Array, n: int, *, ways: int, shots: int, queries: int, shift: int
):
    if shift:
        key, k_shift = jax.random.split(key)
    pools, counts = data["pools"], data["counts"]
    n_classes, size = pools.shape[0], pools.shape[1]
    per_class = shots + queries

    def one(key):
        k_class, k_items = jax.random.split(key)
        classes = jax.random.permutation(k_class, n_classes)[:ways]
        scores = jax.random.uniform(k_items, (ways, size))
        valid = jnp.arange(size)[None, :] < counts[classes][:, None]
        items = jnp.argsort(jnp.where(valid, scores, 2.0), axis=1)[:, :per_class]
        images = pools[classes[:, None], items]  # (ways, per_class, 64)
        labels = jnp.broadcast_to(jnp.arange(ways)[:, None], (ways, per_class))
        sx = jnp.reshape(images[:, :shots], (ways * shots, -1))
        qx = jnp.reshape(images[:, shots:], (ways * queries, -1))
        sy = jnp.reshape(labels[:, :shots], (-1,))
        qy = jnp.reshape(labels[:, shots:], (-1,))
        return Episodes(sx, sy, qx, qy, truth=classes)

    episodes = jax.vmap(one)(jax.random.split(key, n))
    if shift:
        episodes = episodes._replace(query_x=shift_images(k_shift, episodes.query_x, shift))
    return episodes


def digits_fewshot(
    split: str, *, ways: int = 5, shots: int = 1, queries: int = 15, shift: int = 0
) -> TaskSampler:
    """digits-fs: ``ways``-way ``shots``-shot episodes from scikit-learn's bundled digits.

    The 1797 8x8 images (pixels scaled to [0, 1]) of ten digits, each rotated by 0, 90, 180
    and 270 degrees, give 40 classes (digit x rotation). ``split="train"`` uses the digits
    {0, 1, 2, 3, 6} (20 classes), ``split="test"`` the digits {4, 5, 7, 8, 9} (20 classes),
    so 6 and 9 never share a split. The meta-training classes also split in two for
    calibration: ``"validation"`` holds the 5 classes of :data:`VALIDATION_CLASSES` (one
    rotation of each training digit) and ``"train_without_validation"`` the other 15. An
    episode draws ``ways`` distinct classes and, in each,
    ``shots + queries`` distinct images; labels are ``0..ways-1`` in the random class order.

    Parameters
    ----------
    split
        ``"train"``, ``"test"``, ``"validation"`` or ``"train_without_validation"``.
    ways, shots, queries
        Classes per episode, support and query images per class.
    shift
        Augmentation for meta-training: each query image is moved by a random whole-pixel
        offset in ``{-shift, ..., shift}`` along each axis (zero fill,
        :func:`shift_images`), so a metric learned on the episodes must match a digit to a
        slightly displaced copy of its support image. ``0`` (default) leaves the images
        as they are; the support images are never moved.

    Returns
    -------
    TaskSampler
        Unlimited generator; inputs ``(T, ways * shots, 64)``, labels ``(T, ways * shots)``;
        ``truth`` holds the classes drawn; ``info["classes"]`` their names.
    """
    check_choice("split", split, DIGITS_SPLITS)
    ways = check_int("ways", ways, minimum=2)
    shots = check_int("shots", shots, minimum=1)
    queries = check_int("queries", queries, minimum=1)
    shift = check_int("shift", shift, minimum=0)
    if shift > 3:
        raise ValueError(f"shift must be at most 3 pixels of the 8x8 images, got {shift}")
    digits = TEST_DIGITS if split == "test" else TRAIN_DIGITS
    if split == "validation":
        pools, counts, names = _digit_pools(digits, lambda name: name in VALIDATION_CLASSES)
    elif split == "train_without_validation":
        pools, counts, names = _digit_pools(digits, lambda name: name not in VALIDATION_CLASSES)
    else:
        pools, counts, names = _digit_pools(digits)
    if ways > len(names):
        raise ValueError(f"ways must be <= {len(names)} classes in a split, got {ways}")
    if shots + queries > counts.min():
        raise ValueError(f"shots + queries must be <= {counts.min()}, got {shots + queries}")

    def draw(data, key, n):
        return _draw_digits(data, key, n, ways=ways, shots=shots, queries=queries, shift=shift)

    return TaskSampler(
        draw=draw,
        data={"pools": jnp.asarray(pools, jnp.float32), "counts": jnp.asarray(counts)},
        likelihood=Likelihood.make("categorical"),
        n_tasks=None,
        name=f"digits_fs({split}, {ways}-way {shots}-shot, {queries} queries"
        + (f", queries shifted by up to {shift} px)" if shift else ")"),
        info={
            "split": split,
            "ways": ways,
            "shots": shots,
            "queries": queries,
            "shift": shift,
            "classes": names,
        },
    )
