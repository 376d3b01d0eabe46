"""A Glue ETL job: its script shipped from ``workloads/``, a least-privilege role, a schedule and its logs.

The script and its library are uploaded under a content hash, so editing a workload file changes the
job's ``ScriptLocation`` and shows up in ``pulumi preview`` as a change to the job, not as silent drift.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import NotRequired, TypedDict

import pulumi
import pulumi_aws as aws

from components import policy_documents as docs
from components.data_lake import LakeRefs

JOB_TYPES = ("pythonshell", "glueetl")
WORKER_TYPES = ("G.025X", "G.1X", "G.2X", "G.4X", "G.8X")
SPARK_GLUE_VERSION = "5.0"
PYTHON_SHELL_GLUE_VERSION = "3.0"
PYTHON_SHELL_VERSION = "3.9"
# Python shell capacity in DPUs: 1 DPU (16 GB) fits the pandas path on a day's partition.
PYTHON_SHELL_DPU = 1.0
PYTHON_SHELL_DPUS = (0.0625, 1.0)


class EtlJobArgs(TypedDict):
    job_name: str
    script_path: str
    """Local path of the Glue entry script under workloads/."""
    job_type: str
    """pythonshell (pandas on one machine) or glueetl (Spark)."""
    lake: LakeRefs
    account_id: pulumi.Input[str]
    """The account Glue may assume the job's role for (the trust policy's aws:SourceAccount)."""
    reads: Sequence[tuple[str, str]]
    """(zone, prefix) pairs the job may read."""
    writes: Sequence[tuple[str, str]]
    """(zone, prefix) pairs the job may write and delete in (stage-then-commit needs delete)."""
    arguments: Mapping[str, pulumi.Input[str]]
    """Job arguments, Glue style (``--source`` ...): defaults a run may override."""
    log_retention_days: int
    timeout_minutes: int
    max_retries: int
    library_files: NotRequired[Mapping[str, str]]
    """Archive path -> local file, shipped as ``--extra-py-files`` so the script can import shared code."""
    schedule: NotRequired[str]
    """cron()/rate() expression: starts the job on a schedule."""
    start_after: NotRequired[pulumi.Input[str]]
    """Name of a job whose success starts this one."""
    worker_type: NotRequired[str]
    number_of_workers: NotRequired[int]
    catalog_arns: NotRequired[Sequence[pulumi.Input[str]]]
    """Glue catalog, database and table ARNs the job may read and add partitions to."""
    python_modules: NotRequired[Sequence[str]]
    """Pinned pip requirements a Python shell job installs (``--additional-python-modules``)."""
    python_shell_dpu: NotRequired[float]
    """Python shell capacity: 0.0625 (1/16 DPU) or 1.0, the default."""
    metric_namespaces: NotRequired[Sequence[str]]
    """CloudWatch namespaces the job publishes to besides Glue's own (PutMetricData is conditioned on them)."""
    extra_statements: NotRequired[Sequence[dict]]
    """Further IAM statements the job's work needs (e.g. reading an endpoint's description), each scoped."""


def etl_settings(args: EtlJobArgs) -> EtlJobArgs:
    """Validate args; raise ValueError naming the field and what is allowed."""
    if args["job_type"] not in JOB_TYPES:
        raise ValueError(f"job_type must be one of {', '.join(JOB_TYPES)}, got {args['job_type']!r}")
    if args["job_type"] == "glueetl":
        if args.get("worker_type", "G.1X") not in WORKER_TYPES:
            raise ValueError(f"worker_type must be one of {', '.join(WORKER_TYPES)}, got {args.get('worker_type')!r}")
        if args.get("number_of_workers", 2) < 2:
            raise ValueError(f"number_of_workers must be >= 2 for glueetl, got {args.get('number_of_workers')}")
    if args.get("schedule") and args.get("start_after") is not None:
        raise ValueError("give either schedule or start_after, not both")
    if not 0 <= args["max_retries"] <= 3:
        raise ValueError(f"max_retries must be from 0 to 3, got {args['max_retries']}")
    if not 1 <= args["timeout_minutes"] <= 2880:
        raise ValueError(f"timeout_minutes must be from 1 to 2880, got {args['timeout_minutes']}")
    for zone, _ in [*args["reads"], *args["writes"]]:
        if zone not in args["lake"].bucket_arns:
            raise ValueError(f"zone must be one of {', '.join(args['lake'].bucket_arns)}, got {zone!r}")
    if args.get("python_shell_dpu", PYTHON_SHELL_DPU) not in PYTHON_SHELL_DPUS:
        raise ValueError(f"python_shell_dpu must be one of {', '.join(map(str, PYTHON_SHELL_DPUS))}, "
                         f"got {args.get('python_shell_dpu')!r}")
    for requirement in args.get("python_modules", ()):
        if "==" not in requirement:
            raise ValueError(f"python_modules: pin {requirement!r} to one version (name==version)")
    if not Path(args["script_path"]).is_file():
        raise ValueError(f"script_path {args['script_path']!r} is not a file")
    return args


def content_hash(files: Mapping[str, str]) -> str:
    """Short hash of files' archive names and contents: the code's version, the same on every machine."""
    digest = hashlib.sha256()
    for name, path in sorted(files.items()):
        digest.update(name.encode() + b"\0")
        digest.update(Path(path).read_bytes())
    return digest.hexdigest()[:12]


class EtlJob(pulumi.ComponentResource):
    """A Glue job (Python shell or Spark) with its code, role, security configuration, trigger and log group."""

    job_name: pulumi.Output[str]
    role_arn: pulumi.Output[str]

    def __init__(self, name: str, args: EtlJobArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("prodline:data:EtlJob", name, None, opts)
        args = etl_settings(args)
        child = pulumi.ResourceOptions(parent=self)
        lake = args["lake"]
        artifacts = lake.bucket_names["artifacts"]
        library = dict(args.get("library_files", {}))
        script_name = Path(args["script_path"]).name
        version = content_hash({script_name: args["script_path"], **library})
        code_prefix = f"code/glue/{args['job_name']}/{version}"

        script_key = f"{code_prefix}/{script_name}"
        script = aws.s3.BucketObject(
            f"{name}-script", bucket=artifacts, key=script_key, source=pulumi.FileAsset(args["script_path"]),
            server_side_encryption="aws:kms", kms_key_id=lake.key_arn, opts=child)
        code_objects: list[pulumi.Resource] = [script]
        arguments: dict[str, pulumi.Input[str]] = {}
        if library:
            # Glue adds --extra-py-files to the import path; a zip of packages imports on both job types.
            library_key = f"{code_prefix}/prodline_workloads.zip"
            code_objects.append(aws.s3.BucketObject(
                f"{name}-library", bucket=artifacts, key=library_key,
                source=pulumi.AssetArchive({arc: pulumi.FileAsset(path) for arc, path in sorted(library.items())}),
                server_side_encryption="aws:kms", kms_key_id=lake.key_arn, opts=child))
            arguments["--extra-py-files"] = pulumi.Output.concat("s3://", artifacts, "/", library_key)

        self.log_group = aws.cloudwatch.LogGroup(
            f"{name}-logs", name=f"/aws-glue/jobs/{args['job_name']}", retention_in_days=args["log_retention_days"],
            kms_key_id=lake.key_arn, opts=child)

        self.role = aws.iam.Role(
            f"{name}-role", assume_role_policy=docs.service_trust("glue.amazonaws.com", args["account_id"]),
            description=f"Glue job {args['job_name']}: least privilege on its lake prefixes", opts=child)
        aws.iam.RolePolicy(
            f"{name}-role-policy", role=self.role.id,
            policy=docs.document(job_statements(args, self.log_group.arn, code_prefix)), opts=child)

        self.security_configuration = aws.glue.SecurityConfiguration(
            f"{name}-security", name=f"{args['job_name']}-security",
            encryption_configuration={
                "cloudwatch_encryption": {"cloudwatch_encryption_mode": "SSE-KMS", "kms_key_arn": lake.key_arn},
                "job_bookmarks_encryption": {"job_bookmarks_encryption_mode": "CSE-KMS", "kms_key_arn": lake.key_arn},
                "s3_encryption": {"s3_encryption_mode": "SSE-KMS", "kms_key_arn": lake.key_arn},
            },
            opts=child)

        default_arguments: dict[str, pulumi.Input[str]] = {
            "--job-language": "python",
            "--job-bookmark-option": "job-bookmark-enable",
            "--enable-continuous-cloudwatch-log": "true",
            "--continuous-log-logGroup": self.log_group.name,
            "--enable-metrics": "true",
            "--TempDir": pulumi.Output.concat("s3://", artifacts, "/tmp/glue/", args["job_name"], "/"),
            **arguments,
            **args["arguments"],
        }
        job_kwargs: dict = {}
        if args["job_type"] == "pythonshell":
            default_arguments["library-set"] = "analytics"  # pandas + pyarrow preinstalled
            if args.get("python_modules"):
                default_arguments["--additional-python-modules"] = ",".join(args["python_modules"])
            command = {"name": "pythonshell", "python_version": PYTHON_SHELL_VERSION,
                       "script_location": pulumi.Output.concat("s3://", artifacts, "/", script_key)}
            job_kwargs.update(glue_version=PYTHON_SHELL_GLUE_VERSION,
                              max_capacity=args.get("python_shell_dpu", PYTHON_SHELL_DPU))
        else:
            command = {"name": "glueetl", "python_version": "3",
                       "script_location": pulumi.Output.concat("s3://", artifacts, "/", script_key)}
            job_kwargs.update(glue_version=SPARK_GLUE_VERSION, worker_type=args.get("worker_type", "G.1X"),
                              number_of_workers=args.get("number_of_workers", 2))

        self.job = aws.glue.Job(
            f"{name}-job",
            name=args["job_name"],
            role_arn=self.role.arn,
            command=command,
            default_arguments=default_arguments,
            timeout=args["timeout_minutes"],
            max_retries=args["max_retries"],
            # One run at a time: the stage-then-commit write assumes no concurrent writer of a partition.
            execution_property={"max_concurrent_runs": 1},
            security_configuration=self.security_configuration.name,
            **job_kwargs,
            opts=pulumi.ResourceOptions(parent=self, depends_on=code_objects),
        )

        if args.get("schedule"):
            self.trigger = aws.glue.Trigger(
                f"{name}-schedule", name=f"{args['job_name']}-schedule", type="SCHEDULED",
                schedule=args["schedule"], actions=[{"job_name": self.job.name}], start_on_creation=True,
                opts=child)
        elif args.get("start_after") is not None:
            self.trigger = aws.glue.Trigger(
                f"{name}-after", name=f"{args['job_name']}-after", type="CONDITIONAL",
                predicate={"logical": "AND",
                           "conditions": [{"job_name": args["start_after"], "state": "SUCCEEDED",
                                           "logical_operator": "EQUALS"}]},
                actions=[{"job_name": self.job.name}], start_on_creation=True, opts=child)

        self.job_name = self.job.name
        self.role_arn = self.role.arn
        self.register_outputs({"job_name": self.job_name, "role_arn": self.role_arn})


def job_statements(args: EtlJobArgs, log_group_arn: pulumi.Input[str], code_prefix: str) -> list[dict]:
    """The job role's statements: its prefixes, its code, the lake key and its own log group; nothing else."""
    lake = args["lake"]
    statements = []
    for zone, prefixes in _by_zone(args["reads"]).items():
        arn = lake.bucket_arns[zone]
        statements.append(docs.allow(f"Read{zone.title()}", ["s3:GetObject"], [docs.objects(arn, p) for p in prefixes]))
        statements.append(docs.list_prefix(f"List{zone.title()}", arn, prefixes))
    for zone, prefixes in _by_zone(args["writes"]).items():
        arn = lake.bucket_arns[zone]
        statements.append(docs.allow(f"Write{zone.title()}", ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
                                     [docs.objects(arn, p) for p in prefixes]))
        statements.append(docs.list_prefix(f"ListWritten{zone.title()}", arn, prefixes))
    artifacts = lake.bucket_arns["artifacts"]
    statements += [
        docs.allow("ReadOwnCode", ["s3:GetObject"], [docs.objects(artifacts, code_prefix + "/")]),
        docs.allow("UseTempDir", ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
                   [docs.objects(artifacts, f"tmp/glue/{args['job_name']}/")]),
        docs.allow("UseLakeKey", list(docs.KMS_USE_ACTIONS), [lake.key_arn]),
        docs.allow("WriteOwnLogs", ["logs:AssociateKmsKey", "logs:CreateLogStream", "logs:PutLogEvents"],
                   [log_group_arn, pulumi.Output.concat(log_group_arn, ":*")]),
        # PutMetricData has no resource-level permissions; the condition pins the namespace instead.
        docs.allow("PublishGlueMetrics", ["cloudwatch:PutMetricData"], ["*"],
                   {"StringEquals": {"cloudwatch:namespace": ["Glue", *args.get("metric_namespaces", ())]
                                     if args.get("metric_namespaces") else "Glue"}}),
        *args.get("extra_statements", ()),
    ]
    if args.get("catalog_arns"):
        statements.append(docs.allow(
            "UseCatalogTables",
            ["glue:BatchCreatePartition", "glue:CreatePartition", "glue:GetDatabase", "glue:GetPartition",
             "glue:GetPartitions", "glue:GetTable", "glue:UpdatePartition"],
            list(args["catalog_arns"])))
    return statements


def _by_zone(grants: Sequence[tuple[str, str]]) -> dict[str, list[str]]:
    zones: dict[str, list[str]] = {}
    for zone, prefix in grants:
        zones.setdefault(zone, []).append(prefix)
    return zones
