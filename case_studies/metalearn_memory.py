# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#   kernelspec:
#     display_name: Python 3
#     name: python3
# ---

# %% [markdown]
# # Memory and time per meta-step: NIW-Meta vs MAML
#
# NIW-Meta's inner loop (SGLD iterates that build a quadratic surrogate of the episode loss)
# runs under `stop_gradient`: the meta-gradient reaches the global parameters only through the
# closed-form local posterior, so the memory of a meta-step does not grow with the number of
# inner steps. Second-order MAML differentiates through its inner loop and keeps every step's
# activations (Kim & Hospedales 2024, Fig. 5). We compile one meta-gradient (16 sine-line
# episodes, MLP 1-40-40-1) for 1, 3, 10 and 30 inner steps and read XLA's memory analysis
# (`jax.jit(f).lower(...).compile().memory_analysis()`: scratch bytes beyond arguments and
# outputs) and the median wall time of a step. CPU only here (no GPU on this machine).
#
# Run: `python case_studies/metalearn_memory.py [--smoke] [--out DIR]`; the benchmark
# `benchmarks/bench_metalearn.py` measures the same with ratios.
#
# In the documentation this study is shown but not executed (six programs are compiled, a few
# minutes on two CPU cores); its full-run
# table and figure are in the meta-learning guide (`docs/metalearn.md`); the smoke run is
# tested with `pytest -m slow`.

# %%
import argparse
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

from bayesuq.case_study import case_study_args
from bayesuq.models.metalearn import sine_line_tasks
from bayesuq.models.metalearn.cost import meta_step_cost
from bayesuq.models.metalearn.plots import LABELS, save_figure
from bayesuq.nn import mlp

parser = argparse.ArgumentParser()
parser.add_argument("--smoke", action="store_true", help="tiny run for the tests")
parser.add_argument("--out", default="results/metalearn_memory")
args = case_study_args(parser, __name__)
out = Path(args.out)
out.mkdir(parents=True, exist_ok=True)

# %%
tasks = sine_line_tasks()
net = mlp((1, 8, 8, 1)) if args.smoke else mlp((1, 40, 40, 1))
episodes = tasks.sample(0, 4 if args.smoke else 16)
inner = (1, 3) if args.smoke else (1, 3, 10, 30)
rows = []
for method in ("niw_meta", "maml", "maml_first_order"):
    for k in inner:
        settings = {"step_scale": 0.004} if method == "niw_meta" else {}
        cost = meta_step_cost(
            method, net, tasks.likelihood, episodes, k, repeats=3 if args.smoke else 20, **settings
        )
        rows.append({"method": method, "inner_steps": k, **cost})
table = pd.DataFrame(rows)
table["temp_MiB"] = table["temp_bytes"] / 2**20
table["ms_per_step"] = 1e3 * table["step_seconds"]
print(
    table[["method", "inner_steps", "temp_MiB", "ms_per_step", "compile_seconds"]]
    .round(3)
    .to_string(index=False)
)
table.to_csv(out / "memory_time.csv", index=False)

# %%
fig = Figure(figsize=(8, 3), layout="constrained")
ax_mem, ax_time = fig.subplots(1, 2)
for method, group in table.groupby("method", sort=False):
    ax_mem.plot(group["inner_steps"], group["temp_MiB"], "o-", label=LABELS[method])
    ax_time.plot(group["inner_steps"], group["ms_per_step"], "o-", label=LABELS[method])
for ax, label in ((ax_mem, "compiled scratch memory (MiB)"), (ax_time, "ms per meta-step")):
    ax.set_xscale("log")
    ax.set_xlabel("inner steps")
    ax.set_ylabel(label)
ax_mem.legend(fontsize=8)
print("wrote", save_figure(fig, out / "memory_time.png"))
