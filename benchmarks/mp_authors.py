"""Run the authors' copula density code (github:edfong/MP, ``pr_copula``) on today's JAX.

Nothing of theirs is copied into bayesuq: their tree is exported to a folder and imported
from there at run time::

    # the mirror of github:edfong/MP (e.g. from `git clone`), exported once
    mkdir -p /tmp/mp_authors
    git --git-dir=PATH/TO/MP/.git archive HEAD pr_copula run_expts/data/ionosphere.data \\
        | tar -x -C /tmp/mp_authors
    python benchmarks/mp_authors.py --authors-src /tmp/mp_authors   # a smoke run

Their code was written for ``jax==0.2.6``. Three things are gone from today's JAX and are
put back here, at run time, before their modules are imported (no file of theirs is
edited):

* ``jax.ops.index``, ``index_add``, ``index_update`` (removed in JAX 0.3.2): provided as
  ``x.at[i].add(v)`` / ``x.at[i].set(v)``, which is what they did;
* ``jax.experimental.loops`` (removed): imported but unused by the density code, an empty
  module;
* ``jax.experimental.optimizers`` (now ``jax.example_libraries.optimizers``): imported by
  ``utils/BFGS.py``, used only by their quantile sampler;

and today's ``scipy.optimize`` SLSQP accepts only float64 values and gradients, so
:func:`fit` casts the start and what their float32 objective returns.

Precision follows JAX's default, as in their code: float32, or float64 after
``jax.config.update("jax_enable_x64", True)`` (call :func:`load` after choosing).

The functions below call theirs with their own settings:

* :func:`fit` is ``pr_copula.main_copula_density.fit_copula_density`` without the prints:
  10 permutations drawn with ``jax.random.permutation``, one shared ``rho`` started at 0.9,
  ``scipy.optimize.minimize(method="SLSQP")`` with separate value (``fun``) and gradient
  (``jac``) programs, then one pass for ``v_{1:n}``;
* :func:`resample` is their ``predictive_resample_loop_B`` (``vmap`` over ``B`` of ``vmap``
  over test points of a ``lax.scan`` over ``T`` steps) from the permutation-averaged
  ``p_n`` of ``update_ptest_loop_perm_av``.
"""

from __future__ import annotations

import argparse
import sys
import time
import types
from pathlib import Path
from typing import Any

import numpy as np


def _patch_jax() -> None:
    """Put back the pieces of the JAX 0.2 API that ``pr_copula`` imports."""
    import jax
    import jax.example_libraries.optimizers as optimizers
    import jax.ops

    if not hasattr(jax.ops, "index_update"):
        jax.ops.index = np.s_  # ``index[i]`` is just the index ``i``
        jax.ops.index_update = lambda x, idx, y: x.at[idx].set(y)
        jax.ops.index_add = lambda x, idx, y: x.at[idx].add(y)
    if "jax.experimental.loops" not in sys.modules:
        sys.modules["jax.experimental.loops"] = types.ModuleType("jax.experimental.loops")
        jax.experimental.loops = sys.modules["jax.experimental.loops"]
    sys.modules.setdefault("jax.experimental.optimizers", optimizers)
    jax.experimental.optimizers = optimizers


def load(authors_src: str | Path) -> types.SimpleNamespace:
    """Import ``pr_copula``'s density modules from ``authors_src`` (the folder holding it)."""
    src = Path(authors_src).resolve()
    if not (src / "pr_copula" / "copula_density_functions.py").is_file():
        raise FileNotFoundError(
            f"authors_src must be a folder holding pr_copula/ (github:edfong/MP); got {src}"
        )
    _patch_jax()
    if str(src) not in sys.path:
        sys.path.insert(0, str(src))
    from pr_copula import copula_density_functions as mvcd
    from pr_copula import sample_copula_density_functions as samp

    return types.SimpleNamespace(mvcd=mvcd, samp=samp)


def fit(mods: types.SimpleNamespace, y: Any, *, n_perm: int = 10, seed: int = 20) -> dict[str, Any]:
    """Their ``fit_copula_density`` (shared rho, SLSQP from 0.9), timed by phase.

    Returns the permutation ``v``'s, ``rho``, the prequential log-likelihood, the number of
    objective and gradient calls of SLSQP, SLSQP's iterations, and the seconds of
    compilation (their own warm-up calls), of the optimisation and of the final pass.
    """
    import jax.numpy as jnp
    from jax import vmap
    from jax.random import PRNGKey, permutation, split
    from scipy.optimize import minimize

    mvcd = mods.mvcd
    np.random.seed(seed)  # noqa: NPY002 (as theirs; SLSQP draws nothing)
    key = PRNGKey(seed)
    key, *subkey = split(key, n_perm + 1)
    y = jnp.asarray(y)
    y_perm = vmap(permutation, (0, None))(jnp.array(subkey), y)
    rho_init = 0.9 * jnp.ones(1)
    h0 = jnp.log(1 / rho_init - 1)
    t0 = time.perf_counter()
    mvcd.fun_jll_perm_sp(h0, y_perm)
    mvcd.grad_jll_perm_sp(h0, y_perm)
    mvcd.update_pn_loop_perm(rho_init, y_perm)[0].block_until_ready()
    t1 = time.perf_counter()
    calls = {"fun": 0, "jac": 0}

    def fun(h, z):
        calls["fun"] += 1  # today's SLSQP wants float64 back (their float32 arrays fail)
        return np.float64(mvcd.fun_jll_perm_sp(h, z))

    def jac(h, z):
        calls["jac"] += 1
        return np.asarray(mvcd.grad_jll_perm_sp(h, z), dtype=np.float64)

    x0 = np.asarray(h0, dtype=np.float64)
    opt = minimize(fun=fun, x0=x0, args=(y_perm,), jac=jac, method="SLSQP")
    rho = 1 / (1 + jnp.exp(opt.x))
    t2 = time.perf_counter()
    vn_perm = mvcd.update_pn_loop_perm(rho, y_perm)[0].block_until_ready()
    t3 = time.perf_counter()
    return {
        "vn_perm": vn_perm,
        "rho": np.asarray(rho),
        "preq_loglik": float(-opt.fun),
        "fun_calls": calls["fun"],
        "jac_calls": calls["jac"],
        "nit": int(opt.nit),
        "compile_s": t1 - t0,
        "optimize_s": t2 - t1,
        "final_pass_s": t3 - t2,
    }


def averaged_state(mods: types.SimpleNamespace, vn_perm, rho, y_test) -> tuple[Any, Any]:
    """Their permutation-averaged ``(log cdf conditionals, log pdf joints)`` at ``y_test``."""
    import jax.numpy as jnp

    out = mods.mvcd.update_ptest_loop_perm_av(vn_perm, jnp.asarray(rho), jnp.asarray(y_test))
    return out[0].block_until_ready(), out[1]


def resample(
    mods: types.SimpleNamespace, log_cdf, log_pdf, rho, *, n: int, steps: int, draws: int, seed: int
) -> tuple[Any, Any]:
    """Their ``predictive_resample_loop_B``: ``(B, n_test, d)`` log cdfs and log pdfs."""
    import jax.numpy as jnp
    from jax.random import PRNGKey, split

    key = PRNGKey(seed)
    key, *subkey = split(key, draws + 1)
    out = mods.samp.predictive_resample_loop_B(
        jnp.array(subkey), log_cdf, log_pdf, jnp.asarray(rho), n, steps
    )
    return out[0].block_until_ready(), out[1]


def main() -> None:
    """A smoke run: fit on 50 normal points in 2 dimensions, then 10 forward paths."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--authors-src", required=True, help="folder holding pr_copula/")
    parser.add_argument("--x64", action="store_true", help="float64 (JAX's x64 mode)")
    args = parser.parse_args()
    import jax

    jax.config.update("jax_enable_x64", args.x64)
    mods = load(args.authors_src)
    y = np.random.default_rng(0).normal(size=(50, 2))
    y = (y - y.mean(0)) / y.std(0)
    res = fit(mods, y)
    print(
        f"rho {res['rho']}, prequential log-lik {res['preq_loglik']:.4f}, "
        f"SLSQP {res['nit']} iterations, {res['fun_calls']} values + {res['jac_calls']} gradients"
    )
    log_cdf, log_pdf = averaged_state(mods, res["vn_perm"], res["rho"], y[:20])
    _, pdf = resample(mods, log_cdf, log_pdf, res["rho"], n=50, steps=100, draws=10, seed=1)
    print(f"forward paths: {pdf.shape} {pdf.dtype}, finite: {bool(np.isfinite(pdf).all())}")


if __name__ == "__main__":
    main()
