"""Experiment tracking: what training and evaluation log to MLflow, when a tracking URI is configured.

``MLFLOW_TRACKING_URI`` is a tracking server's URL, or in AWS the SageMaker managed server's ARN, which the
``sagemaker-mlflow`` plugin resolves (and signs each call for) by itself. Without it nothing is logged and mlflow
is never imported, so training without tracking needs no mlflow. SageMaker's framework containers do not ship
mlflow: when the URI is set and mlflow is missing, it is installed first (the versions the project pins).

A run is one training: training creates it (parameters, validation metrics, the data manifest, the model
directory), evaluation adds the held-out metrics and the report, and the pipeline's LinkRun step tags it with
the model package it became. The run id travels in the model's metadata and evaluation.json, never in a global.
"""

from __future__ import annotations

import importlib
import logging
import os
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

LOG = logging.getLogger(__name__)
TRACKING_URI_ENV = "MLFLOW_TRACKING_URI"
EXPERIMENT_ENV = "PRODLINE_MLFLOW_EXPERIMENT"
DEFAULT_EXPERIMENT = "prodline"
REQUIREMENTS = ("mlflow-skinny==3.17.2", "sagemaker-mlflow==0.5.0")
"""The client part of pyproject.toml's ``tracking`` extra; a container without mlflow installs these."""
NO_TELEMETRY = {"MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true"}
"""mlflow reports usage to its authors unless told not to: a training job (and the offline sandbox) sends nothing
anywhere but to its tracking server, unless the environment turns telemetry on itself."""
NO_RUN = "none"
"""What the lineage fields say when a model was trained without tracking (package metadata cannot be empty)."""
PACKAGE_TAG = "sagemaker.model_package_arn"
MANIFEST_TAG, DATA_HASH_TAG = "prodline.data_manifest", "prodline.data_sha256"


def tracking_uri(env: Mapping[str, str]) -> str | None:
    return env.get(TRACKING_URI_ENV) or None


def client(uri: str):
    """An MlflowClient for ``uri``, importing (and if need be installing) mlflow only now."""
    for name, value in NO_TELEMETRY.items():
        os.environ.setdefault(name, value)
    try:
        tracking = importlib.import_module("mlflow.tracking")
    except ImportError:
        LOG.info("mlflow is not installed; installing %s", " ".join(REQUIREMENTS))
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", *REQUIREMENTS], check=True)
        importlib.invalidate_caches()
        tracking = importlib.import_module("mlflow.tracking")
    if not uri.startswith("arn:"):
        # sagemaker-mlflow's request-header plugin is always active and warns on every call whose URI is not a
        # SageMaker ARN (a local or self-hosted server): nothing is wrong, so those warnings are not shown.
        logging.getLogger("mlflow.tracking.request_header.registry").setLevel(logging.ERROR)
    return tracking.MlflowClient(tracking_uri=uri)


def _experiment_id(mlflow_client, name: str) -> str:
    found = mlflow_client.get_experiment_by_name(name)
    if found is not None:
        return found.experiment_id
    try:
        return mlflow_client.create_experiment(name)
    except Exception:  # another run created it in between: take theirs
        found = mlflow_client.get_experiment_by_name(name)
        if found is None:
            raise
        return found.experiment_id


def _log(mlflow_client, run_id: str, *, params: Mapping[str, object] | None = None,
         metrics: Mapping[str, float] | None = None, tags: Mapping[str, str] | None = None) -> None:
    from mlflow.entities import Metric, Param, RunTag

    now = int(time.time() * 1000)
    mlflow_client.log_batch(run_id, metrics=[Metric(k, float(v), now, 0) for k, v in sorted((metrics or {}).items())],
                            params=[Param(k, str(v)) for k, v in sorted((params or {}).items())],
                            tags=[RunTag(k, str(v)) for k, v in sorted((tags or {}).items())])


def start_training_run(env: Mapping[str, str], *, run_name: str, params: Mapping[str, object],
                       metrics: Mapping[str, float], manifest: dict, manifest_uri: str) -> str:
    """Create the run of this training with its parameters, validation metrics and data manifest; returns its
    id, or NO_RUN without a tracking URI."""
    uri = tracking_uri(env)
    if uri is None:
        return NO_RUN
    mlflow_client = client(uri)
    experiment = _experiment_id(mlflow_client, env.get(EXPERIMENT_ENV) or DEFAULT_EXPERIMENT)
    run_id = mlflow_client.create_run(experiment, run_name=run_name).info.run_id
    _log(mlflow_client, run_id, params=params, metrics={f"validation_{k}": v for k, v in metrics.items()},
         tags={MANIFEST_TAG: manifest_uri, DATA_HASH_TAG: manifest["sha256"], "prodline.training_rows":
               str(manifest["rows"]), "prodline.partitions": ",".join(p["partition"] for p in manifest["partitions"])})
    mlflow_client.log_dict(run_id, manifest, "data_manifest.json")
    LOG.info("MLflow run %s in experiment %s", run_id, experiment)
    return run_id


def log_model(env: Mapping[str, str], run_id: str, model_dir: Path) -> bool:
    """The model directory as the run's ``model`` artifacts (the files serving loads, as SageMaker packs them)."""
    uri = tracking_uri(env)
    if uri is None or run_id == NO_RUN:
        return False
    client(uri).log_artifacts(run_id, str(model_dir), "model")
    return True


def log_evaluation(env: Mapping[str, str], run_id: str, report: dict) -> bool:
    """Add the held-out metrics and the evaluation report to the training's run; False when nothing is tracked."""
    uri = tracking_uri(env)
    if uri is None or run_id == NO_RUN:
        return False
    mlflow_client = client(uri)
    _log(mlflow_client, run_id, metrics={f"test_{name}": entry["value"] for name, entry in report["metrics"].items()})
    mlflow_client.log_dict(run_id, report, "evaluation.json")
    mlflow_client.set_terminated(run_id)
    return True


def tag_package(env: Mapping[str, str], run_id: str, package_arn: str) -> bool:
    """Tag the run with the model package it became; False when nothing is tracked."""
    uri = tracking_uri(env)
    if uri is None or run_id == NO_RUN:
        return False
    client(uri).set_tag(run_id, PACKAGE_TAG, package_arn)
    return True
