"""CloudWatch: log groups and streams, metric alarms and dashboards."""

from __future__ import annotations

from prodline.sandbox.realizer.base import Context, Handler, drop_none, tag_list, tag_map


def _log_group(ctx: Context, urn: str, logical: str, inputs: dict):
    logs = ctx.clients("logs")
    name = inputs.get("name") or ctx.physical(urn, logical, limit=512)
    logs.create_log_group(**drop_none({"logGroupName": name, "kmsKeyId": inputs.get("kmsKeyId"),
                                       "logGroupClass": inputs.get("logGroupClass"),
                                       "tags": tag_map(inputs) or None}))
    if inputs.get("retentionInDays"):
        logs.put_retention_policy(logGroupName=name, retentionInDays=int(inputs["retentionInDays"]))
    return name, {"name": name, "arn": f"arn:aws:logs:{ctx.region}:{ctx.account}:log-group:{name}"}


LOG_GROUP = Handler(_log_group, lambda ctx, name, _: ctx.clients("logs").delete_log_group(logGroupName=name),
                    carries=("name", "kmsKeyId", "logGroupClass", "retentionInDays", "tags"))


def _log_stream(ctx: Context, urn: str, logical: str, inputs: dict):
    group, name = inputs["logGroupName"], inputs.get("name") or ctx.physical(urn, logical, limit=512)
    ctx.clients("logs").create_log_stream(logGroupName=group, logStreamName=name)
    return f"{group}:{name}", {"name": name, "logGroupName": group,
                               "arn": f"arn:aws:logs:{ctx.region}:{ctx.account}:log-group:{group}:log-stream:{name}"}


def _delete_log_stream(ctx: Context, ident: str, outputs: dict) -> None:
    ctx.clients("logs").delete_log_stream(logGroupName=outputs["logGroupName"], logStreamName=outputs["name"])


LOG_STREAM = Handler(_log_stream, _delete_log_stream, carries=("name", "logGroupName"))


def _dimensions(dims: dict | None) -> list[dict[str, str]] | None:
    return [{"Name": k, "Value": v} for k, v in sorted(dims.items())] if dims else None


def _metric_query(query: dict) -> dict:
    out = drop_none({"Id": query["id"], "Expression": query.get("expression"), "Label": query.get("label"),
                     "ReturnData": query.get("returnData"), "AccountId": query.get("accountId"),
                     "Period": int(query["period"]) if query.get("period") else None})
    if "metric" in query:
        metric = query["metric"]
        out["MetricStat"] = drop_none({
            "Metric": drop_none({"Namespace": metric["namespace"], "MetricName": metric["metricName"],
                                 "Dimensions": _dimensions(metric.get("dimensions"))}),
            "Period": int(metric["period"]), "Stat": metric["stat"], "Unit": metric.get("unit")})
    return out


METRIC_QUERY = ("id", "expression", "label", "returnData", "accountId", "period", "metric.namespace",
                "metric.metricName", "metric.dimensions", "metric.period", "metric.stat", "metric.unit")


def alarm_request(name: str, inputs: dict) -> dict:
    """PutMetricAlarm arguments from the alarm's Pulumi inputs."""
    return drop_none({
        "AlarmName": name, "AlarmDescription": inputs.get("alarmDescription"),
        "ActionsEnabled": inputs.get("actionsEnabled"),
        "Namespace": inputs.get("namespace"), "MetricName": inputs.get("metricName"),
        "Dimensions": _dimensions(inputs.get("dimensions")), "Statistic": inputs.get("statistic"),
        "ExtendedStatistic": inputs.get("extendedStatistic"), "Unit": inputs.get("unit"),
        "Period": int(inputs["period"]) if inputs.get("period") else None,
        "EvaluationPeriods": int(inputs["evaluationPeriods"]),
        "DatapointsToAlarm": int(inputs["datapointsToAlarm"]) if inputs.get("datapointsToAlarm") else None,
        "Threshold": float(inputs["threshold"]) if inputs.get("threshold") is not None else None,
        "ThresholdMetricId": inputs.get("thresholdMetricId"),
        "ComparisonOperator": inputs["comparisonOperator"], "TreatMissingData": inputs.get("treatMissingData"),
        "EvaluateLowSampleCountPercentile": inputs.get("evaluateLowSampleCountPercentiles"),
        "AlarmActions": inputs.get("alarmActions"), "OKActions": inputs.get("okActions"),
        "InsufficientDataActions": inputs.get("insufficientDataActions"),
        "Metrics": [_metric_query(q) for q in inputs["metricQueries"]] if inputs.get("metricQueries") else None,
        "Tags": tag_list(inputs) or None,
    })


def _metric_alarm(ctx: Context, urn: str, logical: str, inputs: dict):
    name = inputs.get("name") or ctx.physical(urn, logical, limit=255)
    ctx.clients("cloudwatch").put_metric_alarm(**alarm_request(name, inputs))
    return name, {"name": name, "arn": f"arn:aws:cloudwatch:{ctx.region}:{ctx.account}:alarm:{name}"}


METRIC_ALARM = Handler(
    _metric_alarm, lambda ctx, name, _: ctx.clients("cloudwatch").delete_alarms(AlarmNames=[name]),
    carries=("name", "alarmDescription", "actionsEnabled", "namespace", "metricName", "dimensions", "statistic",
             "extendedStatistic", "unit", "period", "evaluationPeriods", "datapointsToAlarm", "threshold",
             "thresholdMetricId", "comparisonOperator", "treatMissingData", "evaluateLowSampleCountPercentiles",
             "alarmActions", "okActions", "insufficientDataActions", "tags",
             *(f"metricQueries.{path}" for path in METRIC_QUERY)))


def _dashboard(ctx: Context, urn: str, logical: str, inputs: dict):
    name = inputs["dashboardName"]
    ctx.clients("cloudwatch").put_dashboard(DashboardName=name, DashboardBody=inputs["dashboardBody"])
    return name, {"dashboardName": name, "dashboardArn": f"arn:aws:cloudwatch::{ctx.account}:dashboard/{name}"}


DASHBOARD = Handler(
    _dashboard, lambda ctx, name, _: ctx.clients("cloudwatch").delete_dashboards(DashboardNames=[name]),
    carries=("dashboardName", "dashboardBody"))
