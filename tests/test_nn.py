"""Small networks on flat parameters: shapes, sizes, initialisation, dropout, no retrace."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from bayesuq.nn import cnn, inputs_and_features, mlp, residual_embedding


def test_mlp_size_shapes_and_init_bounds():
    net = mlp((3, 40, 40, 2))
    theta = net.init(jax.random.PRNGKey(0))
    assert theta.shape == (net.size,) == (3 * 40 + 40 + 40 * 40 + 40 + 40 * 2 + 2,)
    assert net.apply(theta, jnp.ones((5, 7, 3))).shape == (5, 7, 2)
    first_w = net.unravel(theta)[0][0]
    bound = 1 / np.sqrt(3)
    assert float(jnp.max(jnp.abs(first_w))) <= bound
    # Uniform(-b, b) has sd b / sqrt(3): 120 draws, a loose 20% tolerance.
    assert abs(float(jnp.std(first_w)) - bound / np.sqrt(3)) < 0.2 * bound / np.sqrt(3)


def test_mlp_matches_a_hand_written_forward_pass():
    net = mlp((2, 4, 1), activation="tanh")
    theta = net.init(jax.random.PRNGKey(1))
    (w1, b1), (w2, b2) = net.unravel(theta)
    x = jax.random.normal(jax.random.PRNGKey(2), (6, 2))
    w1, b1, w2, b2 = (np.asarray(a) for a in (w1, b1, w2, b2))
    expected = np.tanh(np.asarray(x) @ w1 + b1) @ w2 + b2
    np.testing.assert_allclose(net.apply(theta, x), expected, rtol=1e-5, atol=1e-6)


def test_dropout_only_with_a_key_and_keeps_the_mean():
    net = mlp((1, 512, 1), dropout=0.5)
    theta = net.init(jax.random.PRNGKey(0))
    x = jnp.ones((1, 1))
    plain = net.apply(theta, x)
    np.testing.assert_array_equal(plain, net.apply(theta, x))
    keys = jax.random.split(jax.random.PRNGKey(3), 2000)
    draws = jax.vmap(lambda k: net.apply(theta, x, key=k))(keys)
    assert float(jnp.std(draws)) > 0
    # Inverted dropout is unbiased for a linear read-out: mean within 4 standard errors.
    se = float(jnp.std(draws)) / np.sqrt(keys.shape[0])
    assert abs(float(jnp.mean(draws) - plain[0, 0])) < 4 * se


def test_vmap_over_an_ensemble_and_no_retrace():
    net = mlp((1, 8, 1))
    thetas = jax.vmap(net.init)(jax.random.split(jax.random.PRNGKey(0), 5))
    assert thetas.shape == (5, net.size)
    forward = jax.jit(jax.vmap(net.apply, in_axes=(0, None)))
    x = jnp.linspace(-1, 1, 11)[:, None]
    assert forward(thetas, x).shape == (5, 11, 1)
    forward(thetas + 1.0, x + 1.0)
    assert forward._cache_size() == 1


def test_cnn_on_digit_sized_images():
    net = cnn((8, 8, 1), 5, channels=(8, 16))
    theta = net.init(jax.random.PRNGKey(0))
    assert theta.shape == (net.size,)
    out = net.apply(theta, jnp.ones((3, 10, 64)))
    assert out.shape == (3, 10, 5)
    assert np.all(np.isfinite(out))
    grad = jax.grad(lambda t: jnp.sum(net.apply(t, jnp.ones((4, 64))) ** 2))(theta)
    assert grad.shape == theta.shape and float(jnp.linalg.norm(grad)) > 0


@pytest.mark.parametrize(
    "build, message",
    [
        (lambda: mlp((3,)), "at least two"),
        (lambda: mlp((3, 2), activation="swish"), "activation"),
        (lambda: mlp((3, 2), dropout=1.0), "dropout"),
        (lambda: cnn((8, 8, 0), 5), "positive"),
    ],
)
def test_bad_settings_are_refused(build, message):
    with pytest.raises(ValueError, match=message):
        build()


def test_residual_embedding_starts_as_the_scaled_identity_and_learns():
    """f(x) = exp(s) (x + g(x)) with g's output layer at zero: f(x) = exp(-1) x at init, and
    the gradient reaches g's output layer (which a zero output layer would block if it
    were the only path) and the scale."""
    net = residual_embedding(6, (5,), log_scale=-1.0)
    theta = net.init(jax.random.PRNGKey(0))
    x = jax.random.normal(jax.random.PRNGKey(1), (4, 6))
    np.testing.assert_allclose(net.apply(theta, x), np.exp(-1.0) * x, rtol=1e-6)
    assert net.size == (6 * 5 + 5) + (5 * 6 + 6) + 1 == theta.shape[0]
    grad = jax.grad(lambda t: jnp.sum(net.apply(t, x) ** 3))(theta)
    out_layer = net.unravel(grad)["residual"][-1]
    assert float(jnp.abs(out_layer[0]).max()) > 0 and float(jnp.abs(grad[-1])) > 0
    with pytest.raises(ValueError, match="sizes must list"):
        residual_embedding(0)


def test_inputs_and_features_keeps_the_inputs_next_to_unit_features():
    """f(x) = exp(s) [x, r g/||g||]: the first block is the input, the second has length r,
    the squared distance is the sum of the two parts', and gradients reach g and s."""
    body = mlp((6, 5, 4))
    net = inputs_and_features(body, feature_norm=2.5, log_scale=0.0)
    theta = net.init(jax.random.PRNGKey(0))
    assert net.size == body.size + 1 == theta.shape[0]
    x = jax.random.normal(jax.random.PRNGKey(1), (3, 6))
    out = np.asarray(net.apply(theta, x))
    np.testing.assert_allclose(out[:, :6], x, rtol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(out[:, 6:], axis=1), 2.5, rtol=1e-5)
    u = np.asarray(body.apply(theta[:-1], x))
    u = 2.5 * u / np.linalg.norm(u, axis=1, keepdims=True)
    dist = np.sum((out[0] - out[1]) ** 2)
    expected = np.sum((x[0] - x[1]) ** 2) + np.sum((u[0] - u[1]) ** 2)
    np.testing.assert_allclose(dist, expected, rtol=1e-5)
    doubled = net.apply(theta.at[-1].set(np.log(2.0)), x)
    np.testing.assert_allclose(doubled, 2.0 * out, rtol=1e-5)
    grad = jax.grad(lambda t: jnp.sum(net.apply(t, x)[:, 6:] ** 3))(theta)
    assert float(jnp.abs(grad[:-1]).max()) > 0 and float(jnp.abs(grad[-1])) > 0
    with pytest.raises(ValueError, match="feature_norm must be a positive"):
        inputs_and_features(body, feature_norm=0.0)
