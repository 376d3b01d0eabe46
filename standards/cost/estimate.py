"""A stack's monthly cost, resource by resource, from its registrations, a price file and usage assumptions.

Every resource type the program declares is in exactly one of three tables: ``PRICED`` (a function that
turns the resource into cost lines), ``FREE`` (why it costs nothing by itself) or ``UNPRICED`` (why the
estimator cannot price it). A type in none of them is reported as unpriced too, never counted as zero, and
a test fails until it is added to one. Each line has a low and a high monthly figure: the autoscaling
minimum and maximum, the expected run time and the timeout, the first month of storage and a year of it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from standards.cost import prices
from standards.cost.prices import PRICES_DIR, PriceList
from standards.cost.schedule import DAYS_PER_MONTH, HOURS_PER_MONTH, runs_per_month
from standards.cost.usage import Usage

# What one Glue worker of each type is, in DPUs; Python shell jobs say their DPUs in maxCapacity.
GLUE_WORKER_DPUS = {"G.025X": 0.25, "G.1X": 1.0, "G.2X": 2.0, "G.4X": 4.0, "G.8X": 8.0}
PYTHON_SHELL_DEFAULT_DPUS = 0.0625
# Share of the data landing each day that each lake zone keeps: curated and features are Parquet
# (columnar, compressed), artifacts hold models and code, the access logs hold request metadata.
ZONE_SHARE = {"raw": 1.0, "curated": 0.5, "features": 0.5, "artifacts": 0.05, "access-logs": 0.02}
STORAGE_HIGH_DAYS = 365.0
"""The high storage figure: a year of data (lake objects never expire; only old versions do)."""
GB = 1024**3


@dataclass(frozen=True)
class Resource:
    """What the estimator reads of a registration: the preview's Registration, a preview JSON entry or a
    policy resource all give these three."""

    type: str
    name: str
    inputs: Mapping[str, Any]


@dataclass(frozen=True)
class Line:
    type: str
    name: str
    what: str
    unit: str
    quantity_low: float
    quantity_high: float
    unit_price: float
    price_key: str

    @property
    def low(self) -> float:
        return self.quantity_low * self.unit_price

    @property
    def high(self) -> float:
        return self.quantity_high * self.unit_price


@dataclass(frozen=True)
class Unpriced:
    type: str
    name: str
    reason: str


@dataclass
class Estimate:
    region: str
    prices: PriceList
    lines: list[Line] = field(default_factory=list)
    free: list[Unpriced] = field(default_factory=list)
    unpriced: list[Unpriced] = field(default_factory=list)

    @property
    def low(self) -> float:
        return sum(line.low for line in self.lines)

    @property
    def high(self) -> float:
        return sum(line.high for line in self.lines)


class Context:
    """The whole stack, for pricers that follow links (a job's trigger, an endpoint's scaling target)."""

    def __init__(self, resources: list[Resource], usage: Usage, prices: PriceList):
        self.resources = resources
        self.usage = usage
        self.prices = prices

    def of_type(self, type_token: str) -> list[Resource]:
        return [r for r in self.resources if r.type == type_token]

    def line(self, r: Resource, what: str, key: str, low: float, high: float | None = None) -> Line | Unpriced:
        price = self.prices.usd(key)
        if price is None:
            return Unpriced(r.type, r.name, f"{what}: no price {key!r} in {self.prices.path}")
        entry = self.prices.prices[key]
        return Line(r.type, r.name, what, entry.get("unit", ""), low, low if high is None else high, price, key)

    def price_ratio(self, high_key: str, low_key: str) -> float:
        """How many times ``low_key``'s price ``high_key``'s is (S3 PUT against GET requests)."""
        high, low = self.prices.usd(high_key), self.prices.usd(low_key)
        return high / low if high and low else 1.0


Priced = Line | Unpriced
Pricer = Callable[[Resource, Context], list[Priced]]


def _num(value: Any, default: float = 0.0) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else default


# --- SageMaker ------------------------------------------------------------------------------------

ENDPOINT_CONFIG = "aws:sagemaker/endpointConfiguration:EndpointConfiguration"
SCALING_TARGET = "aws:appautoscaling/target:Target"


def _scaling(ctx: Context, variant: str) -> tuple[float, float] | None:
    for target in ctx.of_type(SCALING_TARGET):
        resource_id = str(target.inputs.get("resourceId", ""))
        if resource_id.startswith("endpoint/") and resource_id.endswith(f"/variant/{variant}"):
            return _num(target.inputs.get("minCapacity"), 1), _num(target.inputs.get("maxCapacity"), 1)
    return None


def _endpoint_config(r: Resource, ctx: Context) -> list[Priced]:
    found: list[Priced] = []
    for variant in r.inputs.get("productionVariants") or []:
        name = variant.get("variantName", "variant")
        serverless = variant.get("serverlessConfig")
        if serverless:
            found += _serverless(r, ctx, name, serverless)
            continue
        count = _num(variant.get("initialInstanceCount"), 1)
        low, high = _scaling(ctx, name) or (count, count)
        instance = variant.get("instanceType", "")
        found.append(ctx.line(r, f"variant {name}: {instance} x {low:g}-{high:g} x 730 h",
                              f"sagemaker.hosting.{instance}", low * HOURS_PER_MONTH, high * HOURS_PER_MONTH))
    return found


def _serverless(r: Resource, ctx: Context, variant: str, config: Mapping[str, Any]) -> list[Priced]:
    u = ctx.usage
    memory_gb = _num(config.get("memorySizeInMb"), 2048) / 1024
    requests = u.requests_per_day * DAYS_PER_MONTH
    seconds = requests * u.request_ms / 1000
    payload_gb = requests * 2 * 1024 / GB  # ~1 KB in and out per request (a row of the churn model)
    return [ctx.line(r, f"variant {variant}: serverless {memory_gb:g} GB x {requests:,.0f} requests",
                     "sagemaker.serverless.gb_second", seconds * memory_gb),
            ctx.line(r, f"variant {variant}: serverless data in and out", "sagemaker.serverless.data_gb", payload_gb)]


def _schedule_runs(ctx: Context, target_matches: Callable[[str], bool]) -> tuple[float, bool]:
    """Runs a month of what EventBridge targets match, and whether an event (not a schedule) also starts it."""
    rules = {str(rule.inputs.get("name")): rule for rule in ctx.of_type("aws:cloudwatch/eventRule:EventRule")}
    runs, on_event = 0.0, False
    for target in ctx.of_type("aws:cloudwatch/eventTarget:EventTarget"):
        if not target_matches(str(target.inputs.get("arn", ""))):
            continue
        rule = rules.get(str(target.inputs.get("rule")))
        if rule is None:
            continue
        expression = rule.inputs.get("scheduleExpression")
        if expression:
            runs += runs_per_month(str(expression))
        else:
            on_event = True
    return runs, on_event


def _arn_names(arn: str, kind: str, r: Resource, physical: str | None) -> bool:
    """An ARN naming this resource: by its physical name, or (offline) by the stand-in derived from its name."""
    tail = arn.rsplit(f"{kind}/", 1)[-1] if f"{kind}/" in arn else None
    return tail is not None and (tail.lower() == (physical or "").lower() or tail.startswith(f"{r.name}-"))


def _pipeline(r: Resource, ctx: Context) -> list[Priced]:
    runs, on_event = _schedule_runs(
        ctx, lambda arn: _arn_names(arn, "pipeline", r, r.inputs.get("pipelineName")))
    extra = ctx.usage.retrainings_per_month if on_event else 0
    try:
        steps = json.loads(r.inputs.get("pipelineDefinition") or "{}").get("Steps", [])
    except (TypeError, ValueError):
        return [Unpriced(r.type, r.name, "pipeline definition is not JSON (unknown until deploy)")]
    found: list[Priced] = []
    minutes = ctx.usage.training_run_minutes
    for step in steps:
        args = step.get("Arguments", {})
        kind, resources = {"Training": ("training", args.get("ResourceConfig")),
                           "Processing": ("processing", (args.get("ProcessingResources") or {}).get("ClusterConfig")),
                           "Transform": ("transform", args.get("TransformResources"))}.get(step.get("Type"),
                                                                                          (None, None))
        if kind is None or not isinstance(resources, Mapping):
            continue
        instance, count = resources.get("InstanceType", ""), _num(resources.get("InstanceCount"), 1)
        cap = _num((args.get("StoppingCondition") or {}).get("MaxRuntimeInSeconds"), minutes * 60) / 3600
        low_hours = runs * count * minutes / 60
        high_hours = (runs + extra) * count * max(cap, minutes / 60)
        found.append(ctx.line(r, f"step {step.get('Name')}: {instance} x {count:g}, {runs:.3g} runs"
                                 f"{f' (+{extra} on drift)' if extra else ''} x {minutes}-{cap * 60:g} min",
                              f"sagemaker.{kind}.{instance}", low_hours, high_hours))
    return found


def _mlflow(r: Resource, ctx: Context) -> list[Priced]:
    size = r.inputs.get("trackingServerSize") or "Small"
    return [ctx.line(r, f"tracking server {size} x 730 h", f"sagemaker.mlflow.{size}", HOURS_PER_MONTH)]


# --- Glue -------------------------------------------------------------------------------------------

def _glue_runs(ctx: Context, job: str, seen: frozenset[str] = frozenset()) -> float:
    """Runs a month of a job: its scheduled triggers, plus the runs of the jobs a conditional trigger follows."""
    runs = 0.0
    for trigger in ctx.of_type("aws:glue/trigger:Trigger"):
        if job not in {a.get("jobName") for a in trigger.inputs.get("actions") or []}:
            continue
        if trigger.inputs.get("type") == "SCHEDULED" and trigger.inputs.get("schedule"):
            runs += runs_per_month(str(trigger.inputs["schedule"]))
        for condition in (trigger.inputs.get("predicate") or {}).get("conditions") or []:
            upstream = condition.get("jobName")
            if upstream and upstream not in seen:
                runs += _glue_runs(ctx, upstream, seen | {job})
    return runs


def _glue_job(r: Resource, ctx: Context) -> list[Priced]:
    inputs = r.inputs
    if (inputs.get("command") or {}).get("name") == "pythonshell":
        dpus = _num(inputs.get("maxCapacity"), PYTHON_SHELL_DEFAULT_DPUS)
    else:
        dpus = GLUE_WORKER_DPUS.get(str(inputs.get("workerType")), 1.0) * _num(inputs.get("numberOfWorkers"), 2)
    runs = _glue_runs(ctx, str(inputs.get("name", r.name)))
    minutes = max(ctx.usage.etl_run_minutes, 1)  # billed per second, one minute at least
    timeout = _num(inputs.get("timeout"), 2880)
    attempts = 1 + _num(inputs.get("maxRetries"), 0)
    return [ctx.line(r, f"{dpus:g} DPU x {runs:.3g} runs x {minutes}-{timeout:g} min (x{attempts:g} attempts)",
                     "glue.dpu_hour", runs * dpus * minutes / 60, runs * dpus * attempts * timeout / 60)]


# --- storage, keys, observability --------------------------------------------------------------------

def _bucket(r: Resource, ctx: Context) -> list[Priced]:
    name = str(r.inputs.get("bucket", r.name))
    zone = next((z for z in ZONE_SHARE if f"-{z}-" in f"-{name}-" or r.name.endswith(f"-{z}")), None)
    if zone is None:
        return [Unpriced(r.type, r.name, "no expected data volume for a bucket outside the lake's zones")]
    daily = ctx.usage.data_gb_per_day * ZONE_SHARE[zone]
    found = [ctx.line(r, f"{zone} zone: {daily:g} GB/day stored, 1 month to 1 year", "s3.standard_gb_month",
                      daily * DAYS_PER_MONTH, daily * STORAGE_HIGH_DAYS)]
    if zone == "raw":
        requests = ctx.usage.api_requests_per_day * DAYS_PER_MONTH / 1000
        found.append(ctx.line(r, "lake API requests (GET to PUT prices)", "s3.get_requests_1000", requests,
                              requests * ctx.price_ratio("s3.put_requests_1000", "s3.get_requests_1000")))
    return found


def _kms_key(r: Resource, ctx: Context) -> list[Priced]:
    keys = len(ctx.of_type(r.type)) or 1
    requests = ctx.usage.api_requests_per_day * DAYS_PER_MONTH / 10_000 / keys
    return [ctx.line(r, "customer managed key", "kms.key_month", 1),
            ctx.line(r, "key requests (the lake's API requests, shared by the keys)", "kms.requests_10000",
                     requests)]


def _alarm_metrics(inputs: Mapping[str, Any]) -> int:
    queries = inputs.get("metricQueries") or []
    return sum(1 for q in queries if q.get("metric")) or 1


def _alarm(r: Resource, ctx: Context) -> list[Priced]:
    high_resolution = 0 < _num(r.inputs.get("period"), 60) < 60
    key = "cloudwatch.alarm_high_resolution_metric_month" if high_resolution else "cloudwatch.alarm_metric_month"
    metrics = _alarm_metrics(r.inputs)
    found = [ctx.line(r, f"alarm on {metrics} metric{'s' if metrics > 1 else ''}", key, metrics)]
    namespace = str(r.inputs.get("namespace", ""))
    if namespace and not namespace.startswith("AWS/"):
        found.append(ctx.line(r, f"custom metric {namespace}/{r.inputs.get('metricName')}",
                              "cloudwatch.custom_metric_month", 1))
    return found


def _dashboard(r: Resource, ctx: Context) -> list[Priced]:
    return [ctx.line(r, "dashboard", "cloudwatch.dashboard_month", 1)]


def _log_group(r: Resource, ctx: Context) -> list[Priced]:
    groups = len(ctx.of_type(r.type)) or 1
    daily = ctx.usage.log_gb_per_day / groups
    retention = _num(r.inputs.get("retentionInDays"), STORAGE_HIGH_DAYS) or STORAGE_HIGH_DAYS
    return [ctx.line(r, f"ingestion ({daily:.3g} GB/day, the stack's logs shared by {groups} groups)",
                     "logs.ingest_gb", daily * DAYS_PER_MONTH),
            ctx.line(r, f"storage, {retention:g} days kept", "logs.storage_gb_month",
                     daily * min(retention, DAYS_PER_MONTH), daily * retention)]


def _codebuild(r: Resource, ctx: Context) -> list[Priced]:
    builds, on_event = _schedule_runs(ctx, lambda arn: _arn_names(arn, "project", r, r.inputs.get("name")))
    compute = (r.inputs.get("environment") or {}).get("computeType", "BUILD_GENERAL1_SMALL")
    timeout = _num(r.inputs.get("buildTimeout"), 60)
    deploys = ctx.usage.retrainings_per_month if on_event else 0
    return [ctx.line(r, f"{builds:g} scheduled builds x 1 min (an empty queue), {deploys} deploys of up to "
                        f"{timeout:g} min", f"codebuild.{compute}_minute", builds, builds + deploys * timeout)]


# --- streams --------------------------------------------------------------------------------------

def _stream(r: Resource, ctx: Context) -> list[Priced]:
    gb = ctx.usage.data_gb_per_day * DAYS_PER_MONTH
    if (r.inputs.get("streamModeDetails") or {}).get("streamMode") == "ON_DEMAND":
        return [ctx.line(r, "on-demand stream x 730 h", "kinesis.on_demand_stream_hour", HOURS_PER_MONTH),
                ctx.line(r, f"{gb:,.0f} GB ingested", "kinesis.on_demand_ingest_gb", gb)]
    shards = _num(r.inputs.get("shardCount"), 1)
    units = gb * GB / (25 * 1024) / 1e6
    return [ctx.line(r, f"{shards:g} shards x 730 h", "kinesis.shard_hour", shards * HOURS_PER_MONTH),
            ctx.line(r, f"PUT payload units for {gb:,.0f} GB", "kinesis.put_payload_units_million", units)]


def _firehose(r: Resource, ctx: Context) -> list[Priced]:
    gb = ctx.usage.data_gb_per_day * DAYS_PER_MONTH
    return [ctx.line(r, f"{gb:,.0f} GB ingested", "firehose.ingest_gb", gb)]


# --- the front door ------------------------------------------------------------------------------

def _rest_api(r: Resource, ctx: Context) -> list[Priced]:
    """Every request the model serves arrives through the front door: the stack's expected requests, all of them."""
    requests = ctx.usage.requests_per_day * DAYS_PER_MONTH / 1e6
    return [ctx.line(r, f"{requests:,.2f} million requests (usageRequestsPerDay)", "apigateway.rest_requests_million",
                     requests)]


PRICED: dict[str, Pricer] = {
    ENDPOINT_CONFIG: _endpoint_config,
    "aws:sagemaker/pipeline:Pipeline": _pipeline,
    "aws:sagemaker/mlflowTrackingServer:MlflowTrackingServer": _mlflow,
    "aws:glue/job:Job": _glue_job,
    "aws:s3/bucket:Bucket": _bucket,
    "aws:kms/key:Key": _kms_key,
    "aws:cloudwatch/metricAlarm:MetricAlarm": _alarm,
    "aws:cloudwatch/dashboard:Dashboard": _dashboard,
    "aws:cloudwatch/logGroup:LogGroup": _log_group,
    "aws:codebuild/project:Project": _codebuild,
    "aws:kinesis/stream:Stream": _stream,
    "aws:kinesis/firehoseDeliveryStream:FirehoseDeliveryStream": _firehose,
    "aws:apigateway/restApi:RestApi": _rest_api,
}
"""Types with a price: the function that turns one resource into its cost lines."""

_S3_SETTINGS = "a setting of its bucket; the bucket's line holds its storage and requests"
FREE: dict[str, str] = {
    "aws:iam/role:Role": "IAM is free",
    "aws:iam/rolePolicy:RolePolicy": "IAM is free",
    "aws:iam/policy:Policy": "IAM is free",
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment": "IAM is free",
    "aws:iam/openIdConnectProvider:OpenIdConnectProvider": "IAM is free",
    "aws:kms/alias:Alias": "aliases are free; the key's line holds its cost",
    "aws:ecr/lifecyclePolicy:LifecyclePolicy": "a setting of its repository",
    "aws:s3/bucketOwnershipControls:BucketOwnershipControls": _S3_SETTINGS,
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": _S3_SETTINGS,
    "aws:s3/bucketVersioning:BucketVersioning": _S3_SETTINGS,
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration": _S3_SETTINGS,
    "aws:s3/bucketPolicy:BucketPolicy": _S3_SETTINGS,
    "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration": _S3_SETTINGS,
    "aws:s3/bucketLogging:BucketLogging": _S3_SETTINGS,
    "aws:s3/bucketNotification:BucketNotification": _S3_SETTINGS,
    "aws:s3/bucketObject:BucketObject": "code bundles of a few hundred KB, inside the artifacts zone's storage",
    "aws:glue/catalogDatabase:CatalogDatabase": "the Data Catalog's first million objects are free every month",
    "aws:glue/catalogTable:CatalogTable": "the Data Catalog's first million objects are free every month",
    "aws:glue/securityConfiguration:SecurityConfiguration": "a setting of the jobs that use it",
    "aws:glue/trigger:Trigger": "triggers are free; the runs they start are on the job's line",
    "aws:cloudwatch/logStream:LogStream": "a log stream costs nothing; its group's line holds ingestion and storage",
    "aws:sagemaker/model:Model": "a model costs nothing until an endpoint configuration runs it",
    "aws:sagemaker/endpoint:Endpoint": "billed through its endpoint configuration's instances (priced there)",
    "aws:sagemaker/modelPackageGroup:ModelPackageGroup": "the registry is free; artifacts are in the lake",
    "aws:appautoscaling/target:Target": "Application Auto Scaling is free; the endpoint line uses its min and max",
    "aws:appautoscaling/policy:Policy": "Application Auto Scaling is free",
    "aws:cloudwatch/eventRule:EventRule": "scheduled rules and AWS service events on the default bus are free",
    "aws:cloudwatch/eventTarget:EventTarget": "targets are free; what they start is priced on its own line",
    "aws:sns/topic:Topic": "alert volume stays inside SNS's always-free 1 million publishes and 1,000 e-mails",
    "aws:sns/topicPolicy:TopicPolicy": "a setting of its topic",
    "aws:sns/topicSubscription:TopicSubscription": "alert volume stays inside SNS's always-free tier",
    "aws:sqs/queuePolicy:QueuePolicy": "a setting of its queue",
    "aws:sqs/queue:Queue": "a few requests an hour, inside SQS's always-free million requests a month",
    "aws:budgets/budget:Budget": "budgets without actions are free (AWS Budgets: $0.00 per budget-day)",
    "aws:costexplorer/costAllocationTag:CostAllocationTag": "activating a cost-allocation tag is free",
    "aws:apigateway/account:Account": "an account setting (the CloudWatch role API Gateway logs with)",
    "aws:apigateway/resource:Resource": "a path of its REST API; requests are on the API's line",
    "aws:apigateway/method:Method": "a route of its REST API; requests are on the API's line",
    "aws:apigateway/methodResponse:MethodResponse": "a setting of its method",
    "aws:apigateway/integration:Integration": "a setting of its method; what it calls is priced on its own line",
    "aws:apigateway/integrationResponse:IntegrationResponse": "a setting of its integration",
    "aws:apigateway/requestValidator:RequestValidator": "a setting of its REST API",
    "aws:apigateway/response:Response": "a setting of its REST API (gateway responses)",
    "aws:apigateway/deployment:Deployment": "a snapshot of its REST API's routes",
    "aws:apigateway/methodSettings:MethodSettings": "a setting of its stage (caching stays off, so no cache charge)",
    "aws:apigateway/usagePlan:UsagePlan": "usage plans are free",
    "aws:apigateway/usagePlanKey:UsagePlanKey": "usage plans are free",
    "aws:apigateway/apiKey:ApiKey": "API keys are free",
    "aws:apigateway/authorizer:Authorizer": "a Cognito authorizer is free (the user pool is outside the stack)",
    "aws:apigateway/domainName:DomainName": "a regional custom domain is free (so is its ACM certificate)",
    "aws:apigateway/basePathMapping:BasePathMapping": "a setting of its custom domain",
    "aws:apigateway/vpcLink:VpcLink": "a VPC link costs nothing itself; its NLB is the ingress controller's",
}
"""Types that cost nothing by themselves, each with the reason (the free tiers named are the always-free
ones, not the first-year offers)."""

UNPRICED: dict[str, str] = {
    "aws:cloudwatch/eventBus:EventBus": "custom events cost $1.00 per million; the volume of forwarded lifecycle "
                                        "events is not estimated",
    "aws:ecr/repository:Repository": "image storage ($0.10/GB-month) depends on image sizes, not declared",
    "aws:eks/accessEntry:AccessEntry": "the cluster is not part of the stack",
    "aws:apigateway/stage:Stage": "X-Ray traces of its sampled requests ($5.00 per million recorded, beyond 100,000 "
                                  "free a month) are not estimated; its requests are on the API's line",
}
"""Types the estimator cannot price, each with the reason."""

UNPRICED_PACKAGES: dict[str, str] = {
    "kubernetes": "runs on the cluster's nodes, billed outside this stack",
}
FREE_PACKAGES: dict[str, str] = {"pulumi": "a Pulumi provider or the stack itself"}
COMPONENT_PACKAGES = ("prodline",)
"""Component resources group others and are billed nothing themselves."""


def classify(type_token: str) -> str:
    """``priced``, ``free``, ``unpriced`` or ``unknown``: which table knows the type."""
    package = type_token.split(":", 1)[0]
    if type_token in PRICED:
        return "priced"
    if type_token in FREE or package in FREE_PACKAGES:
        return "free"
    if type_token in UNPRICED or package in UNPRICED_PACKAGES:
        return "unpriced"
    return "unknown"


def estimate(resources: Iterable[Resource], usage: Usage, prices: PriceList, region: str) -> Estimate:
    """Every custom resource priced, listed as free, or listed as unpriced with the reason."""
    stack = list(resources)
    ctx = Context(stack, usage, prices)
    result = Estimate(region=region, prices=prices)
    for r in stack:
        package = r.type.split(":", 1)[0]
        kind = classify(r.type)
        if kind == "priced":
            for item in PRICED[r.type](r, ctx):
                (result.lines if isinstance(item, Line) else result.unpriced).append(item)
        elif kind == "free":
            result.free.append(Unpriced(r.type, r.name, FREE.get(r.type) or FREE_PACKAGES[package]))
        elif kind == "unpriced":
            result.unpriced.append(Unpriced(r.type, r.name, UNPRICED.get(r.type) or UNPRICED_PACKAGES[package]))
        else:
            result.unpriced.append(Unpriced(r.type, r.name, "not in the estimator's tables (standards/cost)"))
    return result


BUDGET_COMPONENT = "prodline:cost:CostBudget"
"""The component that carries a stack's budget and usage assumptions in its inputs (components/cost_budget.py)."""


@dataclass(frozen=True)
class StackBudget:
    limit_usd: float
    region: str
    usage: Usage


def stack_budget(resources: Iterable[Resource]) -> StackBudget | None:
    """The budget a stack declares, read back from its budget component's inputs; None when it has none."""
    for r in resources:
        if r.type == BUDGET_COMPONENT:
            inputs = r.inputs
            return StackBudget(float(inputs.get("limitUsd", 0)), str(inputs.get("region", "")),
                               Usage.from_inputs(inputs.get("usage") or {}))
    return None


def estimate_stack(resources: Iterable[Resource], price_dir: Path = PRICES_DIR,
                   prices_region: str | None = None) -> tuple[Estimate, StackBudget]:
    """The estimate of a whole stack, with the region and usage its budget component declares, priced with that
    region's file unless ``prices_region`` names another (the estimate then carries both regions).

    Raises ValueError when the stack declares no budget component (without it there are no usage assumptions) and
    prices.MissingPriceFile when the region priced has no price file.
    """
    stack = list(resources)
    budget = stack_budget(stack)
    if budget is None:
        raise ValueError(f"the stack declares no {BUDGET_COMPONENT}: no usage assumptions to estimate with")
    billed = [r for r in stack if r.type.split(":", 1)[0] not in COMPONENT_PACKAGES]
    price_list = prices.for_region(prices_region or budget.region, price_dir)
    return estimate(billed, budget.usage, price_list, budget.region), budget
