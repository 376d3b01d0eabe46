"""What `prodline status` shows: which version a stack serves, who put it there and when, what is waiting.

Why from these sources: the version record and its SSM history are the audit trail (each write names the
IAM identity that made it); the approval record says what a person let through to the stack; the deploy
queue and the deployer's last build say whether something is on its way. Events on the bus cannot be read
back, so they are not shown. Each part that cannot be read (no queue yet, no permission) is left out with
a note rather than failing the whole view.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from prodline.delivery import records, requests
from prodline.delivery.context import DeliveryContext
from prodline.delivery.promote import deployer_project


@dataclass
class StackStatus:
    stack: str
    record: records.VersionRecord | None
    history: list[records.HistoryEntry]
    approval: records.ApprovalRecord | None
    pending_requests: int | None = None
    last_build: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        def entry(item: records.HistoryEntry) -> dict[str, Any]:
            return {"record": item.record.to_json() if item.record else None, "modifiedAt": item.modified_at,
                    "modifiedBy": item.modified_by, "parameterVersion": item.parameter_version}

        return {"stack": self.stack, "record": self.record.to_json() if self.record else None,
                "history": [entry(h) for h in self.history],
                "approval": self.approval.to_json() if self.approval else None,
                "pendingRequests": self.pending_requests, "lastBuild": self.last_build, "notes": self.notes}


def stack_status(ctx: DeliveryContext, stack: str) -> StackStatus:
    from botocore.exceptions import BotoCoreError, ClientError

    settings = ctx.settings(stack)
    status = StackStatus(stack, records.read_version(ctx, stack), records.version_history(ctx, stack),
                         records.read_approval(ctx, stack))
    try:
        url = requests.queue_url(ctx, settings.environment)
        attributes = ctx.clients("sqs").get_queue_attributes(
            QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])
        counts = attributes.get("Attributes", {})
        status.pending_requests = sum(int(counts.get(k, 0)) for k in ("ApproximateNumberOfMessages",
                                                                       "ApproximateNumberOfMessagesNotVisible"))
    except (ClientError, BotoCoreError) as err:
        status.notes.append(f"deploy queue not readable: {_short(err)}")
    project = deployer_project(settings.environment)
    try:
        codebuild = ctx.clients("codebuild")
        ids = codebuild.list_builds_for_project(projectName=project, sortOrder="DESCENDING").get("ids", [])
        if ids:
            build = codebuild.batch_get_builds(ids=ids[:1])["builds"][0]
            status.last_build = {"id": build.get("id"), "status": build.get("buildStatus"),
                                 "started": records.iso(build["startTime"]) if build.get("startTime") else None}
    except (ClientError, BotoCoreError) as err:
        status.notes.append(f"deployer {project} not readable: {_short(err)}")
    return status


def render(status: StackStatus) -> str:
    """The status as a few aligned lines for a terminal."""
    lines = [f"stack         {status.stack}"]
    record = status.record
    if record:
        lines += [f"serving       version {record.version}  {record.model_package_arn}",
                  f"promoted      {record.promoted_at} by {record.promoted_by} ({record.source})",
                  f"before        {record.previous_arn or 'nothing'}"]
    else:
        lines.append("serving       no version recorded yet (no green deploy through prodline deploy)")
    approval = status.approval
    lines.append(f"approval      {approval.model_package_arn} by {approval.approved_by} at {approval.approved_at}"
                 if approval else "approval      none recorded")
    if status.pending_requests is not None:
        lines.append(f"queue         {status.pending_requests} deploy request(s) waiting or in progress")
    if status.last_build:
        build = status.last_build
        lines.append(f"last build    {build['status']} {build['id']} started {build['started'] or '?'}")
    if status.history:
        lines.append("history       (oldest first)")
        for item in status.history:
            if item.record is None:
                lines.append(f"  #{item.parameter_version:<3} {item.modified_at}  (not a version record)")
                continue
            rec = item.record
            lines.append(f"  #{item.parameter_version:<3} {rec.promoted_at or item.modified_at}  version "
                         f"{rec.version:<4} by {rec.promoted_by} ({rec.source}; written by "
                         f"{item.modified_by or 'unknown'})")
    lines += [f"note          {note}" for note in status.notes]
    return "\n".join(lines)


def _short(err: BaseException) -> str:
    return str(err).splitlines()[0][:200] if str(err) else type(err).__name__
