"""docker/fetch_model.py against moto's in-process S3: the model lands in SM_MODEL_DIR, whole or not at all."""

from __future__ import annotations

import importlib.util
import io
import tarfile
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

ROOT = Path(__file__).resolve().parents[2]
URL = "s3://bucket-artifacts/models/churn/v1/model.tar.gz"


def load_fetcher():
    spec = importlib.util.spec_from_file_location("fetch_model", ROOT / "docker" / "fetch_model.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


fetcher = load_fetcher()


def archive(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


@pytest.fixture
def s3():
    with mock_aws():
        client = boto3.client("s3", region_name="eu-west-1")
        client.create_bucket(Bucket="bucket-artifacts",
                             CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
        yield client


def test_model_is_unpacked_into_the_model_dir(s3, tmp_path):
    s3.put_object(Bucket="bucket-artifacts", Key="models/churn/v1/model.tar.gz",
                  Body=archive({"model.joblib": b"model", "meta/metrics.json": b"{}"}))
    names = fetcher.fetch(URL, tmp_path / "model", s3)
    assert sorted(names) == ["meta/metrics.json", "model.joblib"]
    assert (tmp_path / "model" / "model.joblib").read_bytes() == b"model"
    assert sorted(p.name for p in (tmp_path / "model").iterdir()) == ["meta", "model.joblib"], "no staging left"


def test_a_retry_replaces_what_an_earlier_attempt_left(s3, tmp_path):
    model_dir = tmp_path / "model"
    (model_dir / "stale").mkdir(parents=True)
    (model_dir / "old.joblib").write_bytes(b"old")
    s3.put_object(Bucket="bucket-artifacts", Key="models/churn/v1/model.tar.gz", Body=archive({"model.joblib": b"new"}))
    fetcher.fetch(URL, model_dir, s3)
    assert sorted(p.name for p in model_dir.iterdir()) == ["model.joblib"]


def test_members_escaping_the_model_dir_are_refused(s3, tmp_path):
    s3.put_object(Bucket="bucket-artifacts", Key="models/churn/v1/model.tar.gz",
                  Body=archive({"../escaped.txt": b"x"}))
    with pytest.raises(tarfile.FilterError):
        fetcher.fetch(URL, tmp_path / "model", s3)
    assert not (tmp_path / "escaped.txt").exists()
    assert list((tmp_path / "model").iterdir()) == [], "a refused archive leaves nothing behind"


@pytest.mark.parametrize("url", ["", "https://example.com/model.tar.gz", "s3://bucket-only", "s3://bucket/dir/"])
def test_a_bad_url_exits_2_with_the_reason(url, capsys, monkeypatch):
    monkeypatch.setenv("MODEL_S3_URI", url)
    assert fetcher.main([]) == 2
    assert "MODEL_S3_URI must be s3://bucket/key" in capsys.readouterr().err


def test_main_reads_its_settings_from_the_environment(s3, tmp_path, monkeypatch, capsys):
    s3.put_object(Bucket="bucket-artifacts", Key="models/churn/v1/model.tar.gz", Body=archive({"m": b"1"}))
    monkeypatch.setenv("MODEL_S3_URI", URL)
    monkeypatch.setenv("SM_MODEL_DIR", str(tmp_path / "model"))
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    assert fetcher.main([]) == 0
    assert (tmp_path / "model" / "m").read_bytes() == b"1"
    assert "unpacked 1 entries" in capsys.readouterr().out
