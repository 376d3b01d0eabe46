"""botocore's data files are parsed once for the sessions that read the same files, and ``parse`` leaves nothing
for a workload's client to read."""

from __future__ import annotations

import os

import boto3
import botocore.session
import pytest
from botocore.loaders import JSONFileLoader, Loader

from prodline.sandbox import botocore_data


def _loader() -> Loader:
    return botocore.session.Session().get_component("data_loader")


@pytest.fixture
def no_file_read(monkeypatch):
    """A file that is there may not be parsed; looking for one that is not (an optional ``.sdk-extras``) is no
    parse, and is answered as botocore answers it."""
    def no_file(self, path):
        if any(os.path.isfile(path + extension) for extension in (".json", ".json.gz")):
            raise AssertionError(f"parsed {path} again")

    monkeypatch.setattr(JSONFileLoader, "load_file", no_file)


def test_sessions_that_read_the_same_files_share_one_cache():
    botocore_data.share_loader_caches()
    first, second = _loader(), _loader()
    assert first is not second and first._cache is second._cache


def test_a_loader_of_other_files_keeps_its_own_cache(tmp_path):
    botocore_data.share_loader_caches()
    assert Loader(extra_search_paths=[str(tmp_path)])._cache is not _loader()._cache
    assert Loader(include_default_extras=False)._cache is not _loader()._cache


def test_after_parse_a_new_session_s_clients_paginators_and_waiters_read_no_file(no_file_read):
    botocore_data.share_loader_caches()
    botocore_data.parse()
    for service in botocore_data.SERVICES:
        client = boto3.session.Session().client(service, region_name="eu-west-1", aws_access_key_id="x",
                                                aws_secret_access_key="x", endpoint_url="http://127.0.0.1:9")
        assert client.meta.service_model.service_name == service
    s3 = boto3.session.Session().client("s3", region_name="eu-west-1", aws_access_key_id="x",
                                        aws_secret_access_key="x")
    s3.get_paginator("list_objects_v2")
    s3.get_waiter("object_exists")


def test_a_loader_of_other_files_reads_them_itself(no_file_read, tmp_path):
    botocore_data.share_loader_caches()
    botocore_data.parse()
    with pytest.raises(AssertionError, match=r"parsed .*s3"):
        Loader(extra_search_paths=[str(tmp_path)]).load_service_model("s3", "service-2")


def test_parse_makes_no_client_and_no_ssl_context(monkeypatch):
    """OpenSSL state touched by the zygote's preloading thread, which ends just before the first fork, once left a
    lock held in a forked job: it hung in ``SSLContext.__new__``. Parsing needs neither a client nor OpenSSL."""
    import ssl

    made = []
    real_new = ssl.SSLContext.__new__

    def counted(cls, *args, **kwargs):
        made.append(cls)
        return real_new(cls, *args, **kwargs)

    monkeypatch.setattr(ssl.SSLContext, "__new__", counted)
    monkeypatch.setattr(botocore.session.Session, "create_client",
                        lambda *args, **kwargs: pytest.fail("parse made a client"))
    botocore_data.parse()
    assert made == []
