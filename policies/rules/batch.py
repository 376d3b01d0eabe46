"""Batch scoring rules: predictions that land in the catalog with their lineage, encrypted, and failures that page.

A batch scoring pipeline is a SageMaker pipeline with a Transform step. Its predictions are lake data, read by
people who never see the pipeline: they must be a table in the catalog whose rows say which model version and
which job produced them, written with a customer key; and a run that fails in prod must reach someone.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

from pulumi_policy import PolicyResource, ReportViolation, ResourceValidationArgs, StackValidationArgs

from policies.rule import EVERYWHERE, PROD_ONLY, ResourceRule, StackRule, message
from policies.rules import links
from policies.rules.props import UNKNOWN, get, items, missing, strings
from policies.rules.sagemaker import PIPELINE, has_instance_storage, pipeline_definition, resolve, steps

CATALOG_TABLE = "aws:glue/catalogTable:CatalogTable"
EVENT_RULE = "aws:cloudwatch/eventRule:EventRule"
EVENT_TARGET = "aws:cloudwatch/eventTarget:EventTarget"
TOPIC = "aws:sns/topic:Topic"
TABLE_VARIABLE, DATABASE_VARIABLE = "PRODLINE_PREDICTIONS_TABLE", "PRODLINE_PREDICTIONS_DATABASE"
LINEAGE_COLUMNS = ("score", "model_package_arn", "model_version", "scoring_job_id")
"""What every prediction row must carry besides its input key, so it can be traced to the model that made it."""
FAILED_STATUS_CHANGE = "SageMaker Model Building Pipeline Execution Status Change"


def transform_steps(definition: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [step for step in steps(definition) if get(step, "Type") == "Transform"]


def scoring_pipelines(resources: list[PolicyResource]) -> Iterator[tuple[PolicyResource, Mapping[str, Any]]]:
    """(pipeline, its definition) for every pipeline with a Transform step."""
    for pipeline in links.of_type(resources, PIPELINE):
        definition = pipeline_definition(pipeline.props)
        if definition is not None and transform_steps(definition):
            yield pipeline, definition


# --- the output is encrypted ----------------------------------------------------------------------------

def _check_transform_encryption(args: ResourceValidationArgs, report: ReportViolation) -> None:
    definition = pipeline_definition(args.props)
    for step in transform_steps(definition) if definition is not None else []:
        instance_type = resolve(definition, get(step, "Arguments.TransformResources.InstanceType"))
        unencrypted = ["its output (TransformOutput.KmsKeyId)"] if missing(
            get(step, "Arguments.TransformOutput.KmsKeyId")) else []
        if missing(get(step, "Arguments.TransformResources.VolumeKmsKeyId")) and not (
                isinstance(instance_type, str) and has_instance_storage(instance_type)):
            unencrypted.append("its storage volume (TransformResources.VolumeKmsKeyId)")
        if unencrypted:
            report(message(args.name, f"transform step {get(step, 'Name')} does not encrypt "
                                      f"{' or '.join(unencrypted)} with a customer key",
                           "batch predictions are lake data about every customer of a partition; with S3's default "
                           "key anyone with read access to the bucket reads them, and no key policy audits it",
                           "give the step the lake key (components/batch_definition.py does: BatchSpec.kms_key_arn)"))


batch_transform_output_encrypted = ResourceRule(
    "batch-transform-output-encrypted",
    "Requires Batch Transform steps of SageMaker pipelines to encrypt their output and storage volume with a "
    "customer-managed KMS key.",
    _check_transform_encryption,
    types=[PIPELINE],
)


# --- the predictions are a catalogued table with their lineage ------------------------------------------

def _published_table(definition: Mapping[str, Any]) -> tuple[Any, Any]:
    """(database, table) a step of the pipeline publishes the predictions to; (None, None) when none says."""
    for step in steps(definition):
        environment = get(step, "Arguments.Environment")
        table = get(environment, TABLE_VARIABLE) if isinstance(environment, Mapping) else None
        if table is not None:
            return get(environment, DATABASE_VARIABLE), table
    return None, None


def _table_columns(table: PolicyResource) -> set[str]:
    return {get(c, "name") for c in items(get(table.props, "storageDescriptor.columns"))}


def _validate_predictions_table(args: StackValidationArgs, report: ReportViolation) -> None:
    tables = links.of_type(args.resources, CATALOG_TABLE)
    fix = ("publish through BatchScoring (components/batch_scoring.py) and declare the table with the lake's "
           "catalog (infra/stack.py: predictions_<dataset>, columns from workloads/batch/records.py)")
    for pipeline, definition in scoring_pipelines(args.resources):
        database, name = _published_table(definition)
        if name is None:
            report(message(pipeline.name, f"scores with Batch Transform but no step names its predictions table "
                                          f"({TABLE_VARIABLE})",
                           "predictions nobody can find in the catalog are read by path, without a schema, and "
                           "outlive the pipeline unnoticed", fix), pipeline.urn)
            continue
        if name is UNKNOWN:
            continue
        found = [t for t in tables if get(t.props, "name") == name
                 and (not isinstance(database, str) or get(t.props, "databaseName") in (database, UNKNOWN))]
        if not found:
            report(message(pipeline.name, f"publishes predictions to table {database}.{name}, which the stack does "
                                          "not declare in the Glue catalog",
                           "readers (Athena, the ETL, people) find lake data through the catalog; an undeclared "
                           "table has no schema and no owner", fix), pipeline.urn)
            continue
        lacking = [c for c in LINEAGE_COLUMNS if c not in _table_columns(found[0])]
        if lacking:
            report(message(found[0].name, f"holds batch predictions but lacks the lineage columns {', '.join(lacking)}",
                           "a prediction that does not say which model version and which job produced it cannot be "
                           "audited, compared across versions or deleted when a version is withdrawn", fix),
                   found[0].urn)


batch_predictions_table_cataloged = StackRule(
    "batch-predictions-table-cataloged",
    "Requires every batch scoring pipeline to publish to a Glue catalog table of the stack whose columns carry "
    "the score, the model package ARN and version, and the scoring job's id.",
    _validate_predictions_table,
    enforcement=EVERYWHERE,
)


# --- a failed run pages someone --------------------------------------------------------------------------

def _matches_failures(pattern: Any, pipeline: PolicyResource) -> bool:
    if isinstance(pattern, str):
        try:
            pattern = json.loads(pattern)
        except ValueError:
            return False
    if not isinstance(pattern, Mapping) or FAILED_STATUS_CHANGE not in strings(get(pattern, "detail-type")):
        return False
    if "Failed" not in strings(get(pattern, "detail.currentPipelineExecutionStatus")):
        return False
    named = strings(get(pattern, "detail.pipelineArn"))
    return not named or bool(links.identities(pipeline) & set(named))


def _alerts_on_failure(args: StackValidationArgs, pipeline: PolicyResource) -> bool:
    topics = links.of_type(args.resources, TOPIC)
    for rule in links.of_type(args.resources, EVENT_RULE):
        pattern = get(rule.props, "eventPattern")
        if pattern is UNKNOWN:
            return True  # not known during preview: it may be the one
        if not _matches_failures(pattern, pipeline):
            continue
        targets = links.referring(args.resources, [EVENT_TARGET], "rule", rule)
        if any(links.refers_to(t, "arn", topic) for t in targets for topic in topics):
            return True
        if any(get(t.props, "arn") is UNKNOWN for t in targets):
            return True
    return False


def _validate_failure_alerts(args: StackValidationArgs, report: ReportViolation) -> None:
    for pipeline, _ in scoring_pipelines(args.resources):
        if not _alerts_on_failure(args, pipeline):
            report(message(pipeline.name, "has no EventBridge rule that sends its failed executions to an SNS topic",
                           "a scheduled scoring run that fails leaves yesterday's predictions in place and nobody "
                           "learns until a consumer notices stale scores",
                           "set prodline:batchAlertOnFailure=true (BatchScoring's alert_topic_arn)"), pipeline.urn)


batch_scoring_failure_alerts = StackRule(
    "batch-scoring-failure-alerts",
    "Requires batch scoring pipelines in prod to send failed executions to an SNS topic through EventBridge.",
    _validate_failure_alerts,
    enforcement=PROD_ONLY,
)

RULES = (batch_transform_output_encrypted, batch_predictions_table_cataloged, batch_scoring_failure_alerts)
