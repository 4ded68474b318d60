# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#   kernelspec:
#     display_name: Python 3
#     name: python3
# ---

# %% [markdown]
# # NIW-Meta on digits-fs: 5-way 1-shot and 5-shot classification
#
# digits-fs is built from scikit-learn's bundled 8x8 digits (no download): a class is a digit
# under one of four rotations, meta-training uses the digits {0, 1, 2, 3, 6} and meta-testing
# {4, 5, 7, 8, 9}. NIW-Meta (the NIW prior on the backbone of a prototype classifier, the
# paper's few-shot set-up) and ProtoNet share one embedding, the pixels kept next to the
# normalised features of a CNN with 64-64 channels; MAML and first-order MAML adapt an MLP
# 64-64-64-5. Every method meta-trains on the same episodes, whose query images are shifted
# by up to one pixel (`digits_fewshot(..., shift=1)`), and is evaluated on the same 600 test
# episodes of 15 queries per class: accuracy with its 95% interval, NLL, ECE (15 bins) and a
# reliability diagram, against the raw-pixel nearest-centroid floor. Each trained method's
# logits are scaled by a factor fitted on classes it never trained on: a copy trains on 15
# of the 20 meta-training classes and the factor is fitted on episodes of the other 5
# (`held_out_logit_scale`); the table also gives the NLL and ECE of the logits as trained.
# The settings are `DIGITS` (`bayesuq.models.metalearn.study`).
#
# Run: `bayesuq metalearn digits --shots 1 --out DIR`, or
# `python case_studies/metalearn_digits.py [--smoke] [--out DIR]`.
#
# In the documentation this study is shown but not executed (sixteen networks are trained,
# each with its calibration copy: about an hour and a half on two CPU cores, most of it
# NIW-Meta on the CNN). Its full-run tables and
# figures are in the meta-learning guide (`docs/metalearn.md`); the smoke run is tested
# with `pytest -m slow`.

# %%
import argparse
from pathlib import Path

from bayesuq.case_study import case_study_args
from bayesuq.models.metalearn import DIGITS, digits_study
from bayesuq.models.metalearn.cli import write_study

parser = argparse.ArgumentParser()
parser.add_argument("--smoke", action="store_true", help="tiny run for the tests")
parser.add_argument("--out", default="results/metalearn_digits")
args = case_study_args(parser, __name__)
out = Path(args.out)
settings = DIGITS.smoke() if args.smoke else DIGITS

# %% [markdown]
# ## 1-shot and 5-shot

# %%
tables = {}
for shots in (1, 5):
    result = digits_study(settings, ways=5, shots=shots, progress=False)
    tables[shots] = result.summary
    print(f"5-way {shots}-shot")
    print(result.summary.round(3).to_string(index=False))
    paths = write_study(result, out / f"{shots}shot", "digits")
    print("wrote", ", ".join(str(p) for p in paths))
