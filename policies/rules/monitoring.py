"""Model monitoring rules: a served model's quality is watched, and measured on a schedule.

Drift of the inputs says the world moved; only labels say whether the model is still right. These rules
ask that every endpoint has an alarm on its measured quality and a scheduled job that measures it.
"""

from __future__ import annotations

from pulumi_policy import PolicyResource, ReportViolation, StackValidationArgs

from policies.rule import ADVISORY_IN_DEV, StackRule, message
from policies.rules import links
from policies.rules.cloudwatch import report_alarm_gap
from policies.rules.glue import JOB
from policies.rules.props import UNKNOWN, get, items
from policies.rules.sagemaker import ENDPOINT, endpoint_alarms

QUALITY_NAMESPACE = "prodline/ModelQuality"
QUALITY_METRICS = ("AUC", "Accuracy", "CalibrationError")
"""What measures quality (coverage alone does not)."""
TRIGGER = "aws:glue/trigger:Trigger"
LABELS_ARGUMENT = "--labels"


def _quality_alarm(args: StackValidationArgs, report: ReportViolation) -> None:
    for endpoint in links.of_type(args.resources, ENDPOINT):
        alarms = endpoint_alarms(args, endpoint, QUALITY_METRICS, QUALITY_NAMESPACE)
        report_alarm_gap(report, endpoint, "quality", alarms, (
            f"has no quality alarm (a CloudWatch alarm on {QUALITY_NAMESPACE} with its EndpointName)",
            "a model whose answers have gone wrong keeps serving: input drift does not show a change in what the "
            "right answer is, and nothing starts retraining",
            "declare ModelMonitoring for the endpoint (infra/stack.py does when it serves on SageMaker); floor "
            "prodline:qualityFloor on prodline:qualityMetric"))


endpoint_has_quality_alarm = StackRule(
    "sagemaker-endpoint-quality-alarm",
    "Requires every SageMaker endpoint to have an alarm, with actions, on its model quality measured against "
    "labels (mandatory in staging and prod).",
    _quality_alarm,
    enforcement=ADVISORY_IN_DEV,
)


def quality_jobs(stack: StackValidationArgs, endpoint: PolicyResource) -> list[PolicyResource]:
    """Glue jobs that join the endpoint's captures with labels: ``--labels`` set and ``--endpoint`` naming it."""
    names = links.identities(endpoint)
    return [job for job in links.of_type(stack.resources, JOB)
            if get(job.props, f"defaultArguments.{LABELS_ARGUMENT}") is not None
            and get(job.props, "defaultArguments.--endpoint") in (*names, UNKNOWN)]


def scheduled(stack: StackValidationArgs, job: PolicyResource) -> bool:
    names = links.identities(job)
    for trigger in links.of_type(stack.resources, TRIGGER):
        if get(trigger.props, "type") != "SCHEDULED" or not get(trigger.props, "schedule"):
            continue
        if links.refers_to(trigger, "actions", job) or any(
                get(action, "jobName") in names for action in items(get(trigger.props, "actions"))):
            return True
    return False


def _quality_job_scheduled(args: StackValidationArgs, report: ReportViolation) -> None:
    for endpoint in links.of_type(args.resources, ENDPOINT):
        jobs = quality_jobs(args, endpoint)
        if not jobs:
            report(message(endpoint.name, "has no model-quality job (a Glue job whose arguments name the endpoint "
                                          f"and a {LABELS_ARGUMENT} prefix)",
                           "without it the quality alarm never receives a value and stays quiet however bad the "
                           "model gets", "declare ModelMonitoring for the endpoint"), endpoint.urn)
        elif not any(scheduled(args, job) for job in jobs):
            report(message(endpoint.name, f"its model-quality job {jobs[0].name} has no SCHEDULED trigger",
                           "a job nobody starts measures nothing: the quality alarm stays quiet",
                           "give it a schedule (prodline:qualitySchedule; ModelMonitoring declares the trigger)"),
                   endpoint.urn)


endpoint_quality_job_scheduled = StackRule(
    "sagemaker-endpoint-quality-job-scheduled",
    "Requires every SageMaker endpoint to have a model-quality job that a schedule starts (mandatory in staging "
    "and prod).",
    _quality_job_scheduled,
    enforcement=ADVISORY_IN_DEV,
)

RULES = (endpoint_has_quality_alarm, endpoint_quality_job_scheduled)
