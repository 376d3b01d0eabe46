"""Object storage behind one small interface: S3 (boto3, honouring AWS_ENDPOINT_URL) or a local directory.

The jobs address everything by URL (``s3://bucket/key`` or a local path / ``file://`` URL), so the same
code runs in Glue against S3, in tests against moto, and in the benchmark against local disk. Keys keep
S3's semantics locally: a listing is by key prefix, a write replaces the whole object at once.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

from workloads.s3_uri import S3_SCHEME, is_s3, split_s3

FILE_SCHEME = "file://"

_s3_client = None
_UMASK = os.umask(0)
os.umask(_UMASK)


def s3_client():
    """One boto3 S3 client per process; boto3 reads AWS_ENDPOINT_URL and the region from the environment."""
    global _s3_client  # noqa: PLW0603 - a process-wide cache of an expensive client
    if _s3_client is None:
        import boto3
        from botocore.config import Config

        _s3_client = boto3.client("s3", config=Config(retries={"mode": "standard", "max_attempts": 5}))
    return _s3_client


def reset_clients() -> None:
    """Forget cached clients (tests switch endpoints and credentials between cases)."""
    global _s3_client  # noqa: PLW0603
    _s3_client = None


def local_path(url: str) -> Path:
    return Path(url[len(FILE_SCHEME):] if url.startswith(FILE_SCHEME) else url)


def join(prefix: str, *parts: str) -> str:
    """Join URL parts with single slashes; a trailing slash on the last part is kept."""
    out = prefix.rstrip("/")
    for part in parts:
        out = f"{out}/{part.strip('/')}" if part.strip("/") else out
    return out + ("/" if parts and parts[-1].endswith("/") else "")


def bucket_root(url: str) -> str:
    """``s3://bucket/any/prefix/`` -> ``s3://bucket/``; for a local path, its parent directory."""
    if is_s3(url):
        return f"{S3_SCHEME}{split_s3(url)[0]}/"
    return str(local_path(url.rstrip("/")).parent) + "/"


def list_urls(prefix: str) -> list[str]:
    """Every object whose URL starts with ``prefix``, sorted, spelled like ``prefix`` (so the URLs compare equal
    to ones built with ``join`` from the same prefix)."""
    if is_s3(prefix):
        bucket, key = split_s3(prefix)
        urls = []
        for page in s3_client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=key):
            urls += [f"{S3_SCHEME}{bucket}/{obj['Key']}" for obj in page.get("Contents", [])]
        return sorted(urls)
    spelled_top = prefix[:prefix.rfind("/") + 1]  # URLs come back spelled as the prefix is (file://, ./)
    top = Path(local_path(spelled_top) if spelled_top else ".")
    if not top.is_dir():
        return []
    found = (spelled_top + p.relative_to(top).as_posix() for p in top.rglob("*")
             if p.is_file() and not p.name.startswith(".tmp-"))
    return sorted(f for f in found if f.startswith(prefix))


def read_bytes(url: str) -> bytes:
    if is_s3(url):
        bucket, key = split_s3(url)
        return s3_client().get_object(Bucket=bucket, Key=key)["Body"].read()
    return local_path(url).read_bytes()


def read_bytes_if_exists(url: str) -> bytes | None:
    """The object's bytes, or None when there is none (one request, where ``exists`` + ``read_bytes`` take two)."""
    if is_s3(url):
        bucket, key = split_s3(url)
        try:
            return s3_client().get_object(Bucket=bucket, Key=key)["Body"].read()
        except s3_client().exceptions.NoSuchKey:
            return None
    try:
        return local_path(url).read_bytes()
    except FileNotFoundError:
        return None


def exists(url: str) -> bool:
    if is_s3(url):
        bucket, key = split_s3(url)
        try:
            s3_client().head_object(Bucket=bucket, Key=key)
        except s3_client().exceptions.ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise
        return True
    return local_path(url).is_file()


def write_bytes(url: str, data: bytes, content_type: str = "application/octet-stream") -> None:
    """Replace the object at once: S3 puts are atomic; locally, write aside and rename."""
    if is_s3(url):
        bucket, key = split_s3(url)
        s3_client().put_object(Bucket=bucket, Key=key, Body=data, ContentType=content_type)
        return
    path = local_path(url)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; give the file what a plain open() would
    os.replace(tmp, path)


def copy(source: str, destination: str) -> None:
    """Server-side copy on S3 (atomic for the destination); write-aside-and-rename locally."""
    if is_s3(source) and is_s3(destination):
        src_bucket, src_key = split_s3(source)
        dst_bucket, dst_key = split_s3(destination)
        s3_client().copy({"Bucket": src_bucket, "Key": src_key}, dst_bucket, dst_key)
        return
    write_bytes(destination, read_bytes(source))


def delete(urls: Iterable[str]) -> None:
    urls = list(urls)
    s3_urls = [u for u in urls if is_s3(u)]
    for bucket in sorted({split_s3(u)[0] for u in s3_urls}):
        keys = [split_s3(u)[1] for u in s3_urls if split_s3(u)[0] == bucket]
        for start in range(0, len(keys), 1000):
            s3_client().delete_objects(
                Bucket=bucket, Delete={"Objects": [{"Key": k} for k in keys[start:start + 1000]], "Quiet": True})
    for url in urls:
        if not is_s3(url):
            local_path(url).unlink(missing_ok=True)
