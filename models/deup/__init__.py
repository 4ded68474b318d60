"""DEUP: direct epistemic uncertainty prediction (Lahlou et al., TMLR 2023)."""
