"""Experiment tracking rules: SageMaker's managed MLflow keeps run artifacts (models, data manifests, reports) in
an S3 store of the stack's own, so what protects the store protects the runs.

The tracking server resource has no encryption or network setting of its own: SageMaker runs it in its own VPC,
every API call is signed and authorized by IAM (``sagemaker-mlflow:*`` on the server's ARN), and the artifacts
are read and written by clients straight in the artifact store. So the rules judge what can be wrong: the
store's bucket (a customer KMS key by default, every public-access flag on), who may assume the server's role
(only SageMaker), and how far that role reaches (its store's prefix, never the bucket or every bucket).
"""

from __future__ import annotations

from collections.abc import Iterator

from pulumi_policy import PolicyResource, ReportViolation, StackValidationArgs

from policies.rule import StackRule, message
from policies.rules import iam, links, s3
from policies.rules.props import allow_statements, get, is_true, items, missing, principals, strings

SERVER = "aws:sagemaker/mlflowTrackingServer:MlflowTrackingServer"
SAGEMAKER_SERVICE = "sagemaker.amazonaws.com"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
FIX_STORE = "point artifact_store_uri at a prefix of the lake's artifacts zone (TrackingServer does)"


def _store(server: PolicyResource) -> tuple[str, str] | None:
    """(bucket, prefix) of the server's artifact store, when known."""
    uri = get(server.props, "artifactStoreUri")
    if not isinstance(uri, str) or not uri.startswith("s3://"):
        return None
    bucket, _, prefix = uri[len("s3://"):].partition("/")
    return bucket, prefix


def _bucket(stack: StackValidationArgs, name: str) -> PolicyResource | None:
    return next((b for b in links.of_type(stack.resources, s3.BUCKET) if name in links.identities(b)), None)


def _servers(stack: StackValidationArgs) -> Iterator[tuple[PolicyResource, str, str, PolicyResource | None]]:
    """Each tracking server whose store is known: (server, bucket name, prefix, the bucket if the stack has it)."""
    for server in links.of_type(stack.resources, SERVER):
        store = _store(server)
        if store is not None:
            yield server, store[0], store[1], _bucket(stack, store[0])


def _validate_encrypted(args: StackValidationArgs, report: ReportViolation) -> None:
    for server, name, _, bucket in _servers(args):
        if bucket is None:
            report(message(server.name, f"keeps its artifacts in bucket {name}, which this stack does not declare",
                           "models, data manifests and evaluation reports land there, and nothing here says that "
                           "bucket is encrypted with a key this stack controls", FIX_STORE), server.urn)
            continue
        defaults = s3.encryption_defaults(args, bucket)
        keyed = [d for d in defaults if get(d, "sseAlgorithm") in s3.KMS_ALGORITHMS
                 and not missing(get(d, "kmsMasterKeyId"))]
        if not keyed:
            report(message(server.name, f"keeps its artifacts in bucket {bucket.name}, which is not encrypted by "
                                        "default with a customer-managed KMS key",
                           "MLflow clients write artifacts straight to the store, with no encryption header of "
                           "their own: the bucket's default is the only encryption the models and data get",
                           f"{FIX_STORE}, or give the bucket sse_algorithm='aws:kms' with the lake key"), server.urn)


sagemaker_mlflow_artifacts_encrypted = StackRule(
    "sagemaker-mlflow-artifacts-encrypted",
    "Requires every MLflow tracking server's artifact store to be a bucket of the stack encrypted by default with "
    "a customer-managed KMS key.",
    _validate_encrypted,
)


def _role(stack: StackValidationArgs, server: PolicyResource) -> PolicyResource | None:
    arn = get(server.props, "roleArn")
    for role in links.of_type(stack.resources, iam.ROLE):
        if links.refers_to(server, "roleArn", role) or (
                isinstance(arn, str) and isinstance(get(role.props, "name"), str)
                and arn.endswith(f":role/{get(role.props, 'name')}")):
            return role
    return None


def _validate_private(args: StackValidationArgs, report: ReportViolation) -> None:
    for server, _, _, bucket in _servers(args):
        if bucket is not None:
            blocks = s3.companions(args, s3.PUBLIC_ACCESS_BLOCK, bucket)
            if not any(all(is_true(get(b.props, flag)) for flag in s3.PUBLIC_ACCESS_FLAGS) for b in blocks):
                report(message(server.name, f"keeps its artifacts in bucket {bucket.name}, which has no public "
                                            "access block with all four flags on",
                               "the tracking server is reachable only through IAM, but its artifacts are plain S3 "
                               "objects: one public ACL or policy on the store would publish every model and data "
                               "manifest", "declare aws.s3.BucketPublicAccessBlock with all four flags True for "
                                           f"the store's bucket ({s3.SECURE_BUCKET})"), server.urn)
        role = _role(args, server)
        if role is None:
            continue
        others = sorted({p for statement in allow_statements(get(role.props, "assumeRolePolicy"))
                         for p in principals(statement) if p != SAGEMAKER_SERVICE})
        if others:
            report(message(server.name, f"runs as role {role.name}, which {', '.join(others)} may also assume",
                           "whoever assumes the server's role reads and writes every run's artifacts, outside the "
                           "sagemaker-mlflow permissions that guard the server",
                           f"let only {SAGEMAKER_SERVICE} assume it, with aws:SourceAccount "
                           "(policy_documents.sagemaker_trust)"), server.urn)


sagemaker_mlflow_tracking_server_private = StackRule(
    "sagemaker-mlflow-tracking-server-private",
    "Requires every MLflow tracking server's artifact store to block public access and its role to be assumable "
    "by SageMaker only.",
    _validate_private,
)


def _s3_reach(statement, bucket_arn: str, prefix: str) -> str | None:
    """How an S3 statement reaches beyond ``bucket/prefix``, or None when it stays inside."""
    actions = [a for a in strings(get(statement, "Action")) if a.lower().startswith("s3:") or a == "*"]
    if not actions:
        return None
    for resource in strings(get(statement, "Resource")):
        if resource == "*" or resource.startswith("arn:aws:s3:::*"):
            return f"reaches every bucket ({resource})"
        if resource == bucket_arn:
            listed = strings(get(statement, "Condition"))
            if not listed or not all(p.startswith(prefix) for p in listed if not p.startswith("arn:")):
                return f"reaches the whole bucket ({resource}) without an s3:prefix condition inside {prefix}"
        elif resource.startswith(bucket_arn + "/") and not resource.startswith(f"{bucket_arn}/{prefix}"):
            return f"reaches {resource}, outside the store's prefix {prefix}"
    if get(statement, "NotResource") is not None:
        return "reaches every resource but those NotResource lists"
    return None


def _validate_scoped(args: StackValidationArgs, report: ReportViolation) -> None:
    for server, name, prefix, _ in _servers(args):
        role = _role(args, server)
        if role is None or not prefix:
            if not prefix:
                report(message(server.name, f"keeps its artifacts at the root of bucket {name}",
                               "its role then needs the whole bucket, and every other object in it is the "
                               "server's to read and overwrite", FIX_STORE), server.urn)
            continue
        bucket_arn = f"arn:aws:s3:::{name}"
        documents = [get(p.props, "policy") for p in links.referring(args.resources, [ROLE_POLICY], "role", role)]
        documents += [get(inline, "policy") for inline in items(get(role.props, "inlinePolicies"))]
        for document in documents:
            for statement in allow_statements(document):
                reach = _s3_reach(statement, bucket_arn, prefix)
                if reach:
                    report(message(server.name, f"runs as role {role.name}, whose statement "
                                                f"{get(statement, 'Sid') or '(no Sid)'} {reach}",
                                   "the server needs its store's prefix only; a wider grant lets it (and whoever "
                                   "abuses it) read or overwrite the lake's other artifacts",
                                   "grant s3:GetObject/PutObject on <bucket>/<prefix>* and s3:ListBucket with an "
                                   "s3:prefix condition (tracking_server.server_statements)"), server.urn)
        attached = [r for r in links.of_type(args.resources, *iam.MANAGED_POLICY_ARNS)
                    if r.resource_type != iam.ROLE and links.refers_to(r, "role", role)]
        arns = strings(get(role.props, "managedPolicyArns")) + [a for r in attached
                                                                for a in strings(get(r.props, "policyArn"))]
        if arns:
            report(message(server.name, f"runs as role {role.name}, which carries managed policies "
                                        f"{', '.join(sorted(arns))}",
                           "a managed policy (AWS's docs suggest AmazonS3FullAccess) reaches far past the store",
                           "grant the store's prefix in an inline policy instead"), server.urn)


sagemaker_mlflow_role_scoped = StackRule(
    "sagemaker-mlflow-role-scoped-to-store",
    "Requires every MLflow tracking server's role to reach only its artifact store's prefix in S3 (no bucket-wide "
    "or every-bucket grant, no managed policy).",
    _validate_scoped,
)

RULES = (sagemaker_mlflow_artifacts_encrypted, sagemaker_mlflow_tracking_server_private, sagemaker_mlflow_role_scoped)
