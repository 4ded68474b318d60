"""Small bundled datasets and the example models that go with them."""

from bayesuq.data.examples import (
    EXAMPLES,
    Example,
    arma11,
    eight_schools_centered,
    eight_schools_noncentered,
    simulate_arma11,
)
from bayesuq.data.loaders import load_eight_schools

__all__ = [
    "EXAMPLES",
    "Example",
    "arma11",
    "eight_schools_centered",
    "eight_schools_noncentered",
    "load_eight_schools",
    "simulate_arma11",
]
