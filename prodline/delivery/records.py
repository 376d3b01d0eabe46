"""Which version a stack serves, and who approved what for it: two SSM parameters per stack.

Why SSM: a String parameter keeps every value it ever had (``GetParameterHistory``), with who wrote it and
when, so the record is its own audit log at no cost; the program reads the version record when the stack's
``prodline:modelPackageArn`` is ``recorded``. The version record is written only by the deploy path, after
a green smoke gate; the approval record only by ``prodline promote``.

  /prodline/<stack>/model-version
      {"stack","modelPackageArn","version","promotedBy","promotedAt","previousArn","source"}
  /prodline/<stack>/approval
      {"modelPackageArn","approvedBy","approvedAt"}
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from prodline.delivery.context import DeliveryContext
from standards.delivery import approval_parameter, version_parameter


class RecordError(ValueError):
    """A parameter holds something that is not the record it should; the message names the parameter."""


@dataclass(frozen=True)
class VersionRecord:
    stack: str
    model_package_arn: str
    version: str
    promoted_by: str
    promoted_at: str
    """ISO-8601, UTC."""
    previous_arn: str | None
    source: str
    """approval, promotion or manual: what asked for the deploy."""

    def to_json(self) -> dict[str, Any]:
        return {"stack": self.stack, "modelPackageArn": self.model_package_arn, "version": self.version,
                "promotedBy": self.promoted_by, "promotedAt": self.promoted_at, "previousArn": self.previous_arn,
                "source": self.source}

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> VersionRecord:
        return cls(stack=doc.get("stack", ""), model_package_arn=doc["modelPackageArn"],
                   version=str(doc.get("version", "")), promoted_by=doc.get("promotedBy", ""),
                   promoted_at=doc.get("promotedAt", ""), previous_arn=doc.get("previousArn"),
                   source=doc.get("source", ""))


@dataclass(frozen=True)
class ApprovalRecord:
    model_package_arn: str
    approved_by: str
    approved_at: str

    def to_json(self) -> dict[str, Any]:
        return {"modelPackageArn": self.model_package_arn, "approvedBy": self.approved_by,
                "approvedAt": self.approved_at}

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> ApprovalRecord:
        return cls(model_package_arn=doc["modelPackageArn"], approved_by=doc.get("approvedBy", ""),
                   approved_at=doc.get("approvedAt", ""))


@dataclass(frozen=True)
class HistoryEntry:
    """One past value of a record, with what SSM itself says about the write."""

    record: VersionRecord | ApprovalRecord | None
    """None when the stored value is not a record this code understands (shown, never fatal)."""
    modified_at: str
    modified_by: str
    """The IAM identity that wrote it (SSM's LastModifiedUser)."""
    parameter_version: int


def iso(moment: datetime) -> str:
    """``2026-12-01T10:00:00Z``: seconds, UTC (a naive time is taken to be UTC already)."""
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return aware.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def read_version(ctx: DeliveryContext, stack: str) -> VersionRecord | None:
    return _read(ctx, version_parameter(stack), VersionRecord)


def write_version(ctx: DeliveryContext, record: VersionRecord) -> None:
    _write(ctx, version_parameter(record.stack), record,
           f"model version served by {record.stack}: written by prodline deploy after a green smoke gate")


def version_history(ctx: DeliveryContext, stack: str) -> list[HistoryEntry]:
    """Every value the version record has had, oldest first."""
    return _history(ctx, version_parameter(stack), VersionRecord)


def read_approval(ctx: DeliveryContext, stack: str) -> ApprovalRecord | None:
    return _read(ctx, approval_parameter(stack), ApprovalRecord)


def write_approval(ctx: DeliveryContext, stack: str, record: ApprovalRecord) -> None:
    _write(ctx, approval_parameter(stack), record,
           f"model version a person approved for {stack}: written by prodline promote")


def approval_history(ctx: DeliveryContext, stack: str) -> list[HistoryEntry]:
    return _history(ctx, approval_parameter(stack), ApprovalRecord)


# --- SSM ------------------------------------------------------------------------------------------------

def _read(ctx: DeliveryContext, name: str, kind: type) -> Any:
    ssm = ctx.clients("ssm")
    try:
        value = ssm.get_parameter(Name=name)["Parameter"]["Value"]
    except ssm.exceptions.ParameterNotFound:
        return None
    return _parse(value, kind, name)


def _write(ctx: DeliveryContext, name: str, record: Any, description: str) -> None:
    ctx.clients("ssm").put_parameter(Name=name, Value=json.dumps(record.to_json(), sort_keys=True), Type="String",
                                     Overwrite=True, Description=description[:1024])


def _history(ctx: DeliveryContext, name: str, kind: type) -> list[HistoryEntry]:
    ssm = ctx.clients("ssm")
    entries: list[HistoryEntry] = []
    token = None
    while True:
        try:
            page = ssm.get_parameter_history(Name=name, **({"NextToken": token} if token else {}))
        except ssm.exceptions.ParameterNotFound:
            return []
        for item in page.get("Parameters", []):
            try:
                record = _parse(item["Value"], kind, name)
            except RecordError:
                record = None
            modified = item.get("LastModifiedDate")
            entries.append(HistoryEntry(record=record,
                                        modified_at=iso(modified) if isinstance(modified, datetime) else str(modified),
                                        modified_by=item.get("LastModifiedUser", ""),
                                        parameter_version=int(item.get("Version", 0))))
        token = page.get("NextToken")
        if not token:
            return sorted(entries, key=lambda e: e.parameter_version)


def _parse(value: str, kind: Any, name: str) -> Any:
    """The record in ``value``; RecordError naming the parameter when it is not one."""
    try:
        document = json.loads(value)
        if not isinstance(document, dict) or not document.get("modelPackageArn"):
            raise ValueError
        return kind.from_json(document)
    except (ValueError, KeyError, TypeError):
        raise RecordError(f"SSM parameter {name} does not hold a {kind.__name__} "
                          "(a JSON object with modelPackageArn)") from None
