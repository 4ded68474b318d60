"""``NIWMeta``: the estimator shell around the episodic optimisation and the predictive.

Kim & Hospedales, "A Hierarchical Bayesian Model for Few-Shot Meta Learning", ICLR 2024
spotlight (arXiv:2306.09702). See :mod:`bayesuq.models.metalearn.episode` for the training
objective and ``docs/metalearn.md`` for which formulas come from where.
"""

from __future__ import annotations

import time
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from bayesuq.infer.arguments import check_choice, check_int, check_positive
from bayesuq.infer.results import inference_data
from bayesuq.models.metalearn.episode import (
    COVARIANCES,
    DATA_TERMS,
    EPISODE_DATA,
    SURROGATES,
    EpisodeConfig,
    GlobalParams,
    constrain,
    gaussian_draws,
    init_global,
    local_posterior,
    meta_loss,
    surrogate_fit,
)
from bayesuq.models.metalearn.evaluate import (
    CALIBRATION_EPISODES,
    calibrate_noise,
    scaled_logits,
)
from bayesuq.models.metalearn.heads import HEADS, episode_apply
from bayesuq.models.metalearn.likelihood import Likelihood
from bayesuq.models.metalearn.niw import NIW, niw_mode, sample_niw
from bayesuq.models.metalearn.tasks import TaskSampler
from bayesuq.models.metalearn.training import meta_train
from bayesuq.nn import Network
from bayesuq.precision import computing_in, resolve_precision

TEST_RULES = ("vi", "train")
PREDICTIVE_NOISE = ("fit", "known")
PREDICT_TASKS_AT_ONCE = 16
"""Tasks adapted and drawn from in one vectorised group when predicting: a prediction for
many tasks runs group after group (``jax.lax.map``), so its memory does not grow with them."""

__all__ = ["TEST_RULES", "NIWMeta", "check_episode_inputs", "vi_posterior"]


def vi_posterior(
    apply: Any,
    likelihood: Likelihood,
    prior_mean: jax.Array,
    prior_var: jax.Array,
    x: jax.Array,
    y: jax.Array,
    key: jax.Array,
    *,
    steps: int,
    learning_rate: float,
    draws: int,
) -> tuple[jax.Array, jax.Array]:
    """The paper's test-time rule: ``q(theta) = N(m, diag v)`` by a few VI steps.

    Minimises ``E_q l_S(theta) + KL(q || N(mu_mode, Sigma_mode))`` over ``(m, log v)`` with
    Adam, from ``m = mu_mode``, ``v = diag Sigma_mode`` (Kim & Hospedales 2024, eq. 13 and
    appendix eqs. 63-64 as the reviews describe them; spec section 3). ``E_q`` by ``draws``
    reparametrised samples per step. ``prior_var`` is a vector (diagonal) or a matrix.
    """
    full = prior_var.ndim == 2
    if full:
        chol = jnp.linalg.cholesky(prior_var)
        prior_prec_diag = jnp.diagonal(
            jax.scipy.linalg.cho_solve(
                (chol, True), jnp.eye(prior_var.shape[0], dtype=prior_var.dtype)
            )
        )
        prior_logdet = 2.0 * jnp.sum(jnp.log(jnp.diagonal(chol)))
        start_var = jnp.diagonal(prior_var)
    else:
        start_var = prior_var

    def kl(m, v):
        diff = m - prior_mean
        if full:
            white = jax.scipy.linalg.solve_triangular(chol, diff, lower=True)
            return 0.5 * (
                jnp.sum(prior_prec_diag * v)
                + jnp.sum(white**2)
                - m.shape[0]
                + prior_logdet
                - jnp.sum(jnp.log(v))
            )
        return 0.5 * jnp.sum(v / prior_var + diff**2 / prior_var - 1.0 + jnp.log(prior_var / v))

    def objective(params, k):
        m, log_v = params
        v = jnp.exp(log_v)
        z = jax.random.normal(k, (draws, m.shape[0]), m.dtype)
        thetas = m[None, :] + jnp.sqrt(v)[None, :] * z
        nll = jnp.mean(jax.vmap(lambda t: likelihood.nll(apply(t, x), y))(thetas))
        return nll + kl(m, v)

    optimiser = optax.adam(learning_rate)
    params = (prior_mean, jnp.log(start_var))
    state = optimiser.init(params)

    def step(carry, k):
        params, state = carry
        grads = jax.grad(objective)(params, k)
        updates, state = optimiser.update(grads, state, params)
        return (optax.apply_updates(params, updates), state), None

    (params, _), _ = jax.lax.scan(step, (params, state), jax.random.split(key, steps))
    return params[0], jnp.exp(params[1])


def check_episode_inputs(
    support_x: Any, support_y: Any, query_x: Any, *, likelihood: Likelihood
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Check shapes and values of a batch of episodes; return them as NumPy arrays.

    ``support_x (T, S, F)``, ``support_y (T, S)``, ``query_x (T, Q, F)``; finite values;
    integer labels in ``[0, K)`` is left to the network's output width.
    """
    sx, sy, qx = (np.asarray(a) for a in (support_x, support_y, query_x))
    if sx.ndim != 3 or qx.ndim != 3 or sy.ndim != 2:
        raise ValueError(
            "support_x and query_x must have shape (task, point, feature) and support_y "
            f"(task, point); got {sx.shape}, {sy.shape}, {qx.shape}"
        )
    if sx.shape[:2] != sy.shape or sx.shape[0] != qx.shape[0] or sx.shape[2] != qx.shape[2]:
        raise ValueError(
            f"episode shapes do not agree: support_x {sx.shape}, support_y {sy.shape}, "
            f"query_x {qx.shape}"
        )
    for name, a in (("support_x", sx), ("support_y", sy), ("query_x", qx)):
        if not np.all(np.isfinite(a)):
            raise ValueError(f"{name} holds NaN or infinite values")
    if likelihood.kind == "categorical" and not np.all(sy == np.round(sy)):
        raise ValueError("support_y must hold integer class labels for a categorical likelihood")
    return sx, sy, qx


class NIWMeta:
    """Hierarchical Bayesian few-shot meta-learning with a Normal-Inverse-Wishart prior.

    Kim & Hospedales, "A Hierarchical Bayesian Model for Few-Shot Meta Learning", ICLR 2024
    (arXiv:2306.09702). Generative model: ``phi = (mu, Sigma) ~ NIW``;
    ``theta_i | phi ~ N(mu, Sigma)`` for the weights of episode ``i``;
    ``D_i | theta_i ~ prod_n p(y_n | x_n, theta_i)``. Variational posterior
    ``q(phi) = NIW(m0, l0, Lambda0, n0)`` (the meta-parameters) and, per episode, the
    closed-form ``q*_i = N(m*, V*)`` from a quadratic surrogate of the episode loss::

        ELBO = sum_i { E_{q*_i} log p(D_i | theta) - E_{q(phi)} KL(q*_i || N(mu, Sigma)) }
               - KL(q(phi) || p(phi))

    maximised with Adam over meta-batches of episodes (``vmap``), the global KL divided by
    the number of training episodes.

    Parameters
    ----------
    network
        A :class:`bayesuq.nn.Network` (``apply(theta, x)`` on a flat parameter vector).
    covariance
        ``"diag"`` (deep networks) or ``"full"`` (small ``D``: ``O(D^3)``).
    surrogate
        ``"sgld"`` (the paper's), ``"laplace"`` (diagonal Gauss-Newton after ``sgld_steps``
        gradient steps) or ``"exact"`` (Hessian and Newton point; small ``D``).
    sgld_steps, burnin
        Inner steps of the surrogate and the iterates discarded (SGLD).
    step_scale
        The SGLD step numerator ``alp``: ``eta = step_scale / N_i`` on the summed NLL.
    curvature_max
        Upper clip of the surrogate's curvature ``A_bar`` (``ai_max``).
    test_rule
        ``"vi"``: the paper's predictive (mode of ``q(phi)``, then ``vi_steps`` VI steps on
        the support); ``"train"``: the training rule (surrogate on the support, closed form).
    seed
        Integer seed of the initialisation, the meta-batches and the surrogate noise.
    precision
        ``None`` (the family default ``"float32"``) or ``"float32"``/``"float64"``.
    likelihood, noise
        ``"gaussian"`` (with its known noise sd) or ``"categorical"``; ``None``: taken from
        the tasks given to :meth:`fit`.
    n0_init, gamma0_init
        Start of ``n0`` and of the precision scale ``gamma0`` (``Lambda0 = I / gamma0``);
        the paper's README uses 1 and 1e6 (``q*_i ~ N(m0, 1e-6)`` at the start).
    kappa
        ``l0`` (fixed).
    prior
        Hyperparameters of ``p(phi) = NIW(mean, kappa, scale * I, dof)``, a mapping with any of
        ``mean`` (0), ``kappa`` (0.01), ``scale`` (0.01) and ``dof`` (2 for ``"diag"``,
        ``d + 1`` for ``"full"``).
    data_term
        ``"mc"`` (reparametrised Monte Carlo of the true NLL, ``train_draws`` draws) or
        ``"surrogate"`` (its quadratic surrogate in closed form).
    episode_data
        ``"all"`` (surrogate and data term on support and query together) or ``"split"``
        (surrogate on the support, data term on the query).
    vi_steps, vi_learning_rate, vi_draws
        The ``"vi"`` test rule's Adam steps, step size and Monte Carlo draws per step.
    episodes_at_once
        Episodes adapted in one vectorised call; the groups run one after another
        (``jax.lax.map``). ``None`` (default): a training meta-batch at once, and
        prediction in groups of :data:`PREDICT_TASKS_AT_ONCE`. A convolutional embedding
        wants a small value on CPU: vectorised over episodes, each with its own weights, its
        convolutions become grouped ones (slower), and the Gauss-Newton diagonals of every
        episode of a group are held at once.
    head
        ``"linear"``: the network's outputs are the predictions; ``"prototype"``
        (classification): the network is an embedding and an episode's logits are
        ``-||f(x) - c_k||^2`` to the class prototypes of its support set, the set-up of the
        paper's few-shot classifiers (a ProtoNet-style backbone under the NIW prior).
    predictive_noise
        Noise sd of the Gaussian predictive ``y = f(x; theta) + noise * eps`` (regression):
        ``"fit"`` (default) chooses it after :meth:`fit` by maximising the predictive
        likelihood of the query points of ``calibration_tasks`` episodes drawn from the
        meta-training tasks (:func:`~bayesuq.models.metalearn.evaluate.calibrate_noise`), so
        that the bands also cover the adapted network's misfit; ``"known"`` uses the
        likelihood's noise (the paper's predictive); a positive number sets it.
    calibration_tasks
        Episodes used by ``predictive_noise="fit"``.
    logit_scale
        Classification: the factor ``tau`` on every weight draw's logits in the predictive
        ``mean_s softmax(tau f_s)`` (temperature scaling; 1 leaves the logits as they are).
        Fitted on held-out classes with
        :func:`~bayesuq.models.metalearn.evaluate.fit_logit_scale`; the digits study sets it
        by cross-fitting (:func:`~bayesuq.models.metalearn.study.held_out_logit_scale`).
        Applied after the compiled program, so changing it recompiles nothing.

    Attributes
    ----------
    params_
        Unconstrained global parameters after :meth:`fit`.
    niw_
        ``q(phi)`` as a :class:`bayesuq.models.metalearn.niw.NIW` of NumPy arrays.
    history_
        ``pandas.DataFrame`` of the meta-loss and its parts per step.
    """

    def __init__(
        self,
        network: Network,
        *,
        covariance: str = "diag",
        surrogate: str = "sgld",
        sgld_steps: int = 3,
        burnin: int = 0,
        step_scale: float = 1e-6,
        curvature_max: float = 1e3,
        test_rule: str = "vi",
        seed: int = 0,
        precision: str | None = None,
        likelihood: str | None = None,
        noise: float | None = None,
        n0_init: float = 1.0,
        gamma0_init: float = 1e6,
        kappa: float = 1.0,
        prior: dict[str, float] | None = None,
        data_term: str = "mc",
        train_draws: int = 1,
        episode_data: str = "all",
        vi_steps: int = 10,
        vi_learning_rate: float = 1e-2,
        vi_draws: int = 2,
        head: str = "linear",
        predictive_noise: str | float = "fit",
        calibration_tasks: int = CALIBRATION_EPISODES,
        episodes_at_once: int | None = None,
        logit_scale: float = 1.0,
    ):
        if not isinstance(network, Network):
            raise TypeError(
                f"network must be a bayesuq.nn.Network (from mlp/cnn), got {type(network).__name__}"
            )
        self.network = network
        self.covariance = check_choice("covariance", covariance, COVARIANCES)
        self.surrogate = check_choice("surrogate", surrogate, SURROGATES)
        self.sgld_steps = check_int("sgld_steps", sgld_steps, minimum=0)
        self.burnin = check_int("burnin", burnin, minimum=0)
        self.step_scale = check_positive("step_scale", step_scale)
        self.curvature_max = check_positive("curvature_max", curvature_max)
        self.test_rule = check_choice("test_rule", test_rule, TEST_RULES)
        self.seed = check_int("seed", seed, minimum=0)
        self.precision = resolve_precision(precision, "float32")
        self.likelihood = None if likelihood is None else Likelihood.make(likelihood, noise)
        self.n0_init = check_positive("n0_init", n0_init)
        self.gamma0_init = check_positive("gamma0_init", gamma0_init)
        self.kappa = check_positive("kappa", kappa)
        self.prior = dict(prior or {})
        unknown = sorted(set(self.prior) - {"mean", "kappa", "scale", "dof"})
        if unknown:
            raise ValueError(f"prior keys must be mean, kappa, scale, dof; got {unknown}")
        self.data_term = check_choice("data_term", data_term, DATA_TERMS)
        self.train_draws = check_int("train_draws", train_draws, minimum=1)
        self.episode_data = check_choice("episode_data", episode_data, EPISODE_DATA)
        self.vi_steps = check_int("vi_steps", vi_steps, minimum=0)
        self.vi_learning_rate = check_positive("vi_learning_rate", vi_learning_rate)
        self.vi_draws = check_int("vi_draws", vi_draws, minimum=1)
        self.head = check_choice("head", head, HEADS)
        if isinstance(predictive_noise, str):
            check_choice("predictive_noise", predictive_noise, PREDICTIVE_NOISE)
        else:
            predictive_noise = check_positive("predictive_noise", predictive_noise)
        self.predictive_noise = predictive_noise
        self.calibration_tasks = check_int("calibration_tasks", calibration_tasks, minimum=2)
        self.episodes_at_once = (
            None
            if episodes_at_once is None
            else check_int("episodes_at_once", episodes_at_once, minimum=1)
        )
        self.logit_scale = check_positive("logit_scale", logit_scale)
        categorical = self.likelihood is None or self.likelihood.kind == "categorical"
        if self.head == "prototype" and not categorical:
            raise ValueError("head='prototype' needs a categorical likelihood")
        self.ways_ = 0
        if surrogate == "exact" and network.size > 2000:
            raise ValueError(
                f"surrogate='exact' builds a {network.size}x{network.size} Hessian per episode; "
                "use 'laplace' or 'sgld' for networks with more than 2000 parameters"
            )
        if covariance == "full" and network.size > 500:
            raise ValueError(
                f"covariance='full' needs D x D matrices (D = {network.size}); use 'diag' for "
                "networks with more than 500 parameters"
            )
        self.params_: GlobalParams | None = None
        self.predictive_noise_: float | None = None
        self._programs: dict[Any, Any] = {}

    # ------------------------------------------------------------------ configuration
    @property
    def config(self) -> EpisodeConfig:
        """The static episode settings."""
        return EpisodeConfig(
            covariance=self.covariance,
            surrogate=self.surrogate,
            steps=self.sgld_steps,
            burnin=self.burnin,
            step_scale=self.step_scale,
            curvature_max=self.curvature_max,
            kappa=self.kappa,
            data_term=self.data_term,
            train_draws=self.train_draws,
            episode_data=self.episode_data,
            head=self.head,
            ways=self.ways_,
            episodes_at_once=self.episodes_at_once or 0,
        )

    def _prior(self) -> NIW:
        d = self.network.size
        full = self.covariance == "full"
        dof = self.prior.get("dof", d + 1.0 if full else 2.0)
        if full and dof <= d - 1:
            raise ValueError(f"prior dof must exceed d - 1 = {d - 1}, got {dof}")
        scale = float(self.prior.get("scale", 0.01))
        mean = jnp.broadcast_to(jnp.asarray(self.prior.get("mean", 0.0), float), (d,))
        return NIW(
            mean,
            jnp.asarray(float(self.prior.get("kappa", 0.01))),
            scale * jnp.eye(d) if full else jnp.full((d,), scale),
            jnp.asarray(float(dof)),
        )

    def _attrs(self) -> dict[str, Any]:
        return {
            "estimator": "NIWMeta",
            "network": self.network.name,
            "parameters": self.network.size,
            "covariance": self.covariance,
            "surrogate": self.surrogate,
            "sgld_steps": self.sgld_steps,
            "burnin": self.burnin,
            "step_scale": self.step_scale,
            "curvature_max": self.curvature_max,
            "test_rule": self.test_rule,
            "likelihood": None if self.likelihood is None else self.likelihood.kind,
            "noise": None if self.likelihood is None else self.likelihood.noise,
            "predictive_noise": self.predictive_noise_,
            "predictive_noise_rule": (
                self.predictive_noise if isinstance(self.predictive_noise, str) else "given"
            ),
            "data_term": self.data_term,
            "episode_data": self.episode_data,
            "head": self.head,
            "precision": self.precision,
            "episodes_at_once": self.episodes_at_once or 0,
            "logit_scale": self.logit_scale,
        }

    def _check_fitted(self) -> None:
        if self.params_ is None:
            raise RuntimeError("NIWMeta is not fitted: call fit(tasks, ...) first")

    # ------------------------------------------------------------------ training
    def _loss(self):
        key = ("loss", self.likelihood, self.config)
        if key not in self._programs:
            apply, likelihood, config = self.network.apply, self.likelihood, self.config

            def loss(params, episodes, key, prior, n_episodes):
                return meta_loss(
                    params,
                    prior,
                    n_episodes,
                    episodes,
                    key,
                    apply=apply,
                    likelihood=likelihood,
                    config=config,
                )

            self._programs[key] = loss
        return self._programs[key]

    def fit(
        self,
        tasks: TaskSampler,
        *,
        steps: int = 2000,
        meta_batch: int = 16,
        learning_rate: float = 1e-3,
        progress: bool = True,
    ) -> NIWMeta:
        """Meta-train ``q(phi)`` on episodes drawn from ``tasks``.

        Each step draws ``meta_batch`` episodes (distinct ones from a finite set), evaluates
        the mean episode objective and takes one Adam step on the unconstrained NIW
        parameters. The global KL is divided by the number of training episodes: the size
        of a finite set, else ``steps * meta_batch`` (the episodes the run sees).

        Parameters
        ----------
        tasks
            A :class:`~bayesuq.models.metalearn.tasks.TaskSampler` (e.g.
            :func:`sine_line_tasks`, :func:`digits_fewshot`, :func:`linear_gaussian_tasks`).
        steps
            Meta-steps.
        meta_batch
            Episodes per step.
        learning_rate
            Adam step size.
        progress
            Show a progress bar.

        Returns
        -------
        NIWMeta
            ``self``, fitted.
        """
        if not isinstance(tasks, TaskSampler):
            raise TypeError(f"tasks must be a TaskSampler, got {type(tasks).__name__}")
        steps = check_int("steps", steps, minimum=1)
        meta_batch = check_int("meta_batch", meta_batch, minimum=1)
        if self.likelihood is None:
            self.likelihood = tasks.likelihood
        elif self.likelihood != tasks.likelihood:
            raise ValueError(
                f"likelihood {self.likelihood} differs from the tasks' {tasks.likelihood}"
            )
        if self.head == "prototype":
            if self.likelihood.kind != "categorical":
                raise ValueError("head='prototype' needs tasks with a categorical likelihood")
            self.ways_ = int(tasks.info.get("ways", 0))
            if self.ways_ < 2:
                raise ValueError("head='prototype' needs tasks whose info records 'ways' >= 2")
        n_episodes = tasks.n_tasks or steps * meta_batch
        with computing_in(self.precision):
            key_init, key_run = jax.random.split(jax.random.PRNGKey(self.seed))
            params = init_global(
                self.network.init(key_init),
                covariance=self.covariance,
                n0=self.n0_init,
                gamma0=self.gamma0_init,
            )
            result = meta_train(
                self._loss(),
                params,
                tasks,
                steps=steps,
                meta_batch=meta_batch,
                learning_rate=learning_rate,
                key=key_run,
                cache=self._programs,
                extra=(self._prior(), jnp.asarray(float(n_episodes))),
                progress=progress,
                desc="NIW-Meta",
                tag=self.precision,
            )
        self.params_ = result.params
        self.n_episodes_ = n_episodes
        self.history_ = result.history
        self.fit_seconds_ = result.total_seconds
        self.compile_seconds_ = result.compile_seconds
        self.fit_settings_ = {
            "steps": steps,
            "meta_batch": meta_batch,
            "learning_rate": float(learning_rate),
            "tasks": tasks.name,
            "training_episodes": n_episodes,
        }
        self.predictive_noise_ = self._predictive_noise(tasks)
        return self

    def _predictive_noise(self, tasks: TaskSampler) -> float | None:
        """The regression predictive's noise sd (``None`` for classification)."""
        if self.likelihood.kind != "gaussian":
            return None
        if self.predictive_noise == "known":
            return float(self.likelihood.noise)
        if self.predictive_noise != "fit":
            return float(self.predictive_noise)
        return calibrate_noise(
            self, tasks, seed=self.seed + 2, episodes=self.calibration_tasks, draws=30
        )

    @property
    def niw_(self) -> NIW:
        """``q(phi)`` (NumPy arrays)."""
        self._check_fitted()
        with computing_in(self.precision):
            niw = constrain(self.params_, self.kappa)
        return NIW(*(np.asarray(a) for a in niw))

    # ------------------------------------------------------------------ prediction
    def _predict_program(self, draws: int):
        key = (
            "predict",
            draws,
            self.likelihood,
            self.config,
            self.test_rule,
            self.precision,
            self.vi_steps,
            self.vi_learning_rate,
            self.vi_draws,
        )
        if key not in self._programs:
            apply, likelihood, config = self.network.apply, self.likelihood, self.config
            rule = self.test_rule
            vi = {
                "steps": self.vi_steps,
                "learning_rate": self.vi_learning_rate,
                "draws": self.vi_draws,
            }

            def one(params, sx, sy, qx, key):
                k_fit, k_draw = jax.random.split(key)
                niw = constrain(params, config.kappa)
                apply_i = episode_apply(apply, config.head, config.ways, sx, sy)
                if rule == "vi":
                    mode_mean, mode_var = niw_mode(niw)
                    mean, cov = vi_posterior(
                        apply_i, likelihood, mode_mean, mode_var, sx, sy, k_fit, **vi
                    )
                else:
                    m_bar, a_bar = surrogate_fit(
                        apply_i, likelihood, config, niw.mean, sx, sy, k_fit
                    )
                    mean, cov = local_posterior(niw, m_bar, a_bar)
                thetas = gaussian_draws(k_draw, mean, cov, draws)
                # One draw after another: a vmap over weight draws turns a convolution
                # into a grouped one, 9x slower on CPU for the digits CNN (0.27 s against
                # 0.03 s for 30 draws), and an MLP's draws cost the same either way.
                return jax.lax.map(lambda t: apply_i(t, qx), thetas)  # (draws, Q, K)

            def program(params, sx, sy, qx, key):
                # Tasks in vectorised groups of PREDICT_TASKS_AT_ONCE: the memory of a call
                # is that of one group (its adaptations and weight draws), whatever the
                # number of tasks. Each task's key is the same as in one vectorised call.
                keys = jax.random.split(key, sx.shape[0])
                return jax.lax.map(
                    lambda task: one(params, *task),
                    (sx, sy, qx, keys),
                    batch_size=config.episodes_at_once or PREDICT_TASKS_AT_ONCE,
                )

            self._programs[key] = jax.jit(program)
        return self._programs[key]

    def predict_outputs(
        self,
        support_x: Any,
        support_y: Any,
        query_x: Any,
        *,
        draws: int = 100,
        seed: int | None = None,
    ) -> np.ndarray:
        """Network outputs at the query inputs for ``draws`` weight draws: ``(T, draws, Q, K)``.

        The arrays behind :meth:`predict` (same arguments), for metrics over many tasks;
        classification logits are multiplied by ``logit_scale``.
        """
        self._check_fitted()
        draws = check_int("draws", draws, minimum=1)
        seed = self.seed + 1 if seed is None else check_int("seed", seed, minimum=0)
        sx, sy, qx = check_episode_inputs(support_x, support_y, query_x, likelihood=self.likelihood)
        with computing_in(self.precision):
            program = self._predict_program(draws)
            y_dtype = jnp.int32 if self.likelihood.kind == "categorical" else float
            out = program(
                self.params_,
                jnp.asarray(sx, float),
                jnp.asarray(sy, y_dtype),
                jnp.asarray(qx, float),
                jax.random.PRNGKey(seed),
            )
        return scaled_logits(np.asarray(out), self.likelihood, self.logit_scale)

    def predict(
        self,
        support_x: Any,
        support_y: Any,
        query_x: Any,
        *,
        draws: int = 100,
        seed: int | None = None,
    ):
        """Adapt to each task's support set and draw predictions at its query inputs.

        Parameters
        ----------
        support_x, support_y, query_x
            ``(T, S, F)``, ``(T, S)`` and ``(T, Q, F)`` (an
            :class:`~bayesuq.models.metalearn.tasks.Episodes` provides them).
        draws
            Predictive draws per task (weights ``theta_s ~ q(theta)``).
        seed
            Integer seed of the adaptation and the draws (default: the estimator's seed + 1).

        Returns
        -------
        arviz.InferenceData
            ``posterior_predictive``: for a Gaussian likelihood ``f`` (network output per
            weight draw) and ``y`` (``f`` plus noise of sd ``predictive_noise_``, recorded
            in ``attrs["predictive_noise"]``), dims ``(chain, draw, task, query)``;
            for a categorical one ``probs``, dims ``(chain, draw, task, query, class)``.
            ``constant_data`` holds ``query_x``. ``attrs["test_rule"]`` records the rule
            used. Tag ``niw_meta``.
        """
        seed = self.seed + 1 if seed is None else check_int("seed", seed, minimum=0)
        start = time.perf_counter()
        out = self.predict_outputs(support_x, support_y, query_x, draws=draws, seed=seed)
        elapsed = time.perf_counter() - start
        qx = np.asarray(query_x)
        rng = np.random.default_rng(seed)
        out = np.moveaxis(out, 1, 0)[None]  # (1, draws, T, Q, K)
        if self.likelihood.kind == "gaussian":
            f = out[..., 0]
            groups = {"f": f, "y": f + self.predictive_noise_ * rng.standard_normal(f.shape)}
            dims = {"f": ["task", "query"], "y": ["task", "query"]}
        else:
            probs = np.exp(out - out.max(-1, keepdims=True))
            probs /= probs.sum(-1, keepdims=True)
            groups = {"probs": probs}
            dims = {"probs": ["task", "query", "class"]}
        dims["query_x"] = ["task", "query", "feature"]
        return inference_data(
            inference="niw_meta",
            seed=seed,
            timings={"total": elapsed},
            attrs={**self._attrs(), **self.fit_settings_, "draws": int(draws)},
            dims=dims,
            posterior_predictive=groups,
            constant_data={"query_x": qx},
        )

    def global_posterior(self, *, draws: int = 1000, seed: int | None = None):
        """Draws of the population mean ``mu`` and variances from ``q(phi)``.

        Returns
        -------
        arviz.InferenceData
            ``posterior`` with ``mu`` (dims ``(chain, draw, parameter)``) and ``sigma2``
            (the diagonal of ``Sigma``, same dims); for ``covariance="full"`` also ``Sigma``
            (``(chain, draw, parameter, parameter_bis)``). ``attrs`` hold the NIW mean of
            ``n0`` and ``l0``. Tag ``niw_meta``.
        """
        self._check_fitted()
        draws = check_int("draws", draws, minimum=1)
        seed = self.seed + 2 if seed is None else check_int("seed", seed, minimum=0)
        start = time.perf_counter()
        with computing_in(self.precision):
            key = ("global", draws, self.kappa, self.precision)
            if key not in self._programs:
                kappa = self.kappa

                def program(params, key):
                    niw = constrain(params, kappa)
                    return (*sample_niw(key, niw, draws), niw.dof)

                self._programs[key] = jax.jit(program)
            mu, sigma, dof = self._programs[key](self.params_, jax.random.PRNGKey(seed))
            mu, sigma, dof = np.asarray(mu), np.asarray(sigma), float(dof)
        posterior: dict[str, np.ndarray] = {"mu": mu[None]}
        dims = {"mu": ["parameter"], "sigma2": ["parameter"]}
        if sigma.ndim == 3:
            posterior["sigma2"] = np.diagonal(sigma, axis1=1, axis2=2)[None]
            posterior["Sigma"] = sigma[None]
            dims["Sigma"] = ["parameter", "parameter_bis"]
        else:
            posterior["sigma2"] = sigma[None]
        return inference_data(
            inference="niw_meta",
            seed=seed,
            timings={"total": time.perf_counter() - start},
            attrs={**self._attrs(), **self.fit_settings_, "n0": dof, "l0": self.kappa},
            dims=dims,
            posterior=posterior,
        )
