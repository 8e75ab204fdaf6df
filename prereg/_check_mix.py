"""Meaning checks of the traffic mix, split from :mod:`prereg.check` (which calls :func:`check_mix`).

``analysis.target_mix`` names every family of the corpus, and only those, with shares summing to 1;
a family with a share above 0 has at least :data:`MIN_CASES_PER_FAMILY` cases; a gate with
``mix: target`` needs the mix and a metric that is a mean over cases (a latency quantile of pooled
requests is not a weighted sum of family figures).

Every choice refuses rather than repairs. A family the mix leaves out would get share 0 silently,
and that is the kind of thing a reviewer misses, so it must be named (with 0 if it is not in
production). Shares that sum to 0.98 are not normalised: a pre-registered mix is stated exactly, and
a normalised one is a different mix than the one written. The tolerance is the random arm's
(:data:`prereg._check_arms.PROBABILITY_SUM_TOLERANCE`): decimal shares such as 0.1 are inexact.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence

from prereg._check_arms import PROBABILITY_SUM_TOLERANCE
from prereg._check_backends import Problems
from prereg.records import Case
from prereg.schema import Plan

__all__ = ["MIN_CASES_PER_FAMILY", "TARGET_MIX_METRICS", "check_mix"]

#: Fewest cases of a family with a share above 0: the within-family bootstrap draws n - 1 of them.
MIN_CASES_PER_FAMILY = 2

#: The gate metrics that can be judged under the target mix (means over cases, post-stratified).
TARGET_MIX_METRICS = frozenset({"routing_accuracy", "downstream_quality_vs_control", "cost_vs_control"})


def check_mix(plan: Plan, corpus: Sequence[Case], problems: Problems) -> None:
    """The target mix against the corpus's families (when the corpus was read), and gates under it."""
    mix = plan.analysis.target_mix
    for i, gate in enumerate(plan.gates):
        if gate.mix != "target":
            continue
        if mix is None:
            problems.plan(("gates", i, "mix"), "expected analysis.target_mix for mix 'target', found none")
        if gate.metric not in TARGET_MIX_METRICS:
            problems.plan(
                ("gates", i, "mix"),
                f"expected mix 'corpus' for {gate.metric} (only {', '.join(sorted(TARGET_MIX_METRICS))} "
                "are means over cases that a mix can weight), found 'target'",
            )
    if mix is None or not corpus:
        return
    counts = Counter(case.family for case in corpus)
    families = ", ".join(sorted(counts))
    for family, share in mix.items():
        if family not in counts:
            problems.plan(
                ("analysis", "target_mix", family),
                f"expected a family of the corpus ({families}), found {family!r}",
            )
        elif share > 0.0 and counts[family] < MIN_CASES_PER_FAMILY:
            problems.plan(
                ("analysis", "target_mix", family),
                f"expected at least {MIN_CASES_PER_FAMILY} cases of family {family!r} for a share above 0 "
                f"(its interval resamples within the family), found {counts[family]}",
            )
    missing = sorted(set(counts) - set(mix))
    if missing:
        problems.plan(
            ("analysis", "target_mix"),
            f"expected a share for every family of the corpus (0 if none in production), found none for "
            f"{', '.join(missing)}",
        )
    total = math.fsum(mix.values())
    if abs(total - 1.0) > PROBABILITY_SUM_TOLERANCE:
        problems.plan(
            ("analysis", "target_mix"),
            f"expected shares summing to 1 (within {PROBABILITY_SUM_TOLERANCE:g}), found {total:.12g}",
        )
