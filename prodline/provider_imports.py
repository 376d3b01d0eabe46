"""Import a provider service package's resource modules one by one, when the program first names them.

Each ``pulumi_aws.<service>`` package's ``__init__`` star-imports every resource module of the service
(``aws.sagemaker`` alone is some forty, each building its typed argument classes) and its ``outputs``.
The program declares a handful of types per service, so most of that work is thrown away on every
``prodline preview`` and ``prodline policy``: a quarter of a second of a two-second run.

``install()`` puts a finder in front of the normal one for those packages only. The package module it
builds has the same file, path and helpers, and a module ``__getattr__`` (PEP 562) that finds a name the
way the real ``__init__`` would have exported it: in the ``__all__`` of the submodule the name points at
(``EndpointConfiguration`` and ``EndpointConfigurationArgs`` in ``endpoint_configuration``), then in
``_inputs`` and ``_enums``. A name it cannot place that way runs the real ``__init__`` in the package, so
every name resolves to the same object it would without the finder, only later. A package whose
``__init__`` holds anything but those star imports (``pulumi_aws.config``) keeps its own loader.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import re
import sys
from pathlib import Path
from types import ModuleType

from prodline import provider_classes

PROVIDERS = ("pulumi_aws",)
"""Providers whose service packages are loaded this way; their ``__init__`` files are generated alike."""
STAR_IMPORT = re.compile(r"from \.(\w+) import \*")
INIT_LINES = {"import builtins as _builtins", "import typing", "from .. import _utilities", "from . import outputs"}
"""The other lines a generated service ``__init__`` holds (comments and blank lines aside)."""
SHARED_MODULES = ("_inputs", "_enums")
"""Where the argument types and enums of every resource of a service live, after the resource's own module."""
FULLY_LOADED: list[str] = []
"""Packages a name sent to their real ``__init__``: the test of the finder holds this empty for the services
the program uses."""
_CAMEL_BREAK = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


class _ServicePackageFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path, target=None):
        if _is_service(fullname):
            spec = importlib.machinery.PathFinder.find_spec(fullname, path)
            if spec is not None:
                _take_over(spec)
            return spec
        if _in_taken_over_service(fullname):
            spec = importlib.machinery.PathFinder.find_spec(fullname, path)
            if spec is not None and spec.loader is not None:
                spec.loader = provider_classes.loader_for(fullname, spec.loader)
            return spec
        return None


def _is_service(name: str) -> bool:
    provider, _, service = name.partition(".")
    return provider in PROVIDERS and bool(service) and "." not in service


def _in_taken_over_service(name: str) -> bool:
    """A module inside a service package this finder loads: its types and resource modules are loaded by class."""
    package, _, leaf = name.rpartition(".")
    spec = getattr(sys.modules.get(package), "__spec__", None)
    return bool(leaf) and _is_service(package) and isinstance(getattr(spec, "loader", None), _ServicePackageLoader)


def _take_over(spec: importlib.machinery.ModuleSpec) -> None:
    """Give a generated service package's spec the one-module-at-a-time loader; leave any other spec alone."""
    if isinstance(spec.loader, _ServicePackageLoader) or spec.origin is None or not spec.submodule_search_locations:
        return
    submodules = star_imported_modules(Path(spec.origin))
    if submodules is not None:
        spec.loader = _ServicePackageLoader(spec.loader, submodules)


class _ServicePackageLoader(importlib.abc.Loader):
    def __init__(self, real_loader: importlib.abc.Loader, submodules: list[str]):
        self.real_loader = real_loader
        self.submodules = submodules

    def create_module(self, spec):
        return None  # the default module object

    def exec_module(self, module: ModuleType) -> None:
        import builtins
        import typing

        # The names the real __init__ binds besides its star imports.
        utilities = importlib.import_module(f"{module.__name__.partition('.')[0]}._utilities")
        module.__dict__.update(_builtins=builtins, typing=typing, _utilities=utilities)
        module.__getattr__ = _lazy_getattr(module, self.real_loader, self.submodules)


def _lazy_getattr(package: ModuleType, real_loader: importlib.abc.Loader, submodules: list[str]):
    fully_loaded = False

    def __getattr__(name: str):
        nonlocal fully_loaded
        if name.startswith("__") or fully_loaded:
            raise AttributeError(f"module {package.__name__!r} has no attribute {name!r}")
        for candidate in _candidates(name, submodules):
            module = importlib.import_module(f"{package.__name__}.{candidate}")  # binds it on the package too
            if candidate in submodules:  # then binds what it exports, as `from .candidate import *` does
                package.__dict__.update({exported: getattr(module, exported) for exported in module.__all__})
            if name in package.__dict__:  # `get_x` is the function its module exports, not the module
                return package.__dict__[name]
            if candidate == name:  # a module still loading (``outputs`` imports itself): bound once loaded
                return module
        fully_loaded = True
        FULLY_LOADED.append(package.__name__)
        real_loader.exec_module(package)  # the real __init__: every star import, in its order
        if name in package.__dict__:
            return package.__dict__[name]
        raise AttributeError(f"module {package.__name__!r} has no attribute {name!r}")

    return __getattr__


def _candidates(name: str, submodules: list[str]) -> list[str]:
    """The submodules that may export ``name``, most likely first; only ones the real ``__init__`` imports."""
    if name in submodules or name == "outputs":
        return [name]
    # Model, ModelArgs, ModelArgsDict; BucketLoggingInitArgs where BucketLoggingArgs names an input type
    guesses = (snake_case(name.removesuffix("Dict").removesuffix("Args").removesuffix("Init")),
               snake_case(name.removeprefix("Awaitable").removesuffix("Result")),  # a function's result types
               snake_case(name).removesuffix("_output"))  # get_x and get_x_output
    found = [module for module in guesses if module in submodules]
    return [*dict.fromkeys(found), *(m for m in SHARED_MODULES if m in submodules)]


def snake_case(name: str) -> str:
    """``EndpointConfiguration`` -> ``endpoint_configuration``, ``BucketV2`` -> ``bucket_v2``: the generator's
    module names for its resource classes."""
    return _CAMEL_BREAK.sub("_", name).lower()


def star_imported_modules(init_file: Path) -> list[str] | None:
    """The submodules a generated service ``__init__`` star-imports, in order; None if it does anything else."""
    try:
        text = init_file.read_text()
    except OSError:
        return None
    modules = []
    for line in map(str.strip, text.splitlines()):
        if not line or line.startswith("#") or line in INIT_LINES:
            continue
        match = STAR_IMPORT.fullmatch(line)
        if match is None:
            return None
        modules.append(match[1])
    return modules


def install() -> None:
    """Put the finder first on ``sys.meta_path`` (once).

    ``import pulumi_aws`` finds every service package's spec up front and loads a package on its first
    attribute; the packages it found before this call and has not loaded yet get the loader too. A package
    already loaded keeps what it loaded."""
    if not any(isinstance(finder, _ServicePackageFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, _ServicePackageFinder())
    for name, module in list(sys.modules.items()):
        if _is_service(name) and type(module).__name__ == "_LazyModule":  # pulumi's lazy_import, still unloaded
            _take_over(module.__spec__)  # __spec__ is read without loading it
