"""Where a served model came from: endpoint -> variant -> model package (version, approval) -> MLflow run
(parameters, metrics) -> data manifest (partitions, files, content hash) -> the ETL runs that wrote them.

Everything is read back through public APIs (boto3 and the MLflow client; the sandbox's own tracking server on
loopback through MLflow's REST API, which the client calls too), so the same chain assembles from a real account
and from the sandbox. Each link that cannot be followed says why (a package registered without
tracking has no run; a manifest that was deleted cannot be read) instead of failing the rest of the chain.
"""

from __future__ import annotations

import contextlib
import json
import os
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from typing import Any

from prodline.net import LOOPBACK_OPENER, is_loopback_url
from standards.delivery import approval_parameter, version_parameter
from workloads.s3_uri import split_s3
from workloads.training.tracking import NO_RUN, NO_TELEMETRY, PACKAGE_TAG

Clients = Callable[[str], Any]
"""``clients("sagemaker")`` -> a boto3 client (s3, ssm, sagemaker)."""
RUNS_PREFIX = "_runs"


class MlflowRuns:
    """Runs on the tracking server at ``uri`` (a URL, or a SageMaker tracking server's ARN).

    A server on loopback (the sandbox's) is asked over MLflow's REST API (``/api/2.0/mlflow``), the calls the
    client makes: importing the client costs ~1.4 s of CPU, in the demo's own process on its path. Any other
    URI, and an ARN, goes through ``MlflowClient`` with its plugins (SigV4 for SageMaker) and credentials."""

    def __init__(self, uri: str):
        self.uri = uri
        self._rest = is_loopback_url(uri)

    def _client(self):
        for name, value in NO_TELEMETRY.items():
            os.environ.setdefault(name, value)
        from mlflow.tracking import MlflowClient  # the tracking extra: imported only when a run is followed

        return MlflowClient(tracking_uri=self.uri)

    def _call(self, path: str, query: dict | None = None, body: dict | None = None) -> dict:
        url = f"{self.uri.rstrip('/')}/api/2.0/mlflow/{path}"
        if query:
            url += "?" + urllib.parse.urlencode(query)
        request = urllib.request.Request(url, data=None if body is None else json.dumps(body).encode(),
                                         headers={"Content-Type": "application/json"})
        try:
            with LOOPBACK_OPENER.open(request, timeout=30) as answer:
                return json.load(answer)
        except urllib.error.HTTPError as err:
            detail = err.read().decode(errors="replace")
            with contextlib.suppress(ValueError):
                detail = json.loads(detail).get("message", detail)
            raise RuntimeError(f"{url}: HTTP {err.code}: {detail}") from None

    def read(self, run_id: str) -> dict:
        """``{"run_id", "experiment", "status", "params", "metrics", "tags"}``; raises when it cannot be read."""
        if self._rest:
            run = self._call("runs/get", {"run_id": run_id})["run"]
            info, data = run["info"], run.get("data", {})
            experiment = self._call("experiments/get", {"experiment_id": info["experiment_id"]}).get("experiment")
            return {"run_id": run_id, "experiment": experiment["name"] if experiment else info["experiment_id"],
                    "status": info["status"], "params": _pairs(data.get("params")),
                    "metrics": _pairs(data.get("metrics")),
                    "tags": {k: v for k, v in _pairs(data.get("tags")).items() if not k.startswith("mlflow.")}}
        client = self._client()
        run = client.get_run(run_id)
        experiment = client.get_experiment(run.info.experiment_id)
        return {"run_id": run_id, "experiment": experiment.name if experiment else run.info.experiment_id,
                "status": run.info.status, "params": dict(run.data.params), "metrics": dict(run.data.metrics),
                "tags": {k: v for k, v in run.data.tags.items() if not k.startswith("mlflow.")}}

    def find(self, package_arn: str) -> str | None:
        """The run the pipeline's LinkRun step tagged with this package, if any."""
        query = f"tags.`{PACKAGE_TAG}` = '{package_arn}'"
        if self._rest:
            experiments = [e["experiment_id"] for e in
                           self._call("experiments/search", body={"max_results": 1000}).get("experiments", [])]
            runs = self._call("runs/search", body={"experiment_ids": experiments, "filter": query,
                                                   "max_results": 1}).get("runs", []) if experiments else []
            return runs[0]["info"]["run_id"] if runs else None
        client = self._client()
        experiments = [e.experiment_id for e in client.search_experiments()]
        runs = client.search_runs(experiments, filter_string=query, max_results=1) if experiments else []
        return runs[0].info.run_id if runs else None



def _pairs(items: list[dict] | None) -> dict:
    """MLflow's ``[{"key": k, "value": v, ...}]`` (params, tags, the latest value of each metric) as a dict."""
    return {item["key"]: item["value"] for item in items or []}


def endpoint_variants(clients: Clients, endpoint: str) -> dict:
    """The endpoint, its status and each production variant with its weight and model package."""
    sm = clients("sagemaker")
    described = sm.describe_endpoint(EndpointName=endpoint)
    config = sm.describe_endpoint_config(EndpointConfigName=described["EndpointConfigName"])
    weights = {v["VariantName"]: v.get("CurrentWeight") for v in described.get("ProductionVariants", [])}
    variants = []
    for variant in config["ProductionVariants"]:
        container = sm.describe_model(ModelName=variant["ModelName"]).get("PrimaryContainer", {})
        variants.append({"variant": variant["VariantName"], "model": variant["ModelName"],
                         "weight": weights.get(variant["VariantName"], variant.get("InitialVariantWeight")),
                         "model_package_arn": container.get("ModelPackageName"),
                         "model_data_url": container.get("ModelDataUrl")})
    return {"endpoint": endpoint, "status": described.get("EndpointStatus"),
            "endpoint_config": described["EndpointConfigName"], "variants": variants}


def _ssm_record(clients: Clients, name: str) -> dict | None:
    ssm = clients("ssm")
    try:
        return json.loads(ssm.get_parameter(Name=name)["Parameter"]["Value"])
    except ssm.exceptions.ParameterNotFound:
        return None
    except ValueError:
        return None


def model_package(clients: Clients, arn: str, stack: str) -> dict:
    """The package's version and approval: the registry's status and who last changed it, and what the delivery
    path recorded (``prodline promote``'s approval, the deploy's version record) when it names this package."""
    described = clients("sagemaker").describe_model_package(ModelPackageName=arn)
    modified_by = described.get("LastModifiedBy") or {}
    approval = {"status": described.get("ModelApprovalStatus"),
                "description": described.get("ApprovalDescription"),
                "by": modified_by.get("UserProfileName") or (modified_by.get("IamIdentity") or {}).get("Arn"),
                "at": _iso(described.get("LastModifiedTime"))}
    recorded = _ssm_record(clients, approval_parameter(stack))
    if recorded and recorded.get("modelPackageArn") == arn:
        approval.update(by=recorded.get("approvedBy") or approval["by"],
                        at=recorded.get("approvedAt") or approval["at"], recorded_by="prodline promote")
    served = _ssm_record(clients, version_parameter(stack))
    return {"arn": arn, "group": described.get("ModelPackageGroupName"),
            "version": described.get("ModelPackageVersion"), "created": _iso(described.get("CreationTime")),
            "approval": approval, "metadata": dict(described.get("CustomerMetadataProperties") or {}),
            "served_record": ({"promoted_by": served.get("promotedBy"), "promoted_at": served.get("promotedAt"),
                               "source": served.get("source")}
                              if served and served.get("modelPackageArn") == arn else None)}


def follow_run(metadata: dict, arn: str, runs: MlflowRuns | None) -> dict:
    """The MLflow run the package names (or, when its metadata says nothing, the run tagged with it), or why
    there is none."""
    run_id = metadata.get("mlflow_run_id")
    if not run_id and metadata.get("data_manifest") is None and runs is not None:
        with contextlib.suppress(Exception):  # no tag to find: said below as "no run id"
            run_id = runs.find(arn)
    if not run_id or run_id == NO_RUN:
        return {"run_id": None, "missing": "the model package carries no MLflow run id (registered without "
                                           "experiment tracking)"}
    if runs is None:
        return {"run_id": run_id, "missing": "no tracking server to read it from (give --tracking-uri)"}
    try:
        run = runs.read(run_id)
    except Exception as err:  # the chain goes on without the run; the reason is shown
        return {"run_id": run_id, "missing": f"the run could not be read: {err}".splitlines()[0][:300]}
    package = run["tags"].get(PACKAGE_TAG)
    return {**run, "package_tag": package}


def read_manifest(clients: Clients, uri: str | None) -> dict:
    """The data manifest at ``uri`` with each partition's ETL runs, or why it cannot be read."""
    if not uri or uri == NO_RUN:
        return {"uri": None, "missing": "the model package names no data manifest"}
    if not uri.startswith("s3://"):
        return {"uri": uri, "missing": "the manifest was written outside the lake (a local training run)"}
    s3 = clients("s3")
    bucket, key = split_s3(uri)
    try:
        manifest = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    except s3.exceptions.NoSuchKey:
        return {"uri": uri, "missing": "no object at that URL (deleted, or never written)"}
    partitions = []
    for part in manifest.get("partitions", []):
        run = part.get("etl_run")
        partitions.append({"partition": part["partition"], "rows": part["rows"], "files": part["files"],
                           "etl_run": run, "upstream_run": _upstream_run(s3, run) if run else None})
    return {"uri": uri, "rows": manifest.get("rows"), "sha256": manifest.get("sha256"),
            "files": len(manifest.get("files", [])), "partitions": partitions}


def _upstream_run(s3, run: dict) -> dict | None:
    """The run that wrote the inputs of an ETL run (the validate run behind a features partition): its manifest
    lies in the inputs' bucket under ``_runs/<dataset>/<partition>/``."""
    try:
        bucket, key = split_s3(run["manifest"])
        manifest = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
        inputs = manifest.get("inputs") or []
        source = inputs[0].get("url", "") if inputs else ""
        if not source.startswith("s3://"):
            return None
        source_bucket, source_key = split_s3(source)
        dataset, partition = source_key.split("/")[0], next(p for p in source_key.split("/") if p.startswith("dt="))
        upstream_key = f"{RUNS_PREFIX}/{dataset}/{partition}/manifest.json"
        upstream = json.loads(s3.get_object(Bucket=source_bucket, Key=upstream_key)["Body"].read())
    except Exception:  # an optional link: the features run is the one the manifest promises
        return None
    return {"manifest": f"s3://{source_bucket}/{upstream_key}", "job": upstream.get("job"),
            "job_name": upstream.get("job_name"), "run_id": upstream.get("run_id"),
            "committed_at": upstream.get("committed_at"), "rows": upstream.get("rows")}


def package_lineage(clients: Clients, arn: str, stack: str, runs: MlflowRuns | None) -> dict:
    """Package -> run -> data manifest -> ETL runs."""
    package = model_package(clients, arn, stack)
    run = follow_run(package["metadata"], arn, runs)
    manifest_uri = package["metadata"].get("data_manifest") or run.get("tags", {}).get("prodline.data_manifest")
    return {"model_package": package, "run": run, "data_manifest": read_manifest(clients, manifest_uri)}


def assemble(clients: Clients, stack: str, *, endpoint: str | None = None, model_version: str | None = None,
             runs: MlflowRuns | None = None) -> dict:
    """The chain for an endpoint (every variant) or for one model package."""
    if model_version:
        return {"stack": stack, "endpoint": None, "variants": [
            {"variant": None, **package_lineage(clients, model_version, stack, runs)}]}
    found = endpoint_variants(clients, endpoint)
    variants = []
    for variant in found["variants"]:
        arn = variant["model_package_arn"]
        chain = package_lineage(clients, arn, stack, runs) if arn else {
            "model_package": None, "missing": f"model {variant['model']} serves {variant['model_data_url']} without "
                                              "a model package: no registry version to follow"}
        variants.append({**variant, **chain})
    return {"stack": stack, "endpoint": {k: found[k] for k in ("endpoint", "status", "endpoint_config")},
            "variants": variants}


def _iso(moment: Any) -> str | None:
    return moment.isoformat(timespec="seconds") if hasattr(moment, "isoformat") else moment


# --- text --------------------------------------------------------------------------------------------------

def render(lineage: dict) -> str:
    """The chain as an indented tree, one link a line."""
    lines = []
    top = lineage["endpoint"]
    if top:
        lines.append(f"endpoint {top['endpoint']} ({top['status']}), config {top['endpoint_config']}")
    for variant in lineage["variants"]:
        indent = "  " if top else ""
        if variant.get("variant"):
            lines.append(f"{indent}variant {variant['variant']} (weight {variant['weight']}), model {variant['model']}")
            indent += "  "
        package = variant.get("model_package")
        if package is None:
            lines.append(f"{indent}{variant['missing']}")
            continue
        approval = package["approval"]
        who = f" by {approval['by']}" if approval.get("by") else ""
        when = f" at {approval['at']}" if approval.get("at") else ""
        lines.append(f"{indent}model package {package['group']} v{package['version']}: {approval['status']}{who}"
                     f"{when}" + (f" ({approval['description']})" if approval.get("description") else ""))
        lines.append(f"{indent}  {package['arn']}")
        indent += "  "
        run = variant["run"]
        if run.get("missing"):
            lines.append(f"{indent}MLflow run: none: {run['missing']}")
        else:
            metrics = ", ".join(f"{k}={v:.4g}" for k, v in sorted(run["metrics"].items()))
            params = ", ".join(f"{k}={v}" for k, v in sorted(run["params"].items()))
            lines.append(f"{indent}MLflow run {run['run_id']} (experiment {run['experiment']}, {run['status']})")
            lines.append(f"{indent}  metrics: {metrics or 'none'}")
            lines.append(f"{indent}  params: {params or 'none'}")
            indent += "  "
        manifest = variant["data_manifest"]
        if manifest.get("missing"):
            lines.append(f"{indent}data manifest: none: {manifest['missing']}" +
                         (f" ({manifest['uri']})" if manifest.get("uri") else ""))
            continue
        lines.append(f"{indent}data manifest {manifest['uri']}: {manifest['rows']:,} rows in {manifest['files']} "
                     f"files, sha256 {manifest['sha256'][:16]}...")
        for part in manifest["partitions"]:
            run = part["etl_run"]
            wrote = (f"written by {run['job_name']} run {run['run_id']} (commit {run['commit_id']}, "
                     f"{run['committed_at']})" + ("" if run.get("files_match") else "; replaced since")
                     if run else "no ETL run manifest names it")
            lines.append(f"{indent}  {part['partition']}: {part['rows']:,} rows, {wrote}")
            upstream = part.get("upstream_run")
            if upstream:
                lines.append(f"{indent}    from {upstream['job_name']} run {upstream['run_id']} "
                             f"({upstream['committed_at']})")
    return "\n".join(lines)
