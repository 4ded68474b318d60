"""Inference engines over NumPyro (NUTS, SVI) and their conversion to InferenceData.

The engines are re-exported at the top level as :func:`bayesuq.nuts` and :func:`bayesuq.svi`;
this sub-package keeps the modules addressable (``bayesuq.infer.nuts`` is the module).
"""
