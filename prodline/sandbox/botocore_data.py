"""botocore's data files parsed once per process tree, not once per session.

botocore gives every Session a Loader of its own, whose cache starts empty: a process parses ``endpoints.json``
(1.3 MB) and the model of each service again for the first client of every session, 0.1-0.2 s of CPU a client.
The sandbox's containers (Glue jobs, pipeline steps, model servers) are processes forked from a warm interpreter
(``prodline.sandbox.zygote``), each making its own sessions: in one demo (py-spy over the zygote's children), the
32 children spent about a third of their CPU parsing those files. moto's server makes a new session for the
regions of each service it builds, and parsed them again too.

``share_loader_caches`` gives Loaders that read the same files (the same search paths, extras and file loader)
one cache; ``parse`` fills it for the services the workloads call, with no client, request or credential lookup.
Importing this module does both, which is how the zygote's preload list (``warm_start.PRELOAD``) runs it before
its first fork. A Loader reading other paths (a session with its own ``AWS_DATA_PATH``) keeps a cache of its own.
"""

from __future__ import annotations

import contextlib

import botocore.session
from botocore.exceptions import DataNotFoundError
from botocore.loaders import Loader

SERVICES = ("s3", "glue", "sagemaker", "sagemaker-runtime", "cloudwatch", "kinesis")
"""What the workloads' clients call (``boto3.client(...)`` in ``workloads/``)."""
MODELS = ("paginators-1", "waiters-2")
"""Read later, on a client's first paginator or waiter."""

_CACHES: dict[tuple, dict] = {}
_SDK_INIT = Loader.__init__


def _shared_init(self, *args, **kwargs) -> None:
    _SDK_INIT(self, *args, **kwargs)
    self._cache = _CACHES.setdefault(_reads(self), self._cache)  # an AttributeError if botocore stops caching so


def _reads(loader: Loader) -> tuple:
    """What decides the files a Loader reads and what it makes of them."""
    return tuple(loader.search_paths), tuple(loader._extras_types), type(loader.file_loader)


def share_loader_caches() -> None:
    """Every Loader made from now on in this process (and in the processes it forks) shares the cache of the
    Loaders that read the same files (idempotent)."""
    Loader.__init__ = _shared_init


def parse(services: tuple[str, ...] = SERVICES) -> None:
    """Parse what a client of each service reads (its model and endpoint rules, ``endpoints.json``, the retry and
    default configurations, its paginators and waiters) into the shared cache, with the calls botocore's client
    makes (the cache is keyed by them). No client is made: a client's HTTP session creates an SSL context, and
    OpenSSL state touched by a thread that ends just before a fork can leave a lock held in the child (a job
    forked so hung in ``SSLContext.__new__``)."""
    loader = botocore.session.Session().get_component("data_loader")
    loader.load_data_with_path("endpoints")
    for name in ("sdk-default-configuration", "partitions", "_retry"):
        loader.load_data(name)
    for service in services:
        try:
            model = loader.load_service_model(service, "service-2", api_version=None)
            loader.load_service_model(service, "endpoint-rule-set-1", api_version=None)
        except DataNotFoundError:  # an older botocore without the service: its first client parses it
            continue
        for kind in MODELS:
            with contextlib.suppress(DataNotFoundError):  # not every service has waiters
                loader.load_service_model(service, kind, model["metadata"]["apiVersion"])


share_loader_caches()
parse()
