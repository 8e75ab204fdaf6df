"""The CONSORT 2010 and CONSORT-AI checklist: each item and where this report answers it.

Items are paraphrased from CONSORT 2010 (Schulz, Altman, Moher; doi:10.1136/bmj.c332) and its AI
extension (Liu, Cruz Rivera, Moher et al. 2020; doi:10.1038/s41591-020-1034-x). ``section`` names
the anchor of the report section that answers the item; an item that does not apply to an
experiment on automated routers (no human participants) says why in ``note`` and has no section.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["CHECKLIST", "ChecklistItem"]


@dataclass(frozen=True, slots=True)
class ChecklistItem:
    """One checklist item: its number, source, paraphrased text, and where it is answered."""

    item: str
    source: Literal["CONSORT 2010", "CONSORT-AI"]
    topic: str
    section: str | None
    note: str

    @property
    def applicable(self) -> bool:
        """True when this report answers the item (it names a section)."""
        return self.section is not None


def _c(item: str, topic: str, section: str | None, note: str) -> ChecklistItem:
    return ChecklistItem(item, "CONSORT 2010", topic, section, note)


def _ai(item: str, topic: str, section: str | None, note: str) -> ChecklistItem:
    return ChecklistItem(item, "CONSORT-AI", topic, section, note)


NA_HUMANS = "not applicable: the units are requests to automated routers, no human participants"

#: Every item, in checklist order; sections are the report's anchors.
CHECKLIST: tuple[ChecklistItem, ...] = (
    _c(
        "1a",
        "Identified as a randomised trial in the title",
        "registration",
        "the page title and the Registration section name the plan and its randomized design",
    ),
    _c(
        "1b",
        "Structured summary of design, methods, results, conclusions",
        "verdict",
        "the Verdict section is the summary: per-arm gate decisions with their deciding numbers",
    ),
    _ai(
        "1a,b(i)",
        "Says the intervention involves AI and which model",
        "registration",
        "arms and their classifier models are listed under Registration",
    ),
    _ai(
        "1a,b(ii)",
        "States the intended use of the AI intervention",
        "registration",
        "intended use: a front-door router choosing the downstream model for each request",
    ),
    _c("2a", "Scientific background and rationale", "registration", "the plan's rationale text"),
    _ai(
        "2a(i)",
        "Intended use, purpose and users of the AI intervention",
        "registration",
        "the plan's study section and hypotheses",
    ),
    _c(
        "2b",
        "Specific objectives or hypotheses",
        "registration",
        "the plan's hypotheses, frozen before the run",
    ),
    _c(
        "3a",
        "Trial design and allocation ratio",
        "registration",
        "parallel arms, request-level randomization blocked by case, the plan's ratio",
    ),
    _c(
        "3b",
        "Changes to methods after commencement, with reasons",
        "registration",
        "amendments and deviations from the hash-chained log",
    ),
    _c("4a", "Eligibility criteria for participants", None, NA_HUMANS),
    _ai("4a(i)", "Inclusion and exclusion criteria for participants", None, NA_HUMANS),
    _ai(
        "4a(ii)",
        "Inclusion and exclusion criteria for input data",
        "baseline",
        "every case of the pinned corpus is eligible; its families and examples are under Baseline",
    ),
    _c(
        "4b",
        "Settings and locations of data collection",
        "registration",
        "simulated or live backends and the traffic process named in the plan",
    ),
    _ai(
        "4b",
        "How the AI intervention was integrated into the setting",
        "registration",
        "each router arm's classifier feeds the plan's routing table (label -> model)",
    ),
    _c(
        "5",
        "Interventions in enough detail to replicate",
        "registration",
        "arms, classifier models, prompt templates and routing table are in the frozen plan",
    ),
    _ai("5(i)", "Version of the AI algorithm", "registration", "model names as sent to the servers"),
    _ai(
        "5(ii)",
        "How input data were acquired and selected",
        "baseline",
        "the corpus is pinned by SHA-256; every arm sees every case equally often",
    ),
    _ai(
        "5(iii)",
        "How poor-quality or unavailable input was handled",
        "outcomes",
        "failed trials are data: timeouts and unparseable answers count as the plan says",
    ),
    _ai(
        "5(iv)",
        "Human-AI interaction and expertise required",
        None,
        "not applicable: routing is fully automated, no human in the loop",
    ),
    _ai(
        "5(v)",
        "Output of the AI intervention",
        "outcomes",
        "a label of the taxonomy; the confusion matrices show every output",
    ),
    _ai(
        "5(vi)",
        "How the outputs contributed to decisions",
        "end-to-end",
        "the label picks the downstream model; End to end shows what that changed",
    ),
    _c(
        "6a",
        "Pre-specified primary and secondary outcomes",
        "outcomes",
        "routing accuracy and latency (primary); cost, end-to-end latency, answer quality (secondary)",
    ),
    _c(
        "6b",
        "Changes to outcomes after commencement, with reasons",
        "registration",
        "any change requires a frozen amendment, listed in the log",
    ),
    _c(
        "7a",
        "How sample size was determined",
        "design",
        "fewest correct to pass and whether P95 can be certified at this n",
    ),
    _c(
        "7b",
        "Interim analyses and stopping guidelines",
        "registration",
        "fixed horizon: no interim analyses, no early stopping",
    ),
    _c(
        "8a",
        "Method used to generate the allocation sequence",
        "registration",
        "a named random stream derived from the plan's seed and canonical hash",
    ),
    _c(
        "8b",
        "Type of randomisation and restriction",
        "registration",
        "blocked by case: each case's replays allocated to arms in the plan's ratio",
    ),
    _c(
        "9",
        "Allocation concealment mechanism",
        "registration",
        "the allocation is written to the store before the first request is sent",
    ),
    _c(
        "10",
        "Who generated the sequence, enrolled and assigned",
        "registration",
        "software, from the frozen plan; anyone holding the plan can re-derive it",
    ),
    _c(
        "11a",
        "Blinding after assignment",
        None,
        "not applicable: outcomes are scored by code (exact match, timers) with no human assessor",
    ),
    _c(
        "11b",
        "Similarity of interventions",
        "registration",
        "all arms receive the same requests through the same harness",
    ),
    _c(
        "12a",
        "Statistical methods for primary and secondary outcomes",
        "outcomes",
        "interval method, unit of analysis, latency intervals and decision rules stated with the estimates",
    ),
    _c(
        "12b",
        "Additional analyses (subgroup, adjusted)",
        "outcomes",
        "per-family accuracy, cluster-robust intervals and paired router comparisons",
    ),
    _c("13a", "Numbers randomised, treated and analysed per group", "flow", "the CONSORT flow diagram"),
    _c(
        "13b",
        "Losses and exclusions after randomisation, with reasons",
        "flow",
        "not sent, failed and excluded requests with reasons, per arm",
    ),
    _c(
        "14a",
        "Dates of recruitment and follow-up",
        "registration",
        "the freeze time and the log's timestamps",
    ),
    _c(
        "14b",
        "Why the trial ended or was stopped",
        "flow",
        "fixed horizon: the campaign ends when the schedule is exhausted; missing trials are counted",
    ),
    _c("15", "Baseline characteristics per group", "baseline", "task families per arm and the SRM check"),
    _c(
        "16",
        "Denominators and analysis by assigned group",
        "outcomes",
        "every estimate states its n and unit; arms are analysed as allocated",
    ),
    _c(
        "17a",
        "Results per group with effect size and precision",
        "outcomes",
        "every estimate is shown with its interval",
    ),
    _c(
        "17b",
        "Absolute and relative effect sizes for binary outcomes",
        "end-to-end",
        "absolute differences against the control with intervals; relative effects are not pre-registered",
    ),
    _c(
        "18",
        "Other analyses, pre-specified vs exploratory",
        "outcomes",
        "all analyses shown are pre-specified by the frozen analysis code",
    ),
    _c(
        "19",
        "Important harms or unintended effects",
        "end-to-end",
        "misrouting's effect on answer quality, added latency and cost against the control",
    ),
    _ai("19", "Analysis of performance errors", "outcomes", "confusion matrices and failures by status"),
    _c(
        "20",
        "Limitations: bias, imprecision, multiplicity",
        "limitations",
        "stated from the data: interval widths, bounds that do not exist, multiplicity correction",
    ),
    _c(
        "21",
        "Generalisability",
        "limitations",
        "the corpus and traffic are the plan's; limitations say what they do not cover",
    ),
    _c(
        "22",
        "Interpretation consistent with results",
        "verdict",
        "verdicts follow mechanically from the pre-registered rules",
    ),
    _c(
        "23",
        "Registration number and registry",
        "registration",
        "the lock record's canonical SHA-256 identifies the registration; no external registry",
    ),
    _c(
        "24",
        "Where the full protocol can be accessed",
        "registration",
        "the frozen plan file itself, verified by its byte hash",
    ),
    _c("25", "Sources of funding", None, "not applicable: the plan records no funding"),
    _ai(
        "25",
        "Whether and how the AI intervention and its code can be accessed",
        "registration",
        "model names and backends are in the plan; the analysis code is hashed with it",
    ),
)
