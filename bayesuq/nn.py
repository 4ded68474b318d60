"""Small neural networks as pure ``init``/``apply`` functions on a flat parameter vector.

Shared by the model families that need a network (DEUP's main predictor and baselines,
NIW-Meta's episode networks). A :class:`Network` is two pure functions and a size:

* ``init(key) -> theta``: a flat float vector of ``size`` parameters;
* ``apply(theta, x, *, key=None) -> output``: the forward pass on inputs whose last axis
  holds the features (leading axes are batch axes). With ``key`` and ``dropout > 0`` it
  applies inverted dropout after every hidden activation (MC dropout: call it with
  different keys); without ``key`` it is deterministic.

Flat parameters (``jax.flatten_util.ravel_pytree`` of the layer weights) make ensembles,
seeds and episodes a plain ``vmap`` over a leading axis of ``theta``, and let
Bayesian treatments (a Gaussian over ``theta``) use ordinary vector algebra. No framework
objects, no hidden state.

Initialisation follows PyTorch's ``nn.Linear``/``nn.Conv2d`` default: weights and biases
uniform on ``(-1/sqrt(fan_in), 1/sqrt(fan_in))`` (He et al. 2015's Kaiming-uniform with
``a = sqrt(5)``), so results are comparable with the papers' PyTorch code.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

ACTIVATIONS: dict[str, Callable[[jax.Array], jax.Array]] = {
    "relu": jax.nn.relu,
    "tanh": jnp.tanh,
    "elu": jax.nn.elu,
    "gelu": jax.nn.gelu,
}

_TINY = 1e-12  # keeps the length of an all-zero feature vector away from 0

__all__ = ["ACTIVATIONS", "Network", "cnn", "inputs_and_features", "mlp", "residual_embedding"]


@dataclass(frozen=True)
class Network:
    """A network as pure functions of a flat parameter vector (see the module docstring).

    Attributes
    ----------
    init
        ``init(key) -> theta`` with ``theta.shape == (size,)``.
    apply
        ``apply(theta, x, *, key=None) -> output``.
    size
        Number of parameters ``D``.
    unravel
        ``unravel(theta)`` gives the layer weights as a pytree (for inspection).
    name
        A short description, e.g. ``"mlp(1-40-40-1, relu)"``.
    """

    init: Callable[[jax.Array], jax.Array]
    apply: Callable[..., jax.Array]
    size: int
    unravel: Callable[[jax.Array], Any]
    name: str


def _uniform(key: jax.Array, shape: tuple[int, ...], fan_in: int, dtype: Any) -> jax.Array:
    bound = 1.0 / math.sqrt(fan_in)
    return jax.random.uniform(key, shape, dtype, -bound, bound)


def _add_bias(y: jax.Array, b: jax.Array) -> jax.Array:
    """``y + b`` over the last axis, with explicit broadcasting (no rank promotion)."""
    return y + jnp.reshape(b, (1,) * (y.ndim - 1) + b.shape)


def _dropout(key: jax.Array | None, h: jax.Array, rate: float, layer: int) -> jax.Array:
    """Inverted dropout: zero each unit with probability ``rate``, scale the rest by 1/(1-rate)."""
    if key is None or rate == 0.0:
        return h
    keep = jax.random.bernoulli(jax.random.fold_in(key, layer), 1.0 - rate, h.shape)
    return jnp.where(keep, h / (1.0 - rate), 0.0)


def _check_rate(dropout: float) -> float:
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
    return float(dropout)


def mlp(
    sizes: Sequence[int],
    *,
    activation: str = "relu",
    dropout: float = 0.0,
    dtype: Any = None,
) -> Network:
    """A fully connected network ``sizes[0] -> ... -> sizes[-1]``.

    ``h_{l+1} = act(h_l W_l + b_l)`` for hidden layers, and a linear output layer
    ``y = h_L W_L + b_L``.

    Parameters
    ----------
    sizes
        Layer widths, inputs first and outputs last (at least two entries), e.g.
        ``(1, 40, 40, 1)`` for the sine-regression network of Finn et al. (2017).
    activation
        Hidden activation, one of :data:`ACTIVATIONS`.
    dropout
        Dropout rate after each hidden activation, applied when ``apply`` gets a ``key``.
    dtype
        Parameter dtype (default: the current default float dtype at ``init`` time).
    """
    sizes = tuple(int(s) for s in sizes)
    if len(sizes) < 2 or min(sizes) < 1:
        raise ValueError(f"sizes must list at least two positive widths, got {sizes!r}")
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}")
    rate = _check_rate(dropout)
    act = ACTIVATIONS[activation]

    def layers(key: jax.Array) -> list[tuple[jax.Array, jax.Array]]:
        float_dtype = dtype or jnp.result_type(float)
        keys = jax.random.split(key, 2 * (len(sizes) - 1))
        return [
            (
                _uniform(keys[2 * i], (n_in, n_out), n_in, float_dtype),
                _uniform(keys[2 * i + 1], (n_out,), n_in, float_dtype),
            )
            for i, (n_in, n_out) in enumerate(itertools.pairwise(sizes))
        ]

    template = jax.eval_shape(layers, jax.random.PRNGKey(0))
    _, unravel = ravel_pytree(jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), template))

    def init(key: jax.Array) -> jax.Array:
        return ravel_pytree(layers(key))[0]

    def apply(theta: jax.Array, x: jax.Array, *, key: jax.Array | None = None) -> jax.Array:
        h = x
        params = unravel(theta)
        for i, (w, b) in enumerate(params):
            h = _add_bias(h @ w, b)
            if i < len(params) - 1:
                h = _dropout(key, act(h), rate, i)
        return h

    size = sum(n_in * n_out + n_out for n_in, n_out in itertools.pairwise(sizes))
    name = f"mlp({'-'.join(map(str, sizes))}, {activation}" + (
        f", dropout {rate})" if rate else ")"
    )
    return Network(init=init, apply=apply, size=size, unravel=unravel, name=name)


def residual_embedding(
    width: int,
    hidden: Sequence[int] = (64,),
    *,
    activation: str = "relu",
    log_scale: float = -1.0,
    dtype: Any = None,
) -> Network:
    """An embedding that starts as the identity: ``f(x) = exp(s) * (x + g(x))``.

    ``g`` is an :func:`mlp` ``width -> hidden -> width`` whose output layer starts at zero,
    so at initialisation ``f`` is the input up to the scale ``exp(s)`` (``s`` is a learned
    parameter, the last entry of ``theta``; for a prototype classifier it is an inverse
    temperature). A metric learner built on it (ProtoNet, NIW-Meta's prototype head) starts
    from the raw-input nearest-centroid rule and learns a correction (a residual block, He
    et al. 2016, "Deep Residual Learning for Image Recognition", CVPR).

    Parameters
    ----------
    width
        Input and output width.
    hidden
        Hidden widths of ``g``.
    activation
        Hidden activation of ``g``, one of :data:`ACTIVATIONS`.
    log_scale
        Initial ``s``.
    dtype
        Parameter dtype (default: the current default float dtype at ``init`` time).
    """
    body = mlp((int(width), *hidden, int(width)), activation=activation, dtype=dtype)
    n_out = int(width) * (int(hidden[-1]) if len(hidden) else int(width)) + int(width)

    def init(key: jax.Array) -> jax.Array:
        theta = body.init(key)
        theta = theta.at[-n_out:].set(0.0)  # the output layer (weights, then bias) is last
        return jnp.concatenate([theta, jnp.full((1,), log_scale, theta.dtype)])

    def apply(theta: jax.Array, x: jax.Array, *, key: jax.Array | None = None) -> jax.Array:
        return jnp.exp(theta[-1]) * (x + body.apply(theta[:-1], x, key=key))

    def unravel(theta: jax.Array) -> dict[str, Any]:
        return {"residual": body.unravel(theta[:-1]), "log_scale": theta[-1]}

    name = f"residual({body.name})"
    return Network(init=init, apply=apply, size=body.size + 1, unravel=unravel, name=name)


def cnn(
    image_shape: tuple[int, int, int],
    outputs: int,
    *,
    channels: Sequence[int] = (32, 32),
    kernel: int = 3,
    dropout: float = 0.0,
    dtype: Any = None,
) -> Network:
    """A small convolutional network on flattened images.

    Each block is a ``kernel x kernel`` convolution (stride 1, 'SAME' padding), ReLU and
    2x2 max-pooling (where the image is still at least 2 pixels wide); a linear layer maps
    the flattened features to ``outputs``. Inputs have shape ``(..., H * W * C)`` (as the
    MLP's), reshaped inside to ``(..., H, W, C)``.

    Parameters
    ----------
    image_shape
        ``(H, W, C)``, e.g. ``(8, 8, 1)`` for scikit-learn's digits.
    outputs
        Output width (e.g. the number of ways of a few-shot episode).
    channels
        Output channels of each convolutional block.
    kernel
        Convolution kernel size.
    dropout
        Dropout rate after each block, applied when ``apply`` gets a ``key``.
    dtype
        Parameter dtype (default: the current default float dtype at ``init`` time).
    """
    height, width, depth = (int(s) for s in image_shape)
    channels = tuple(int(c) for c in channels)
    rate = _check_rate(dropout)
    if min(height, width, depth, outputs, kernel, *channels) < 1:
        raise ValueError(
            f"image_shape, outputs, channels and kernel must be positive, got {image_shape}, "
            f"{outputs}, {channels}, {kernel}"
        )
    shapes = [
        (kernel, kernel, c_in, c_out)
        for c_in, c_out in zip((depth, *channels[:-1]), channels, strict=True)
    ]
    pools = []
    h, w = height, width
    for _ in channels:
        pool = h >= 2 and w >= 2
        pools.append(pool)
        if pool:
            h, w = h // 2, w // 2
    features = h * w * channels[-1]

    def layers(key: jax.Array) -> dict[str, Any]:
        float_dtype = dtype or jnp.result_type(float)
        keys = jax.random.split(key, 2 * len(shapes) + 2)
        conv = [
            (
                _uniform(keys[2 * i], s, s[0] * s[1] * s[2], float_dtype),
                _uniform(keys[2 * i + 1], (s[3],), s[0] * s[1] * s[2], float_dtype),
            )
            for i, s in enumerate(shapes)
        ]
        dense = (
            _uniform(keys[-2], (features, outputs), features, float_dtype),
            _uniform(keys[-1], (outputs,), features, float_dtype),
        )
        return {"conv": conv, "dense": dense}

    template = jax.eval_shape(layers, jax.random.PRNGKey(0))
    _, unravel = ravel_pytree(jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), template))

    def init(key: jax.Array) -> jax.Array:
        return ravel_pytree(layers(key))[0]

    def apply(theta: jax.Array, x: jax.Array, *, key: jax.Array | None = None) -> jax.Array:
        params = unravel(theta)
        batch = x.shape[:-1]
        h = jnp.reshape(x, (-1, height, width, depth))
        for i, ((w_conv, b_conv), pool) in enumerate(zip(params["conv"], pools, strict=True)):
            h = jax.lax.conv_general_dilated(
                h, w_conv, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC")
            )
            h = jax.nn.relu(_add_bias(h, b_conv))
            if pool:
                window = (1, 2, 2, 1)
                h = jax.lax.reduce_window(h, -jnp.inf, jax.lax.max, window, window, "VALID")
            h = _dropout(key, h, rate, i)
        w_dense, b_dense = params["dense"]
        out = _add_bias(jnp.reshape(h, (h.shape[0], -1)) @ w_dense, b_dense)
        return jnp.reshape(out, (*batch, outputs))

    size = sum(math.prod(s) + s[3] for s in shapes) + features * outputs + outputs
    name = f"cnn({height}x{width}x{depth}, channels {'-'.join(map(str, channels))}, {outputs} out)"
    return Network(init=init, apply=apply, size=size, unravel=unravel, name=name)


def inputs_and_features(
    features: Network, *, feature_norm: float, log_scale: float = 0.0
) -> Network:
    """An embedding that keeps its inputs: ``f(x) = exp(s) * [x, r * g(x) / ||g(x)||]``.

    The inputs ``x`` are kept next to the learned features ``g(x)`` of ``features``, which
    are scaled to the fixed length ``r = feature_norm``. Squared distances add,
    ``||f(x) - f(x')||^2 = exp(2s) * (||x - x'||^2 + r^2 ||u(x) - u(x')||^2)`` with
    ``u = g / ||g||``, so a metric learner built on it (ProtoNet, NIW-Meta's prototype head)
    starts from the raw-input distance plus a learned term whose size ``r`` sets: with
    ``r^2`` equal to half the typical squared input distance, the learned part weighs about
    as much as the inputs (``2 r^2`` is the largest value of ``r^2 ||u - u'||^2``). The
    scale ``s`` (the last entry of ``theta``, an inverse temperature of a prototype
    classifier) is learned. Ours, not from a paper: on digits-fs the raw pixels are a strong
    few-shot baseline that a learned embedding alone did not beat (``docs/metalearn.md``).

    Parameters
    ----------
    features
        The feature network ``g`` (e.g. a :func:`cnn`), applied to the same inputs.
    feature_norm
        ``r > 0``, the length of the feature part.
    log_scale
        Initial ``s``.
    """
    norm = float(feature_norm)
    if not math.isfinite(norm) or norm <= 0:
        raise ValueError(f"feature_norm must be a positive number, got {feature_norm!r}")

    def init(key: jax.Array) -> jax.Array:
        theta = features.init(key)
        return jnp.concatenate([theta, jnp.full((1,), log_scale, theta.dtype)])

    def apply(theta: jax.Array, x: jax.Array, *, key: jax.Array | None = None) -> jax.Array:
        g = features.apply(theta[:-1], x, key=key)
        length = jnp.sqrt(jnp.sum(g * g, axis=-1, keepdims=True) + _TINY)
        return jnp.exp(theta[-1]) * jnp.concatenate([x, norm * g / length], axis=-1)

    def unravel(theta: jax.Array) -> dict[str, Any]:
        return {"features": features.unravel(theta[:-1]), "log_scale": theta[-1]}

    name = f"inputs_and_features({features.name}, norm {norm:.3g})"
    return Network(init=init, apply=apply, size=features.size + 1, unravel=unravel, name=name)
