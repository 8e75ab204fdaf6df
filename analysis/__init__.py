"""The locked analysis: plain trial records in, estimates, intervals and gate verdicts out."""

from analysis._design_limits import fewest_correct_to_pass, min_n_for_quantile_upper_bound
from analysis._proportions import CI_METHODS, CiMethod, Side, proportion_bounds

__all__ = [
    "CI_METHODS",
    "CiMethod",
    "Side",
    "fewest_correct_to_pass",
    "min_n_for_quantile_upper_bound",
    "proportion_bounds",
]
