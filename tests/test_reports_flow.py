"""The CONSORT flow: counts from the results add up node to node, and a broken node is refused."""

from __future__ import annotations

import dataclasses
import re

import pytest
from test_reports_fixtures import Campaign, campaign

from prereg.errors import AnalysisError
from reports import ArmFlow, Flow, check_flow, flow_from_results, flow_svg


@pytest.fixture(scope="module")
def camp(tmp_path_factory: pytest.TempPathFactory) -> Campaign:
    return campaign(tmp_path_factory.mktemp("flow"))


def _arm(name: str = "a", **changes: object) -> ArmFlow:
    base = ArmFlow(
        arm=name,
        kind="router",
        allocated=10,
        allocated_cases=5,
        sent=9,
        not_sent=(("not sent", 1),),
        completed=7,
        failed=(("timeout", 2),),
        analysed=8,
        analysed_cases=5,
        excluded=(("not_sent", 1), ("interrupted", 1)),
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def test_flow_of_a_campaign_adds_up_in_every_arm(camp: Campaign) -> None:
    """In every arm: allocated = sent + not sent = analysed + excluded, and sent = completed + failed."""
    flow = flow_from_results(camp.results, camp.plan)
    assert [a.arm for a in flow.arms] == list(camp.plan.arm_ids)
    assert sum(a.allocated for a in flow.arms) == flow.scheduled == camp.plan.sample_size.requests_total
    for a in flow.arms:
        assert a.sent + a.not_sent_total == a.allocated
        assert a.completed + a.failed_total == a.sent
        assert a.analysed + a.excluded_total == a.allocated


def test_consistent_flow_is_returned_unchanged() -> None:
    """check_flow returns a flow whose nodes add up."""
    flow = Flow(scheduled=20, unique_cases=5, arms=(_arm("a"), _arm("b")))
    assert check_flow(flow) is flow


@pytest.mark.parametrize(
    ("changes", "node"),
    [
        ({"sent": 8}, "allocated -> sent"),
        ({"completed": 6}, "sent -> completed"),
        ({"analysed": 9}, "analysed"),
        ({"allocated_cases": 6}, "allocated"),
        ({"failed": (("timeout", -1), ("http_error", 3))}, "counts must be >= 0"),
    ],
)
def test_broken_node_is_refused_naming_arm_and_node(changes: dict[str, object], node: str) -> None:
    """A count that does not add up raises AnalysisError naming the arm and the node."""
    flow = Flow(scheduled=20, unique_cases=5, arms=(_arm("a"), _arm("qwen", **changes)))
    with pytest.raises(AnalysisError, match=rf"arm 'qwen'.*{re.escape(node)}"):
        check_flow(flow)


def test_allocations_must_sum_to_the_enrolled_requests() -> None:
    """Arms whose allocations do not sum to the enrolled requests are refused at the enrolled node."""
    with pytest.raises(AnalysisError, match="enrolled -> allocated: 21 scheduled"):
        check_flow(Flow(scheduled=21, unique_cases=5, arms=(_arm("a"), _arm("b"))))


def test_results_that_lose_a_request_are_refused(camp: Campaign) -> None:
    """A results document whose sent count disagrees with its statuses cannot be reported."""
    arm = camp.results.arms[2]
    bad_flow = dataclasses.replace(arm.flow, completed=arm.flow.completed + 1)
    arms = tuple(dataclasses.replace(a, flow=bad_flow) if a is arm else a for a in camp.results.arms)
    with pytest.raises(AnalysisError, match=rf"arm '{arm.arm}': sent -> completed"):
        flow_from_results(dataclasses.replace(camp.results, arms=arms), camp.plan)


def test_diagram_has_one_column_per_arm_and_grows_instead_of_shrinking() -> None:
    """Six arms get six columns at the same box width; the SVG widens rather than scaling text down."""
    four = flow_svg(Flow(40, 5, tuple(_arm(f"arm{i}") for i in range(4))), {})
    six = flow_svg(Flow(60, 5, tuple(_arm(f"arm{i}") for i in range(6))), {})
    width = [int(re.search(r'width="(\d+)"', s).group(1)) for s in (four, six)]  # type: ignore[union-attr]
    assert six.count("Allocated to arm") == 6 and four.count("Allocated to arm") == 4
    assert width[1] > width[0] * 1.4
    assert re.findall(r'<rect width="(\d+)" height="\d+" rx="5" fill="#fff"', six)[1:] == ["212"] * 24


def test_hostile_reason_is_escaped_in_the_diagram() -> None:
    """An exclusion reason holding markup appears as text in the SVG."""
    arm = _arm("a", excluded=(("<script>x</script>", 2),))
    svg = flow_svg(Flow(10, 5, (arm,)), {})
    assert "<script>" not in svg and "&lt;script&gt;" in svg
