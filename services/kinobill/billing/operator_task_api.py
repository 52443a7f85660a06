"""Operators' "mark resolved" for a task Billing left them (e.g. a receipt YooKassa canceled).

Contract of `POST /internal/v1/operator-tasks/{task_id}/resolve` (admin only, 200, the task):

    {"resolved_by": "<staff user>", "note": "<what was done, up to 2000 characters>"}

A second resolve answers the task as it is (the first record stays); an unknown id is 404
`operator_task_not_found`.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from pydantic import Field, StrictStr

from kinobill.billing.bootstrap import operator_task_service
from kinobill.billing.rendering import operator_task_json
from kinobill.callers import AdminCaller
from kinobill.fields import NoteText
from kinobill.web import StrictModel

internal_router = APIRouter(prefix="/internal/v1", tags=["internal"])

TaskId = Annotated[int, Path(ge=1, le=2**63 - 1)]  # a bigint identity


class ResolveRequest(StrictModel):
    # a staff user's name: something besides spaces (the schema says so, since the body is stripped)
    resolved_by: Annotated[StrictStr, Field(min_length=1, max_length=150, pattern=r"\S")]
    note: NoteText = ""


@internal_router.post("/operator-tasks/{task_id}/resolve")
def resolve_operator_task(task_id: TaskId, body: ResolveRequest, _: AdminCaller) -> dict:
    """Mark the task resolved: when, by whom, with the operator's note. Resolving twice changes nothing."""
    return operator_task_json(operator_task_service().resolve(task_id, body.resolved_by, body.note))
