import json
import tarfile
from pathlib import Path

import boto3
import pytest

from workloads.etl.features import add_features
from workloads.etl.schema import MODEL_INPUT_COLUMNS
from workloads.ingest.generator import generate_typed
from workloads.training import evaluate, register, train
from workloads.training.artifacts import BASELINE_FILE, METADATA_FILE, MODEL_FILE, load_model, pack_model
from workloads.training.data_manifest import MANIFEST_FILE
from workloads.training.model import Hyperparameters


def write_channel(directory, seed, rows=3000, days=2):
    """Features Parquet as the features zone holds it: nested dt=... folders."""
    for day in range(days):
        part = directory / f"dt=2026-01-0{day + 1}"
        part.mkdir(parents=True)
        add_features(generate_typed(rows, seed + day)).to_parquet(part / "part-00000.parquet")
    return directory


@pytest.fixture
def channels(tmp_path):
    return {"train": write_channel(tmp_path / "train", 1), "validation": write_channel(tmp_path / "validation", 50),
            "test": write_channel(tmp_path / "test", 90, days=1)}


def sagemaker_env(tmp_path, channels):
    return {"SM_MODEL_DIR": str(tmp_path / "model"), "SM_CHANNEL_TRAIN": str(channels["train"]),
            "SM_CHANNEL_VALIDATION": str(channels["validation"]), "SM_OUTPUT_DATA_DIR": str(tmp_path / "output")}


def test_training_writes_the_model_directory_the_handler_loads(tmp_path, channels, capsys):
    assert train.main(["--max-iter", "40", "--learning_rate", "0.2", "--random-state", "3"],
                      sagemaker_env(tmp_path, channels)) == 0
    model_dir = tmp_path / "model"
    assert {p.name for p in model_dir.iterdir()} == {MODEL_FILE, METADATA_FILE, BASELINE_FILE, MANIFEST_FILE}
    metadata = json.loads((model_dir / METADATA_FILE).read_text())
    manifest = json.loads((model_dir / MANIFEST_FILE).read_text())
    assert manifest["rows"] == 6000 and [p["partition"] for p in manifest["partitions"]] == ["dt=2026-01-01",
                                                                                            "dt=2026-01-02"]
    # No tracking URI: no run, and nothing imported mlflow.
    assert metadata["lineage"] == {"mlflow_run_id": "none", "data_manifest": str(model_dir / MANIFEST_FILE),
                                   "data_sha256": manifest["sha256"]}
    assert metadata["features"] == [c.name for c in MODEL_INPUT_COLUMNS]
    assert metadata["hyperparameters"]["max_iter"] == 40 and metadata["hyperparameters"]["learning_rate"] == 0.2
    assert metadata["metrics"]["validation"]["rows"] == 6000
    assert metadata["schema_version"] == 1
    baseline = json.loads((model_dir / BASELINE_FILE).read_text())
    assert set(baseline["features"]) == {c.name for c in MODEL_INPUT_COLUMNS}
    assert baseline["features"]["contract"]["type"] == "categorical"
    assert len(baseline["features"]["tenure_months"]["quantiles"]) == 101
    assert "validation:auc=" in capsys.readouterr().out
    model = load_model(model_dir)
    probabilities = model.pipeline.predict_proba(generate_typed(5, 7)[metadata["features"]])[:, 1]
    assert ((probabilities > 0) & (probabilities < 1)).all()


def test_the_model_finds_the_known_signal(tmp_path, channels):
    train.main([], sagemaker_env(tmp_path, channels))
    assert json.loads((tmp_path / "model" / METADATA_FILE).read_text())["metrics"]["validation"]["auc"] > 0.78


def test_without_a_validation_channel_a_share_of_training_is_held_out(tmp_path, channels):
    env = {**sagemaker_env(tmp_path, channels), "SM_CHANNEL_VALIDATION": str(tmp_path / "absent")}
    train.main(["--max-iter", "20"], env)
    from workloads.training.data import is_holdout, read_channel

    rows = read_channel(Path(env["SM_CHANNEL_TRAIN"]))
    held_out = int(is_holdout(rows).sum())
    assert 0.15 * len(rows) < held_out < 0.25 * len(rows)
    metadata = json.loads((tmp_path / "model" / METADATA_FILE).read_text())
    assert metadata["metrics"]["validation"]["rows"] == held_out
    assert metadata["training_rows"] == len(rows) - held_out


def test_hyperparameters_accept_sagemaker_spellings():
    hp = train.parse_hyperparameters(["--max_iter", "30", "--max-depth", '"None"', "--unknown", "1"])
    assert hp == Hyperparameters(max_iter=30, max_depth=None)


def test_an_empty_channel_is_an_error_naming_it(tmp_path):
    (tmp_path / "train").mkdir()
    with pytest.raises(FileNotFoundError, match=r"no \.parquet files under"):
        train.main([], {"SM_MODEL_DIR": str(tmp_path / "m"), "SM_CHANNEL_TRAIN": str(tmp_path / "train")})


def test_evaluation_report_is_what_the_condition_step_reads(tmp_path, channels, model_dir):
    archive = pack_model(model_dir, tmp_path / "model.tar.gz")
    (tmp_path / "processing" / "model").mkdir(parents=True)
    with tarfile.open(archive) as tar:
        assert sorted(tar.getnames()) == sorted([MODEL_FILE, METADATA_FILE, BASELINE_FILE])
    archive.rename(tmp_path / "processing" / "model" / "model.tar.gz")
    env = {"PRODLINE_EVAL_MODEL": str(tmp_path / "processing" / "model"), "PRODLINE_EVAL_TEST": str(channels["test"]),
           "PRODLINE_EVAL_OUTPUT": str(tmp_path / "processing" / "evaluation")}
    assert evaluate.main([], env) == 0
    report = json.loads((tmp_path / "processing" / "evaluation" / "evaluation.json").read_text())
    assert 0.75 < report["metrics"]["auc"]["value"] <= 1
    assert {"accuracy", "precision", "recall", "f1", "log_loss"} <= set(report["metrics"])
    assert report["binary_classification_metrics"]["auc"]["value"] == report["metrics"]["auc"]["value"]
    # A model trained without a data manifest or a run still registers: the lineage says so instead of failing.
    assert report["lineage"] == {"mlflow_run_id": "none", "data_manifest": "none", "data_sha256": "none"}


def test_register_creates_a_model_package_with_its_metrics(aws):
    s3, sagemaker = boto3.client("s3"), boto3.client("sagemaker")
    s3.create_bucket(Bucket="artifacts", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    report = {"metrics": {"auc": {"value": 0.87}, "accuracy": {"value": 0.8}}}
    s3.put_object(Bucket="artifacts", Key="eval/evaluation.json", Body=json.dumps(report).encode())
    sagemaker.create_model_package_group(ModelPackageGroupName="churn")
    assert register.main(["--group", "churn", "--model-data-url", "s3://artifacts/model.tar.gz",
                          "--image-uri", "123456789012.dkr.ecr.eu-west-1.amazonaws.com/prodline-serving:1",
                          "--evaluation-url", "s3://artifacts/eval/evaluation.json",
                          "--approval-status", "Approved"]) == 0
    [package] = sagemaker.list_model_packages(ModelPackageGroupName="churn")["ModelPackageSummaryList"]
    described = sagemaker.describe_model_package(ModelPackageName=package["ModelPackageArn"])
    assert described["ModelApprovalStatus"] == "Approved"
    assert described["ModelMetrics"]["ModelQuality"]["Statistics"]["S3Uri"] == "s3://artifacts/eval/evaluation.json"
    assert described["CustomerMetadataProperties"]["auc"] == "0.87"
    assert "text/csv" in described["InferenceSpecification"]["SupportedContentTypes"]


def test_register_refuses_an_unknown_approval_status():
    with pytest.raises(ValueError, match="approval status must be one of PendingManualApproval, Approved, Rejected"):
        register.model_package_request("g", model_data_url="s3://a/m.tar.gz", image_uri="i",
                                       evaluation_url="s3://a/e.json", approval_status="approved")


def test_evaluation_scores_only_customers_training_never_saw():
    import pandas as pd

    from workloads.training.data import is_holdout

    frame = pd.DataFrame({"customer_id": [f"c-{i}" for i in range(5000)]})
    held = is_holdout(frame)
    assert 0.15 < held.mean() < 0.25, "about one customer in five is held out"
    again = is_holdout(frame.iloc[::-1].reset_index(drop=True))
    assert list(again[::-1]) == list(held), "the split depends on the customer, not on row order"
