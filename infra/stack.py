"""build_stack(config): the whole prodline stack for one environment, wired from components.

Called by ``infra/__main__.py`` under the real engine and by prodline's runner under mocks, so the
program that CI previews and checks is the program that deploys.
"""

from __future__ import annotations

from pathlib import Path

import pulumi
import pulumi_aws as aws

from components.batch_scoring import PREDICTIONS_PREFIX, BatchScoring
from components.cost_budget import CostBudget
from components.data_lake import DataLake, TableColumn, TableSpec
from components.eks_access import ClusterAccess, existing_eks_cluster, oidc_provider_arn
from components.etl_job import EtlJob
from components.event_bus import EventBus
from components.image_repository import ImageRepository
from components.model_monitoring import ModelMonitoring
from components.model_registry import ModelRegistry
from components.observability import SERVING_NAMESPACE, Observability, WatchedEndpoint
from components.sagemaker_images import sklearn_image_uri
from components.serving_endpoint import CAPTURE_PREFIX, DEFAULT_VARIANT, ServingEndpoint
from components.streaming_ingestion import StreamingIngestion
from components.tracking_server import TrackingServer
from components.training_pipeline import CODE_PREFIX, TrainingPipeline
from infra.config import StackConfig
from infra.delivery import boundary_arn, build_deployer
from infra.front_door import build_front_door, ingress_host, watched_apis
from infra.model_version import model_data_url, resolve_model_package
from infra.naming import register_stack_naming
from infra.tags import register_ownership_tags
from standards import environments as envs
from workloads.batch.records import PREDICTION_COLUMNS
from workloads.etl import schema

ROOT = Path(__file__).resolve().parent.parent
# Glue's Python shell (3.9) analytics set ships older pandas/pyarrow than the ETL needs (pandas >= 2, pyarrow
# >= 13); these are the newest releases that still support Python 3.9. Spark jobs bring their own.
GLUE_PYTHON_SHELL_MODULES = ("pandas==2.2.3", "pyarrow==17.0.0")
ETL_DIR = ROOT / "workloads" / "etl"
DRIFT_REPORT_PREFIX = "drift/"
"""Where drift reports go in the curated zone (the sandbox's monitor runs write there too)."""
LABELS_PREFIX = "labels/"
"""Raw-zone prefix where ground truth arrives (format: workloads/monitoring/ground_truth.py)."""


def build_stack(config: StackConfig) -> dict[str, pulumi.Output]:
    register_ownership_tags(config.ownership.tags())
    account = aws.get_caller_identity().account_id
    prefix = f"prodline-{config.environment}"
    # Names under the stack's prefix and the boundary on every role: what the scoped deploy role may manage.
    register_stack_naming(prefix, account, boundary_arn(config, account))
    account_id = pulumi.Output.from_input(account)
    database = f"prodline_{config.environment}"
    dataset = schema.DATASET

    lake = DataLake("lake", {
        "account_id": account_id,
        "region": config.region,
        "retention_days": config.lake.retention_days,
        "raw_transition_days": config.lake.raw_transition_days,
        "database_name": database,
        "tables": [
            TableSpec(f"curated_{dataset}", "curated", f"{dataset}/", _columns(schema.CURATED_COLUMNS)),
            TableSpec(f"features_{dataset}", "features", f"{dataset}/", _columns(schema.FEATURES_COLUMNS)),
            TableSpec(f"predictions_{dataset}", "features", f"{PREDICTIONS_PREFIX}/{dataset}/",
                      [TableColumn(*column) for column in PREDICTION_COLUMNS]),
        ],
        "force_destroy": config.environment == "dev",
        "eventbridge_zones": ["raw"],
        "key_alias": f"alias/{prefix}-lake",
    })

    catalog = f"arn:aws:glue:{config.region}:"
    catalog_arns = [
        pulumi.Output.concat(catalog, account_id, ":catalog"),
        pulumi.Output.concat(catalog, account_id, ":database/", database),
        pulumi.Output.concat(catalog, account_id, ":table/", database, f"/curated_{dataset}"),
        pulumi.Output.concat(catalog, account_id, ":table/", database, f"/features_{dataset}"),
    ]
    buckets = lake.refs.bucket_names
    engine = "pandas" if config.etl.job_type == "pythonshell" else "spark"
    common = {
        "job_type": config.etl.job_type,
        "lake": lake.refs,
        "account_id": account_id,
        "log_retention_days": config.lake.log_retention_days,
        "timeout_minutes": config.etl.timeout_minutes,
        "max_retries": config.etl.max_retries,
        "worker_type": config.etl.worker_type,
        "number_of_workers": config.etl.number_of_workers,
        "library_files": _etl_library(),
        "catalog_arns": catalog_arns,
        "python_modules": GLUE_PYTHON_SHELL_MODULES,
    }
    validate = EtlJob("validate", {
        **common,
        "job_name": f"{prefix}-validate",
        "script_path": str(ETL_DIR / "validate_job.py"),
        "reads": [("raw", f"{dataset}/")],
        "writes": [("curated", f"{dataset}/"), ("curated", f"quarantine/{dataset}/"),
                   ("curated", f"_runs/{dataset}/"), ("curated", f"_staging/{dataset}/")],
        "arguments": {
            "--source": _s3(buckets["raw"], f"{dataset}/"),
            "--target": _s3(buckets["curated"], f"{dataset}/"),
            "--quarantine": _s3(buckets["curated"], f"quarantine/{dataset}/"),
            "--manifests": _s3(buckets["curated"], f"_runs/{dataset}/"),
            "--dataset": dataset,
            "--database": database,
            "--engine": engine,
        },
        "schedule": config.etl.schedule,
    })
    features = EtlJob("features", {
        **common,
        "job_name": f"{prefix}-features",
        "script_path": str(ETL_DIR / "features_job.py"),
        # The curated run manifests say which partitions are committed and which files they hold.
        "reads": [("curated", f"{dataset}/"), ("curated", f"_runs/{dataset}/")],
        "writes": [("features", f"{dataset}/"), ("features", f"_runs/{dataset}/"),
                   ("features", f"_staging/{dataset}/")],
        "arguments": {
            "--source": _s3(buckets["curated"], f"{dataset}/"),
            "--target": _s3(buckets["features"], f"{dataset}/"),
            "--manifests": _s3(buckets["features"], f"_runs/{dataset}/"),
            "--dataset": dataset,
            "--database": database,
            "--engine": engine,
        },
        "start_after": validate.job_name,
    })

    ml = _build_ml(config, account, lake, [validate.job_name, features.job_name], features.job_name)
    outputs = {
        "lakeKeyArn": lake.key_arn,
        "lakeBuckets": lake.bucket_names,
        "catalogDatabase": lake.database_name,
        "etlJobs": {"validate": validate.job_name, "features": features.job_name},
        "etlRoles": {"validate": validate.role_arn, "features": features.role_arn},
        **ml,
    }
    for key, value in outputs.items():
        pulumi.export(key, value)
    return outputs


def _build_ml(config: StackConfig, account: str, lake: DataLake, glue_jobs: list[pulumi.Output[str]],
              features_job: pulumi.Output[str]) -> dict[str, pulumi.Output]:
    """Training, registry, serving, observability, the lifecycle bus and the deployer, wired by explicit names.

    Explicit names (not Outputs) tie alarms to the endpoint they watch, so the observability pieces
    exist before the endpoint that rolls back on them, with no dependency cycle.
    """
    prefix = f"prodline-{config.environment}"
    account_id = pulumi.Output.from_input(account)
    dataset = schema.DATASET
    group_name = f"{prefix}-{dataset}"
    pipeline_name = f"{prefix}-{dataset}-training"
    endpoint_name = f"{prefix}-{dataset}"
    image_uri = sklearn_image_uri(config.region)
    package_arn = resolve_model_package(config.serving.model_package, group_name, config.region, config.stack)
    serving = config.serving

    watched = [watched_endpoint(config, endpoint_name)] if package_arn is not None else []
    observability = Observability("observability", {
        "prefix": prefix,
        "account_id": account_id,
        "region": config.region,
        "alert_email": config.alarms.alert_email,
        "log_retention_days": config.lake.log_retention_days,
        "log_kms_key_arn": lake.key_arn,
        "endpoints": watched,
        "latency_p99_ms": config.alarms.latency_p99_ms,
        "errors_5xx": config.alarms.errors_5xx,
        "rate_4xx_percent": config.alarms.rate_4xx_percent,
        "drift_threshold": config.alarms.drift_threshold,
        "invocations_floor": config.alarms.invocations_floor,
        "glue_job_names": glue_jobs,
        "apis": watched_apis(config, serving=package_arn is not None),
    })
    CostBudget("cost", {
        "budget_name": f"{prefix}-monthly",
        "limit_usd": config.cost.budget_usd,
        "ownership_tags": config.ownership.tags(),
        "topic_arn": observability.topic_arn,
        "region": config.region,
        "usage": config.cost.usage(),
    })
    ingestion = streaming_ingestion(config, account_id, lake, observability.topic_arn)
    registry = ModelRegistry("registry", {
        "group_name": group_name,
        "description": f"{dataset} models for {config.environment}",
        "notify_topic_arn": observability.topic_arn,
    })
    alarms = observability.endpoint_alarms.get(endpoint_name)
    monitoring = _model_monitoring(config, account_id, lake, endpoint_name, package_arn=package_arn,
                                   pipeline_name=pipeline_name, topic_arn=observability.topic_arn) \
        if alarms and package_arn else None
    retrain_on = [alarms.drift_arn, monitoring.quality_alarm_arn] if monitoring else \
        [alarms.drift_arn] if alarms else []
    tracking = tracking_server(config, account_id, lake) if config.tracking.enabled else None
    pipeline = TrainingPipeline("training", {
        "pipeline_name": pipeline_name,
        "lake": lake.refs,
        "account_id": account_id,
        "region": config.region,
        "image_uri": image_uri,
        "code_files": training_bundle(),
        "model_package_group": registry.group_name,
        "model_package_group_arn": registry.group_arn,
        "training_instance_type": config.training.instance_type,
        "quality_threshold": config.training.quality_threshold,
        "approval_status": config.training.approval_status,
        "inference_instance_types": list(envs.SERVING_INSTANCE_TYPES[config.environment]),
        "schedule": config.training.schedule,
        "alert_topic_arn": observability.topic_arn,
        "start_on_alarm_arns": retrain_on,
        **({"tracking": {"server_arn": tracking.arn, "artifact_prefix": tracking.artifact_prefix,
                         "experiment": pipeline_name}} if tracking else {}),
    })

    outputs: dict[str, pulumi.Output] = {
        "alertTopicArn": observability.topic_arn,
        "ingestStream": ingestion.stream_name,
        "ingestDelivery": ingestion.delivery_name,
        "modelPackageGroup": registry.group_name,
        "trainingPipeline": pipeline.pipeline_name,
        **({"trackingServer": tracking.arn} if tracking else {}),
    }
    if package_arn and serving.platform == "kubernetes":
        outputs.update(_kubernetes_serving(config, account_id, lake, pipeline_name, package_arn,
                                           endpoint_name=endpoint_name))
    elif package_arn and alarms:
        model_source: dict[str, pulumi.Input[str]] = {"model_package_arn": package_arn, "image_uri": image_uri}
        if serving.image_source == "project":
            # The project's image instead of the framework container: the package's model data, our server.
            repo = _image_repository(config, lake)
            model_source = {"image_uri": pulumi.Output.concat(repo.repository_url, ":", config.kubernetes.image_tag),
                            "image_repository_arn": repo.arn,
                            "model_data_url": _model_url(package_arn, config, lake, pipeline_name)}
            outputs["servingImageRepository"] = repo.repository_url
        endpoint = ServingEndpoint("serving", {
            "endpoint_name": endpoint_name,
            "lake": lake.refs,
            "account_id": account_id,
            "region": config.region,
            **model_source,
            "model_artifact_prefixes": [f"pipelines/{pipeline_name}/", f"{CODE_PREFIX}/"],
            "model_version": package_version(package_arn),
            "instance_type": serving.instance_type,
            "min_capacity": serving.min_capacity,
            "max_capacity": serving.max_capacity,
            "serverless": serving.serverless,
            "data_capture_percent": serving.data_capture_percent,
            "canary_percent": serving.canary_percent,
            "canary_bake_seconds": serving.canary_bake_seconds,
            "rollback_alarm_names": alarms.rollback_names,
            "target_invocations": serving.target_invocations,
            "scale_in_cooldown_seconds": serving.scale_in_cooldown_seconds,
        })
        outputs["endpointName"] = endpoint.endpoint_name
        if monitoring:
            outputs["monitoringJobs"] = {"drift": monitoring.drift_job_name, "quality": monitoring.quality_job_name}
            outputs["qualityAlarm"] = monitoring.quality_alarm_name
    else:
        pulumi.log.info(f"no approved model in {group_name} yet: no endpoint declared "
                        "(approve a model version, then run pulumi up)")
    if package_arn and config.front_door.enabled:
        door = build_front_door(config, account_id, lake.key_arn, endpoint_name)
        outputs["frontDoorApi"], outputs["frontDoorUrl"] = door.api_id, door.invoke_url
    if package_arn and config.batch.enabled:
        scoring = _batch_scoring(config, account_id, lake, image_uri=image_uri, package_arn=package_arn,
                                 group_name=group_name, features_job=features_job,
                                 topic_arn=observability.topic_arn)
        outputs["batchScoringPipeline"] = scoring.pipeline_name

    bus = EventBus("events", {
        "bus_name": prefix,
        "account_id": account_id,
        "kms_key_arn": observability.alerts_key_arn,
        "forwarded": lifecycle_patterns(lake.bucket_names["raw"], dataset, registry.group_name, endpoint_name,
                                        retrain_on),
    })
    outputs["eventBus"] = bus.bus_name
    outputs.update(build_deployer(config, account, lake, observability, registry))
    return outputs


def watched_endpoint(config: StackConfig, endpoint_name: str) -> WatchedEndpoint:
    """What the alarms watch: the SageMaker endpoint's variant, or the Kubernetes Deployments (stable and canary),
    under the same logical endpoint name, so the drift alarm and the retraining it starts are the same objects."""
    if config.serving.platform == "kubernetes":
        k8s = config.kubernetes
        return WatchedEndpoint(endpoint_name, schema.DATASET, schema.DATASET, platform="kubernetes",
                               k8s_namespace=k8s.namespace,
                               canary_name=f"{schema.DATASET}-canary" if k8s.canary_image_tag else "")
    return WatchedEndpoint(endpoint_name, DEFAULT_VARIANT, schema.DATASET)


def package_version(package_arn: str) -> str:
    """``arn:...:model-package/prodline-dev-churn/3`` -> ``3``: the version the container reports, the quality
    alarm's dimension."""
    return package_arn.rsplit("/", 1)[-1]


def _model_monitoring(config: StackConfig, account_id: pulumi.Output[str], lake: DataLake, endpoint_name: str, *,
                      package_arn: str, pipeline_name: str, topic_arn: pulumi.Output[str]) -> ModelMonitoring:
    """The scheduled drift and quality jobs of the served endpoint, and its quality alarm."""
    monitoring = config.monitoring
    return ModelMonitoring("monitoring", {
        "prefix": f"prodline-{config.environment}",
        "endpoint_name": endpoint_name,
        "model_version": package_version(package_arn),
        "lake": lake.refs,
        "account_id": account_id,
        "region": config.region,
        "capture_prefix": CAPTURE_PREFIX,
        "labels_prefix": LABELS_PREFIX,
        "reports_prefix": "monitoring/",
        "quarantine_prefix": f"quarantine/{LABELS_PREFIX}",
        "model_artifact_prefixes": [f"pipelines/{pipeline_name}/"],
        "library_files": _monitoring_library(),
        "drift_schedule": monitoring.drift_schedule,
        "drift_job": config.serving.platform != "kubernetes",  # there the drift CronJob runs the monitor
        "quality_schedule": monitoring.quality_schedule,
        "quality_metric": monitoring.quality_metric,
        "quality_floor": monitoring.quality_floor,
        "quality_min_coverage": monitoring.quality_min_coverage,
        "quality_min_labels": monitoring.quality_min_labels,
        "alert_topic_arn": topic_arn,
        "log_retention_days": config.lake.log_retention_days,
        "python_modules": GLUE_PYTHON_SHELL_MODULES,
    })


def tracking_server(config: StackConfig, account_id: pulumi.Output[str], lake: DataLake) -> TrackingServer:
    """The MLflow tracking server the training pipeline logs its runs to; artifacts in the lake's artifacts zone."""
    return TrackingServer("tracking", {
        "server_name": f"prodline-{config.environment}-tracking",
        "lake": lake.refs,
        "account_id": account_id,
        "region": config.region,
        "size": config.tracking.server_size,
        "maintenance_window": "SUN:03:00",
    })


def streaming_ingestion(config: StackConfig, account_id: pulumi.Output[str], lake: DataLake,
                        topic_arn: pulumi.Output[str]) -> StreamingIngestion:
    """Events on a Kinesis stream, delivered by Firehose into the raw zone beside the uploaded batches."""
    prefix = f"prodline-{config.environment}"
    stream = config.stream
    return StreamingIngestion("ingest", {
        "stream_name": f"{prefix}-{schema.DATASET}-events",
        "delivery_name": f"{prefix}-{schema.DATASET}-delivery",
        "dataset": schema.DATASET,
        "lake": lake.refs,
        "account_id": account_id,
        "region": config.region,
        "stream_mode": stream.mode,
        "shard_count": stream.shard_count,
        "retention_hours": stream.retention_hours,
        "buffer_size_mib": stream.buffer_size_mib,
        "buffer_interval_seconds": stream.buffer_interval_seconds,
        "freshness_seconds": stream.freshness_seconds,
        "log_retention_days": config.lake.log_retention_days,
        "alert_topic_arn": topic_arn,
    })


def _batch_scoring(config: StackConfig, account_id: pulumi.Output[str], lake: DataLake, *, image_uri: str,
                   package_arn: str, group_name: str, features_job: pulumi.Output[str],
                   topic_arn: pulumi.Output[str]) -> BatchScoring:
    """Score features partitions with the version the stack serves, on a schedule and on each new partition."""
    batch = config.batch
    dataset = schema.DATASET
    return BatchScoring("batch", {
        "pipeline_name": f"prodline-{config.environment}-{dataset}-batch",
        "lake": lake.refs,
        "account_id": account_id,
        "region": config.region,
        "dataset": dataset,
        "database": f"prodline_{config.environment}",
        "table": f"predictions_{dataset}",
        "image_uri": image_uri,
        "model_package_arn": package_arn,
        "model_package_group": group_name,
        "code_files": batch_bundle(),
        "schedule": batch.schedule,
        "features_job_name": features_job,
        "instance_type": batch.instance_type,
        "instance_count": batch.instance_count,
        "max_payload_mb": batch.max_payload_mb,
        "max_concurrent_transforms": batch.max_concurrent_transforms,
        **({"alert_topic_arn": topic_arn} if batch.alert_on_failure else {}),
    })


def _image_repository(config: StackConfig, lake: DataLake) -> ImageRepository:
    """The stack's ECR repository for the project's serving image (docs/container-image.md builds it)."""
    return ImageRepository("serving-image", {"repository_name": f"prodline-{config.environment}/serving",
                                             "kms_key_arn": lake.key_arn,
                                             "force_delete": config.environment == "dev"})


def _model_url(package_arn: str, config: StackConfig, lake: DataLake, pipeline_name: str) -> pulumi.Input[str]:
    """model.tar.gz of the served version (offline: a stand-in under the pipeline's artifacts prefix)."""
    return model_data_url(package_arn, config.region) or pulumi.Output.concat(
        "s3://", lake.bucket_names["artifacts"],
        f"/pipelines/{pipeline_name}/models/offline-stand-in/output/model.tar.gz")


def _kubernetes_serving(config: StackConfig, account_id: pulumi.Output[str], lake: DataLake, pipeline_name: str,
                        package_arn: str, *, endpoint_name: str) -> dict[str, pulumi.Output]:
    """The same model and HTTP contract on a cluster: the serving image from ECR, the model from the lake; the
    server reports SageMaker's metrics and captures its traffic, and a CronJob runs the drift monitor on it."""
    # Both import pulumi_kubernetes: only stacks serving on EKS load it.
    from components.k8s_drift_monitor import KubernetesDriftMonitor
    from components.k8s_serving import KubernetesServing

    k8s = config.kubernetes
    env = config.environment
    repo = _image_repository(config, lake)
    cluster = (existing_eks_cluster(k8s.eks_cluster_name, config.region, account_id) if k8s.eks_cluster_name else
               ClusterAccess(pulumi.Output.secret(k8s.kubeconfig), k8s.oidc_issuer_url,
                             oidc_provider_arn(account_id, k8s.oidc_issuer_url)))
    model_url = _model_url(package_arn, config, lake, pipeline_name)

    def image(tag: str) -> pulumi.Output[str]:
        return pulumi.Output.concat(repo.repository_url, ":", tag)

    args = {
        "namespace": k8s.namespace, "image": image(k8s.image_tag), "model_data_url": model_url,
        **({"image_digest": k8s.image_digest} if k8s.image_digest else {}),
        "lake": lake.refs, "region": config.region,
        "kubeconfig": cluster.kubeconfig, "oidc_issuer_url": cluster.oidc_issuer_url,
        "oidc_provider_arn": cluster.oidc_provider_arn, "ingress_namespace": k8s.ingress_namespace,
        "ownership_labels": config.ownership.tags(), "min_replicas": k8s.min_replicas,
        "max_replicas": k8s.max_replicas, "cpu_target_percent": k8s.cpu_target_percent,
        "spread_across_zones": envs.K8S_SPREAD_ACROSS_ZONES[env], **envs.K8S_RESOURCES[env],
        "metrics_namespace": SERVING_NAMESPACE, "model_version": package_version(package_arn),
    }
    if config.serving.data_capture_percent > 0:
        args["capture"] = {"bucket": lake.bucket_names["raw"], "prefix": CAPTURE_PREFIX, "endpoint_name": endpoint_name,
                           "percent": config.serving.data_capture_percent}
    if k8s.requests_per_second_target:
        args["requests_per_second_target"] = k8s.requests_per_second_target
    if envs.K8S_DISRUPTION_BUDGET[env]:
        args["disruption_budget"] = envs.K8S_DISRUPTION_BUDGET[env]
    host = ingress_host(config)
    if host:
        args["ingress_host"] = host
    if k8s.canary_image_tag:
        args["canary"] = {"image": image(k8s.canary_image_tag), "weight": config.serving.canary_percent,
                          **({"image_digest": k8s.canary_image_digest} if k8s.canary_image_digest else {})}
    serving = KubernetesServing(schema.DATASET, args)
    outputs = {"servingImageRepository": repo.repository_url, "k8sService": serving.service_name}
    if "capture" in args:
        monitor = KubernetesDriftMonitor(f"{schema.DATASET}-drift", {
            "namespace": k8s.namespace, "provider": serving.provider, "image": image(k8s.image_tag),
            **({"image_digest": k8s.image_digest} if k8s.image_digest else {}),
            "lake": lake.refs, "region": config.region, "oidc_provider_arn": cluster.oidc_provider_arn,
            "oidc_issuer_url": cluster.oidc_issuer_url, "endpoint_name": endpoint_name, "feature_set": schema.DATASET,
            "capture_prefix": CAPTURE_PREFIX, "report_prefix": DRIFT_REPORT_PREFIX, "model_data_url": model_url,
            "schedule": k8s.drift_schedule, "ownership_labels": config.ownership.tags(),
        }, pulumi.ResourceOptions(depends_on=[serving]))
        outputs["k8sDriftMonitorRole"] = monitor.role_arn
    return outputs


def lifecycle_patterns(raw_bucket: pulumi.Input[str], dataset: str, group_name: pulumi.Input[str],
                       endpoint_name: str, drift_alarm_arns: list) -> dict[str, dict]:
    """Default-bus events that mark the ML lifecycle, forwarded to the platform bus (schema in README)."""
    patterns = {
        "data-landed": {"source": ["aws.s3"], "detail-type": ["Object Created"],
                        "detail": {"bucket": {"name": [raw_bucket]}, "object": {"key": [{"prefix": f"{dataset}/"}]}}},
        "model-registered": {"source": ["aws.sagemaker"], "detail-type": ["SageMaker Model Package State Change"],
                             "detail": {"ModelPackageGroupName": [group_name]}},
        "model-deployed": {"source": ["aws.sagemaker"], "detail-type": ["SageMaker Endpoint State Change"],
                           "detail": {"EndpointName": [endpoint_name], "EndpointStatus": ["IN_SERVICE"]}},
    }
    if drift_alarm_arns:
        patterns["drift-detected"] = {"source": ["aws.cloudwatch"], "detail-type": ["CloudWatch Alarm State Change"],
                                      "resources": drift_alarm_arns, "detail": {"state": {"value": ["ALARM"]}}}
    return patterns


# Top-level modules of the workloads package that every shipped bundle needs beside its subpackages.
SHARED_WORKLOAD_MODULES = ("__init__.py", "s3_uri.py", "archives.py")


def batch_bundle() -> dict[str, bytes]:
    """The batch scoring steps' bundle: the batch workloads and the ETL library they read the lake with."""
    return _workload_files(("etl", "batch"))


def _workload_files(packages: tuple[str, ...]) -> dict[str, bytes]:
    workloads = ROOT / "workloads"
    files = {f"workloads/{name}": (workloads / name).read_bytes() for name in SHARED_WORKLOAD_MODULES}
    for package in packages:
        for path in sorted((workloads / package).glob("*.py")):
            files[str(path.relative_to(ROOT))] = path.read_bytes()
    return files


def training_bundle() -> dict[str, bytes]:
    """The script-mode bundle: the workloads package plus train.py / inference.py at the top."""
    workloads = ROOT / "workloads"
    files = _workload_files(("etl", "training", "serving", "monitoring"))  # serving/capture.py: monitoring/capture.py
    for entry in ("train.py", "inference.py"):
        files[entry] = (workloads / "script_mode" / entry).read_bytes()
    return files


def _columns(columns) -> list[TableColumn]:
    return [TableColumn(c.name, c.glue_type, c.description) for c in columns]


def _s3(bucket: pulumi.Input[str], prefix: str) -> pulumi.Output[str]:
    return pulumi.Output.concat("s3://", bucket, "/", prefix)


def _monitoring_library() -> dict[str, str]:
    """What the monitoring job scripts import: the monitoring code and the serving, training and ETL modules it
    reads captures, baselines and the lake with."""
    workloads = ROOT / "workloads"
    files = [*(workloads / name for name in SHARED_WORKLOAD_MODULES)]
    for package in ("etl", "monitoring", "serving", "training"):
        files += sorted((workloads / package).glob("*.py"))
    return {str(path.relative_to(ROOT)): str(path) for path in files}


def _etl_library() -> dict[str, str]:
    """The files a Glue job needs to ``import workloads.etl``: archive path -> local path."""
    files = [*(ROOT / "workloads" / name for name in SHARED_WORKLOAD_MODULES), *sorted(ETL_DIR.glob("*.py"))]
    return {str(path.relative_to(ROOT)): str(path) for path in files}
