"""The model directory's layout: what training writes, evaluation and serving read.

``SM_MODEL_DIR`` (SageMaker tars it into model.tar.gz at its root):
  model.joblib    the fitted scikit-learn pipeline; ``predict_proba`` over a DataFrame of MODEL_INPUT_COLUMNS
  metadata.json   features, label, schema version, hyperparameters, validation metrics, library versions
  baseline.json   the training distribution of each input feature (see training.baseline)
  data_manifest.json  the exact partitions and files training read (see training.data_manifest)
"""

from __future__ import annotations

import json
import shutil
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

import joblib

from workloads.archives import extract_tar

MODEL_FILE = "model.joblib"
METADATA_FILE = "metadata.json"
BASELINE_FILE = "baseline.json"
MODEL_ARCHIVE = "model.tar.gz"


@dataclass(frozen=True)
class ModelArtifacts:
    pipeline: object
    metadata: dict
    directory: Path
    version: str | None = None
    """The model package version the server was started with (``PRODLINE_MODEL_VERSION``), if it was told."""


def save_model(directory: Path, pipeline: object, metadata: dict, baseline: dict) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    joblib.dump(pipeline, directory / MODEL_FILE)
    (directory / METADATA_FILE).write_text(json.dumps(metadata, indent=2, sort_keys=True))
    (directory / BASELINE_FILE).write_text(json.dumps(baseline, indent=2, sort_keys=True))


def load_model(directory: Path) -> ModelArtifacts:
    """Load a model directory, or a ``model.tar.gz`` (or a directory holding one), extracting it first."""
    directory = model_directory(Path(directory))
    model_file = directory / MODEL_FILE
    if not model_file.is_file():
        raise FileNotFoundError(f"no {MODEL_FILE} in {directory}: expected the layout training writes "
                                f"({MODEL_FILE}, {METADATA_FILE}, {BASELINE_FILE})")
    metadata = json.loads((directory / METADATA_FILE).read_text()) if (directory / METADATA_FILE).is_file() else {}
    return ModelArtifacts(pipeline=joblib.load(model_file), metadata=metadata, directory=directory)


def model_directory(path: Path) -> Path:
    """``path`` itself when it holds the model files; else the extraction of the archive it is or holds."""
    archive = path if path.is_file() else path / MODEL_ARCHIVE
    if (path / MODEL_FILE).is_file() or not archive.is_file():
        return path
    target = Path(tempfile.mkdtemp(prefix="prodline-model-"))
    try:
        extract_tar(archive, target)  # tarfile's "data" filter and stricter; refuses a Python without it
    except BaseException:
        shutil.rmtree(target, ignore_errors=True)
        raise
    return target


def pack_model(directory: Path, archive: Path) -> Path:
    """Tar the directory's files at the archive's root, as SageMaker does with SM_MODEL_DIR."""
    with tarfile.open(archive, "w:gz") as tar:
        for item in sorted(directory.iterdir()):
            tar.add(item, arcname=item.name)
    return archive
