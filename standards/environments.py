"""What each environment allows: the one table that says how dev, staging and prod truly differ.

Config validation (``infra/config.py``) enforces it before any resource is declared, so a stack file
cannot ask prod for a single instance or dev for a GPU fleet: each setting names its table here as its
per-environment rule.
"""

from __future__ import annotations

ENVIRONMENTS = ("dev", "staging", "prod")

# Instance types per environment and purpose. Dev is capped to small CPU types (cost); prod may use
# larger CPU types and one GPU type for models that need it.
TRAINING_INSTANCE_TYPES: dict[str, tuple[str, ...]] = {
    "dev": ("ml.m5.large", "ml.m5.xlarge"),
    "staging": ("ml.m5.large", "ml.m5.xlarge", "ml.m5.2xlarge", "ml.c5.2xlarge"),
    "prod": ("ml.m5.xlarge", "ml.m5.2xlarge", "ml.m5.4xlarge", "ml.c5.2xlarge", "ml.c5.4xlarge", "ml.g4dn.xlarge"),
}

SERVING_INSTANCE_TYPES: dict[str, tuple[str, ...]] = {
    "dev": ("ml.t2.medium", "ml.m5.large", "ml.c5.large"),
    "staging": ("ml.m5.large", "ml.m5.xlarge", "ml.c5.large", "ml.c5.xlarge"),
    "prod": ("ml.m5.large", "ml.m5.xlarge", "ml.m5.2xlarge", "ml.c5.large", "ml.c5.xlarge", "ml.c5.2xlarge",
             "ml.g4dn.xlarge"),
}

# High availability: SageMaker spreads instances of a variant across availability zones, so two
# instances is the least that survives the loss of a zone.
MIN_SERVING_CAPACITY: dict[str, int] = {"dev": 1, "staging": 1, "prod": 2}

# Cost cap: the most instances an environment's endpoint may scale out to.
MAX_SERVING_CAPACITY: dict[str, int] = {"dev": 2, "staging": 4, "prod": 20}

# Retention periods CloudWatch Logs accepts (PutRetentionPolicy); any other number is an API error.
LOG_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192,
                      2557, 2922, 3288, 3653)

GLUE_JOB_TYPES = ("pythonshell", "glueetl")
STREAM_MODES = ("ON_DEMAND", "PROVISIONED")
"""Kinesis capacity modes: on demand (scales itself) or a provisioned shard count."""
GLUE_WORKER_TYPES = ("G.025X", "G.1X", "G.2X", "G.4X", "G.8X")
TRACKING_SERVER_SIZES = ("Small", "Medium", "Large")
"""The sizes SageMaker's managed MLflow tracking server comes in (CreateMlflowTrackingServer's TrackingServerSize)."""

MODEL_APPROVAL_STATUSES = ("PendingManualApproval", "Approved")
# Only dev registers new models as Approved (auto-deploy); elsewhere a person approves each one.
APPROVAL_STATUSES_ALLOWED: dict[str, tuple[str, ...]] = {
    "dev": MODEL_APPROVAL_STATUSES, "staging": ("PendingManualApproval",), "prod": ("PendingManualApproval",)}

# Serverless endpoints have no data capture and no instance floor, so only dev may use them.
SERVERLESS_ALLOWED: dict[str, tuple[bool, ...]] = {"dev": (False, True), "staging": (False,), "prod": (False,)}

# Data capture feeds drift monitoring: staging and prod capture at least 1 percent of requests.
MIN_DATA_CAPTURE_PERCENT: dict[str, int] = {"dev": 0, "staging": 1, "prod": 1}

# The traffic-floor alarm: prod pages someone when its endpoint goes silent (0 turns the alarm off).
MIN_INVOCATIONS_FLOOR: dict[str, int] = {"dev": 0, "staging": 0, "prod": 1}

SERVING_PLATFORMS = ("sagemaker", "kubernetes")
# How callers of the front door authenticate; every choice also requires a usage-plan API key.
FRONT_DOOR_AUTH = ("api-key", "iam", "cognito")

# Kubernetes serving per environment: replica floors and caps reuse MIN/MAX_SERVING_CAPACITY; prod spreads
# pods across zones and keeps a disruption budget (max_unavailable, so a drain never blocks on one pod).
K8S_SPREAD_ACROSS_ZONES: dict[str, bool] = {"dev": False, "staging": False, "prod": True}
K8S_DISRUPTION_BUDGET: dict[str, dict[str, int] | None] = {
    "dev": None, "staging": {"max_unavailable": 1}, "prod": {"max_unavailable": 1}}
K8S_RESOURCES: dict[str, dict[str, str]] = {
    "dev": {"cpu_request": "250m", "cpu_limit": "1", "memory_request": "512Mi", "memory_limit": "1Gi"},
    "staging": {"cpu_request": "250m", "cpu_limit": "1", "memory_request": "512Mi", "memory_limit": "1Gi"},
    "prod": {"cpu_request": "500m", "cpu_limit": "2", "memory_request": "1Gi", "memory_limit": "2Gi"},
}
SERVING_IMAGE_SOURCES = ("framework", "project")

# Continuous delivery: where a green deploy of each environment promotes to ("" ends the chain), and whether
# a deploy there needs a person's recorded approval. Prod always does: nothing reaches it on a machine's say-so.
PROMOTION_TARGETS: dict[str, tuple[str, ...]] = {"dev": ("", "staging"), "staging": ("", "prod"), "prod": ("",)}
REQUIRE_APPROVAL_ALLOWED: dict[str, tuple[bool, ...]] = {"dev": (False, True), "staging": (False, True),
                                                         "prod": (True,)}
