"""EventBridge patterns and targets that start a SageMaker pipeline or report its failures.

The training pipeline (schedule, drift alarm) and batch scoring (schedule, a new features partition) are
started the same way and alert the same way when an execution fails; one module keeps both in step.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pulumi
import pulumi_aws as aws

EXECUTION_STATUS_CHANGE = "SageMaker Model Building Pipeline Execution Status Change"
GLUE_JOB_STATE_CHANGE = "Glue Job State Change"


def execution_failed(pipeline_arn: pulumi.Input[str]) -> dict[str, Any]:
    """A pipeline execution that ended Failed."""
    return {"source": ["aws.sagemaker"], "detail-type": [EXECUTION_STATUS_CHANGE],
            "detail": {"currentPipelineExecutionStatus": ["Failed"], "pipelineArn": [pipeline_arn]}}


def glue_job_succeeded(job_name: pulumi.Input[str]) -> dict[str, Any]:
    """A run of one Glue job that succeeded (for the features job: a new features partition)."""
    return {"source": ["aws.glue"], "detail-type": [GLUE_JOB_STATE_CHANGE],
            "detail": {"jobName": [job_name], "state": ["SUCCEEDED"]}}


def alarm_in_alarm(alarm_arns: Sequence[pulumi.Input[str]]) -> dict[str, Any]:
    """CloudWatch alarms that went into ALARM."""
    return {"source": ["aws.cloudwatch"], "detail-type": ["CloudWatch Alarm State Change"],
            "resources": list(alarm_arns), "detail": {"state": {"value": ["ALARM"]}}}


def start_pipeline_target(name: str, rule: aws.cloudwatch.EventRule, *, pipeline_arn: pulumi.Input[str],
                          role_arn: pulumi.Input[str], opts: pulumi.ResourceOptions,
                          parameters: Mapping[str, str] | None = None) -> aws.cloudwatch.EventTarget:
    """The rule's target: start the pipeline as ``role_arn`` (a role allowed to start this pipeline only)."""
    return aws.cloudwatch.EventTarget(
        f"{name}-target", rule=rule.name, arn=pipeline_arn, role_arn=role_arn,
        sagemaker_pipeline_target={"pipeline_parameter_lists": [
            {"name": key, "value": value} for key, value in (parameters or {}).items()]},
        opts=opts)
