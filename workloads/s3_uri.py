"""``s3://bucket/key`` URLs: the one parser every layer uses, so all of them accept and refuse the same strings."""

from __future__ import annotations

S3_SCHEME = "s3://"


def is_s3(url: str) -> bool:
    return url.startswith(S3_SCHEME)


def split_s3(url: str, *, object_key: bool = False) -> tuple[str, str]:
    """``s3://bucket/a/b`` -> ("bucket", "a/b").

    ``object_key=True`` also requires the URL to name one object (a non-empty key not ending in ``/``), which is
    what a model artifact or a single download needs; a prefix is fine otherwise.
    """
    if not isinstance(url, str) or not is_s3(url):
        raise ValueError(f"not an s3:// URL: {url!r}")
    bucket, _, key = url[len(S3_SCHEME):].partition("/")
    if not bucket:
        raise ValueError(f"s3 URL has no bucket: {url!r}")
    if object_key and (not key or key.endswith("/")):
        raise ValueError(f"s3 URL does not name one object (s3://bucket/key): {url!r}")
    return bucket, key


def objects_beside(url: str) -> tuple[str, str]:
    """The objects in the folder of one: ``s3://b/a/v3/model.tar.gz`` -> ("b", "a/v3/*").

    An object at the top of its bucket has the whole bucket beside it, so there the key itself is returned.
    What a reader of one artifact may be granted (a model's folder), and what the policy pack allows it.
    """
    bucket, key = split_s3(url, object_key=True)
    folder = key.rpartition("/")[0]
    return bucket, f"{folder}/*" if folder else key
