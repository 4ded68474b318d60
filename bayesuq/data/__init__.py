"""Small bundled datasets and the example models that go with them."""

from bayesuq.data.examples import (
    EXAMPLES,
    Example,
    eight_schools_centered,
    eight_schools_noncentered,
)
from bayesuq.data.loaders import load_eight_schools

__all__ = [
    "EXAMPLES",
    "Example",
    "eight_schools_centered",
    "eight_schools_noncentered",
    "load_eight_schools",
]
