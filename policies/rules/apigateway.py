"""API Gateway rules: a REST API the stack exposes is authenticated, throttled, logged, on TLS 1.2 and watched.

The front door is the one place the model is reachable from outside the account, so each of these is what keeps
an exposed API from becoming an open, unmetered, unaudited route to the model.
"""

from __future__ import annotations

import json
import re

from pulumi_policy import PolicyResource, ReportViolation, ResourceValidationArgs, StackValidationArgs

from policies.rule import ADVISORY_IN_DEV, ResourceRule, StackRule, message
from policies.rules import links
from policies.rules.props import UNKNOWN, get, is_true, items, missing, number

REST_API = "aws:apigateway/restApi:RestApi"
METHOD = "aws:apigateway/method:Method"
STAGE = "aws:apigateway/stage:Stage"
METHOD_SETTINGS = "aws:apigateway/methodSettings:MethodSettings"
USAGE_PLAN = "aws:apigateway/usagePlan:UsagePlan"
DOMAIN_NAME = "aws:apigateway/domainName:DomainName"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
NAMESPACE = "AWS/ApiGateway"
REQUIRED_METRICS = ("4XXError", "5XXError", "Latency")
# Security policies that refuse TLS 1.0 and 1.1: the classic TLS_1_2 and the newer named policies.
TLS12_POLICIES = re.compile(r"TLS_1_2|SecurityPolicy_TLS1[23]_.*")
_CONTEXT_VARIABLE = re.compile(r"\$context(\.[A-Za-z0-9_]+)+")


def _validate_method_auth(args: ResourceValidationArgs, report: ReportViolation) -> None:
    authorization, key = get(args.props, "authorization"), get(args.props, "apiKeyRequired")
    if UNKNOWN in (authorization, key) or get(args.props, "httpMethod") == "OPTIONS":
        return  # CORS preflight carries no credentials by design
    if authorization == "NONE" and not is_true(key):
        report(message(args.name, "lets anyone call it: authorization NONE and no API key required",
                       "the front door is the model's route from outside the account; an open method serves (and "
                       "bills) every caller on the internet",
                       "set api_key_required=True and/or authorization AWS_IAM, COGNITO_USER_POOLS or CUSTOM "
                       "(FrontDoor does, by prodline:frontDoorAuth)"))


apigateway_method_authenticated = ResourceRule(
    "apigateway-method-authenticated",
    "Requires every API Gateway method to require an authorizer (IAM, Cognito, Lambda) or an API key.",
    _validate_method_auth,
    types=[METHOD],
)


def _api_of(stack: StackValidationArgs, resource: PolicyResource) -> PolicyResource | None:
    return next((api for api in links.of_type(stack.resources, REST_API) if links.refers_to(resource, "restApi", api)),
                None)


def _same_stage(stack: StackValidationArgs, stage: PolicyResource, other: PolicyResource, name_key: str) -> bool:
    api = _api_of(stack, stage)
    return (api is not None and links.refers_to(other, "restApi", api)
            and (get(other.props, name_key) == get(stage.props, "stageName")
                 or links.refers_to(other, name_key, stage)))


def _positive(value) -> bool:
    amount = number(value)
    return amount is not None and amount > 0


def _stage_throttled(stack: StackValidationArgs, stage: PolicyResource) -> bool:
    for settings in links.of_type(stack.resources, METHOD_SETTINGS):
        if _same_stage(stack, stage, settings, "stageName") and get(settings.props, "methodPath") == "*/*" and \
                _positive(get(settings.props, "settings.throttlingRateLimit")) and \
                _positive(get(settings.props, "settings.throttlingBurstLimit")):
            return True
    api = _api_of(stack, stage)
    for plan in links.of_type(stack.resources, USAGE_PLAN):
        throttled = _positive(get(plan.props, "throttleSettings.rateLimit")) and \
            _positive(get(plan.props, "throttleSettings.burstLimit"))
        for entry in items(get(plan.props, "apiStages")):
            if throttled and api is not None and get(entry, "apiId") in links.identities(api) | {UNKNOWN} and \
                    get(entry, "stage") in (get(stage.props, "stageName"), UNKNOWN):
                return True
    return False


def _validate_throttling(args: StackValidationArgs, report: ReportViolation) -> None:
    for stage in links.of_type(args.resources, STAGE):
        if not _stage_throttled(args, stage):
            report(message(stage.name, "is not throttled: no '*/*' method settings with a rate and burst limit, and "
                                       "no usage plan with throttle settings on it",
                           "without a limit one client (or a loop) can drive the model to its capacity and the "
                           "account's API Gateway quota, and the bill with it",
                           "declare aws.apigateway.MethodSettings(method_path='*/*', throttling_rate_limit, "
                           "throttling_burst_limit) and a UsagePlan with throttle_settings (FrontDoor does, from "
                           "prodline:frontDoorRateLimit and frontDoorClientRateLimit)"), stage.urn)


apigateway_stage_throttled = StackRule(
    "apigateway-stage-throttled",
    "Requires every API Gateway stage to be throttled by its method settings or a usage plan.",
    _validate_throttling,
)


def is_json_format(text: str) -> bool:
    """Whether an access-log format is a JSON object once API Gateway substitutes its variables."""
    try:
        return isinstance(json.loads(_CONTEXT_VARIABLE.sub("0", text)), dict)
    except ValueError:
        return False


def _validate_access_logs(args: StackValidationArgs, report: ReportViolation) -> None:
    for stage in links.of_type(args.resources, STAGE):
        settings = get(stage.props, "accessLogSettings")
        if settings is UNKNOWN:
            continue
        destination, fmt = get(settings, "destinationArn"), get(settings, "format")
        if missing(settings) or missing(destination) or missing(fmt):
            problem = "writes no access log (accessLogSettings with a destination and a format)"
        elif isinstance(fmt, str) and not is_json_format(fmt):
            problem = "writes access logs that are not JSON"
        else:
            groups = [g for g in links.of_type(args.resources, LOG_GROUP)
                      if links.refers_to(stage, "accessLogSettings", g,
                                         [destination.removesuffix(":*")] if isinstance(destination, str) else [])]
            if groups and all(not missing(get(g.props, "kmsKeyId")) for g in groups):
                continue
            problem = ("sends access logs to a log group without a KMS key" if groups else
                       "sends access logs somewhere this stack does not declare as a log group")
        report(message(stage.name, problem,
                       "the access log is the record of who called the model, when and with what outcome; it must be "
                       "queryable (JSON) and as protected as the data (the lake key)",
                       "set access_log_settings={'destination_arn': <a log group with kms_key_id and retention>, "
                       "'format': <a JSON object of $context variables>} (FrontDoor does)"), stage.urn)


apigateway_stage_access_logs = StackRule(
    "apigateway-stage-access-logs",
    "Requires every API Gateway stage to write JSON access logs to a KMS-encrypted log group of the stack.",
    _validate_access_logs,
)


def _validate_tls(args: ResourceValidationArgs, report: ReportViolation) -> None:
    policy = get(args.props, "securityPolicy")
    if policy is UNKNOWN:
        return
    if not isinstance(policy, str) or not TLS12_POLICIES.fullmatch(policy):
        report(message(args.name, f"allows TLS below 1.2 (securityPolicy {policy or 'unset, which means TLS_1_0'})",
                       "TLS 1.0 and 1.1 have known weaknesses and are refused by current compliance baselines",
                       "set security_policy='TLS_1_2' (FrontDoor does for prodline:frontDoorDomain)"))


apigateway_domain_tls12 = ResourceRule(
    "apigateway-domain-tls12",
    "Requires every API Gateway custom domain to refuse TLS below 1.2.",
    _validate_tls,
    types=[DOMAIN_NAME],
)


def _watches(alarm: PolicyResource, metric: str, api_name: str, stage_name: str) -> bool:
    dims = get(alarm.props, "dimensions")
    return (get(alarm.props, "namespace") == NAMESPACE and get(alarm.props, "metricName") == metric
            and get(dims, "ApiName") == api_name and get(dims, "Stage") == stage_name)


def _validate_alarms(args: StackValidationArgs, report: ReportViolation) -> None:
    alarms = links.of_type(args.resources, ALARM)
    for stage in links.of_type(args.resources, STAGE):
        api, stage_name = _api_of(args, stage), get(stage.props, "stageName")
        api_name = get(api.props, "name") if api is not None else UNKNOWN
        if UNKNOWN in (api_name, stage_name) or not isinstance(api_name, str):
            continue
        absent = [m for m in REQUIRED_METRICS if not any(_watches(a, m, api_name, stage_name) for a in alarms)]
        if absent:
            report(message(stage.name, f"has no alarm on {', '.join(absent)} (namespace {NAMESPACE}, dimensions "
                                       f"ApiName={api_name}, Stage={stage_name})",
                           "callers of the front door see its errors and latency first; without alarms nobody is "
                           "paged when they break",
                           "watch the stage in Observability (apis=[WatchedApi(api_name, stage_name)]), as the "
                           "stack does for its front door"), stage.urn)


apigateway_stage_alarms = StackRule(
    "apigateway-stage-alarms",
    "Requires every API Gateway stage to have 4XXError, 5XXError and Latency alarms with its ApiName and Stage.",
    _validate_alarms,
    enforcement=ADVISORY_IN_DEV,
)

RULES = (apigateway_method_authenticated, apigateway_stage_throttled, apigateway_stage_access_logs,
         apigateway_domain_tls12, apigateway_stage_alarms)
