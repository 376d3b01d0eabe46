"""The five lifecycle events of a deploy, as EventBridge entries on the stack's own bus.

Why a module of its own: the detail-types are a published contract (downstream teams subscribe to them on
``prodline-<env>``; ``standards/delivery.py`` lists them for the program and the policies), so entries are
built in one place, and every entry carries the same three fields (``stack``, ``modelPackageArn``,
``version``) whatever else it says.
"""

from __future__ import annotations

import json
from typing import Any

from standards import delivery as names

SOURCE = names.EVENT_SOURCE
STARTED = "Deployment Started"
SUCCEEDED = "Deployment Succeeded"
FAILED = "Deployment Failed"
PROMOTED = "Deployment Promoted"
AWAITING_APPROVAL = "Deployment Awaiting Approval"
DETAIL_TYPES = (STARTED, SUCCEEDED, FAILED, PROMOTED, AWAITING_APPROVAL)


def bus_name(environment: str) -> str:
    """The stack's platform bus (components/event_bus.py): ``prodline-<env>``."""
    return names.event_bus(environment)


def entry(detail_type: str, *, environment: str, stack: str, model_package_arn: str | None,
          version: str | int | None, **extra: Any) -> dict:
    """``{"source", "detail-type", "detail", "bus"}``: what a DeliveryContext's ``publish`` takes.

    ``extra`` adds the fields some events carry (``reason``, ``restoredTo``, ``to``, ``smoke``, ...);
    None values are dropped so subscribers never see a key that means nothing.
    """
    if detail_type not in DETAIL_TYPES:
        raise ValueError(f"detail-type must be one of {', '.join(DETAIL_TYPES)}, got {detail_type!r}")
    detail = {"stack": stack, "modelPackageArn": model_package_arn,
              "version": None if version is None else str(version)}
    detail.update({key: value for key, value in extra.items() if value is not None})
    return {"source": SOURCE, "detail-type": detail_type, "detail": detail, "bus": bus_name(environment)}


def put_events_entry(event: dict) -> dict:
    """The same event as one ``Entries`` item of EventBridge PutEvents."""
    return {"Source": event["source"], "DetailType": event["detail-type"],
            "Detail": json.dumps(event["detail"], sort_keys=True), "EventBusName": event["bus"]}
