"""Amending a frozen plan: the next ``<stem>.amend-<n><suffix>``, naming its parent's hash.

A frozen plan is never edited. ``routetrial amend PLAN --reason TEXT`` copies it to the family's
next amendment file with an ``amendment`` block (the parent's canonical hash, the number, the
reason) and logs the start; the user edits the copy and freezes it (:func:`prereg.lock.freeze`
checks the block against the file name and the parent).
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from prereg.atomic_write import write_once
from prereg.errors import InputError, PlanChangedError
from prereg.lock import VerifyReport, verify
from prereg.log import append_log
from prereg.study_files import amendment_path, plan_root

__all__ = ["amend"]


def amend(plan_path: Path, reason: str) -> Path:
    """Start the next amendment of a frozen, unchanged plan; return the new file's path.

    The new file ``<stem>.amend-<n><suffix>`` is a copy of the plan with an ``amendment`` block
    (parent canonical hash, number, reason). Edit it, then freeze it. The start is logged.
    """
    plan_path = Path(plan_path)
    reason = reason.strip()
    if not reason:
        raise InputError("expected a reason for the amendment, found nothing", field="--reason")
    report = verify(plan_path)
    # A changed corpus, trace or analysis code is a reason to amend; changed plan bytes or log are not.
    blocking = [c for c in report.changes if c.what not in ("corpus", "trace", "analysis code")]
    if blocking:
        raise PlanChangedError(
            f"{plan_path}: cannot amend: " + VerifyReport(plan_path, report.lock, tuple(blocking)).describe()
        )
    _, number = plan_root(plan_path)
    target = amendment_path(plan_path, number + 1)
    if target.exists():
        raise InputError(
            f"expected no file, found amendment {number + 1} already started: edit and freeze it, "
            f"or amend its latest frozen successor",
            file=str(target),
        )
    text = plan_path.read_text(encoding="utf-8")
    new_text = _with_amendment(
        text, report.lock.canonical_sha256, number + 1, reason, plan_path.name, target.name
    )
    write_once(target, new_text)
    append_log(
        plan_path,
        "amend",
        {
            "plan": target.name,
            "parent": plan_path.name,
            "parent_sha256": report.lock.canonical_sha256,
            "number": str(number + 1),
            "reason": reason,
        },
    )
    return target


def _with_amendment(
    text: str, parent_sha: str, number: int, reason: str, parent_name: str, new_name: str
) -> str:
    """The plan text with its ``amendment`` block (if any) replaced by a new one at the end."""
    node = yaml.compose(text, Loader=yaml.SafeLoader)
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.value == "amendment":
                start, end = key_node.start_mark.index, value_node.end_mark.index
                head = re.sub(r"(?m)^# Amendment \d+ of .*\n\Z", "", text[:start])
                text = head + text[end:].lstrip("\n")
    if not text.endswith("\n"):
        text += "\n"
    block = yaml.safe_dump(
        {"amendment": {"parent_sha256": parent_sha, "number": number, "reason": reason}},
        sort_keys=False,
        allow_unicode=True,
        width=100,
    )
    comment = f"# Amendment {number} of {parent_name}: edit the plan above, then run `routetrial freeze {new_name}`.\n"
    return text.rstrip("\n") + "\n\n" + comment + block
