"""Build a provider service's argument and output types one class at a time, when something first names them.

A generated ``pulumi_aws.<service>._inputs`` module defines every argument type of the service (``aws.sagemaker``:
820 classes in 1.5 MB) and ``outputs`` every output type; each resource module star-imports ``_inputs``.
Building those classes (typing subscripts, ``@pulumi.input_type``) was a quarter of ``prodline preview``'s time
for the few dozen types the program's resources refer to.

Both files are a header (imports, ``__all__``) followed by top-level classes that refer to each other only by
quoted name, so a class can be built on its own. ``ClassModuleLoader`` runs the header and gives the module a
``__getattr__`` that compiles a named class's own lines (same file name and line numbers, so tracebacks and
``inspect`` are unchanged) together with every class of the file it names in quotes: Pulumi resolves those
names in the module's globals when it reads a type's hints, so they must be there by then.

A resource module's ``from ._inputs import *`` would still ask for every name. ``StarImportLoader`` runs a
resource module with the ``_inputs`` module's ``__all__`` narrowed to the argument types the resource module's
own source mentions, for that import only. Anyone else (the real package ``__init__`` included) sees the whole
``__all__``. A file whose classes cannot be told apart this way is loaded by its own loader, whole.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.util
import marshal
import os
import re
import sys
import tempfile
import threading
from pathlib import Path
from types import CodeType, ModuleType

CLASS_START = re.compile(r"^(?:@[^\n]*\n)*class (\w+)\b", re.MULTILINE)
"""A top-level class statement with its decorators: where one class of a generated types file begins."""
QUOTED_NAME = re.compile(r"'(\w+)'")
ARGUMENT_TYPE = re.compile(r"'(\w+Args(?:Dict)?)'")
"""How a resource module names an argument type: in quotes, in annotations (``_inputs`` exports only names that
end so). A search for the bare words finds the same names in every module the program loads (a test checks)
and takes forty times longer."""
TYPES_MODULES = ("_inputs", "outputs")
CACHE_SUFFIX = ".prodline-classes"

_narrowed = threading.local()


class ClassSpans:
    """Where each class of a types file starts and ends, and the header before the first."""

    def __init__(self, text: str):
        self.text = text
        matches = list(CLASS_START.finditer(text))
        starts = [match.start() for match in matches]
        self.header_end = starts[0] if starts else len(text)
        self.spans: dict[str, tuple[int, int, int]] = {}
        line, previous = 1, 0
        ends = [*starts[1:], len(text)] if starts else []
        for match, end in zip(matches, ends, strict=True):
            line += text.count("\n", previous, match.start())
            previous = match.start()
            self.spans[match[1]] = (match.start(), end, line)

    def source(self, name: str) -> tuple[str, int]:
        start, end, line = self.spans[name]
        return self.text[start:end], line


class CompiledTypes:
    """A types file's header and classes as code, each class with the classes it names in quotes.

    Compiling a class costs about as much as building it, so the code is kept beside the file's bytecode
    (``__pycache__/<name>.<tag>.prodline-classes``: one marshalled code object per class, read back only
    for the classes a run builds), checked against the source's modification time and size and the
    interpreter's bytecode version. It is written where Python would write bytecode (not under
    ``PYTHONDONTWRITEBYTECODE``; the set-up's preview writes it); without it each class is compiled from its
    lines when first built."""

    def __init__(self, header: CodeType, names: list[str], *, compiled: dict[str, bytes],
                 quotes: dict[str, tuple[str, ...]], spans: ClassSpans | None = None, path: str = ""):
        self.header, self.names, self.known = header, names, frozenset(names)
        self.compiled, self.quotes, self.spans, self.path = compiled, quotes, spans, path

    def code(self, name: str) -> CodeType:
        if name in self.compiled:
            return marshal.loads(self.compiled[name])
        source, line = self.spans.source(name)
        return _compile("\n" * (line - 1) + source, self.path)

    def quoted(self, name: str) -> tuple[str, ...]:
        if name not in self.quotes:
            self.quotes[name] = tuple(dict.fromkeys(
                quoted for quoted in QUOTED_NAME.findall(self.spans.source(name)[0]) if quoted in self.spans.spans))
        return self.quotes[name]

    @classmethod
    def of(cls, path: str) -> CompiledTypes | None:
        """The file's compiled types, from the cache when it is current; None for a file without classes."""
        cache = Path(importlib.util.cache_from_source(path)).with_suffix(CACHE_SUFFIX)
        source_stat = os.stat(path)
        key = (importlib.util.MAGIC_NUMBER, source_stat.st_mtime_ns, source_stat.st_size)
        try:
            stored_key, header, names, compiled, quotes = marshal.loads(cache.read_bytes())
            if stored_key == key:
                return cls(header, names, compiled=compiled, quotes=quotes)
        except (OSError, ValueError, EOFError, TypeError):
            pass  # no cache, another interpreter's, or a damaged one: built again below
        spans = ClassSpans(Path(path).read_text(encoding="utf-8"))
        if not spans.spans:
            return None
        types = cls(_compile(spans.text[:spans.header_end], path), list(spans.spans), compiled={}, quotes={},
                    spans=spans, path=path)
        if not sys.dont_write_bytecode:
            types.compiled = {name: marshal.dumps(types.code(name)) for name in types.names}
            for name in types.names:
                types.quoted(name)
            _write_atomically(cache, marshal.dumps((key, types.header, types.names, types.compiled, types.quotes)),
                              mode=source_stat.st_mode & 0o666)
        return types


def _compile(source: str, path: str) -> CodeType:
    # dont_inherit: this module's `from __future__ import annotations` must not turn the provider's into strings
    return compile(source, path, "exec", dont_inherit=True)


def _write_atomically(path: Path, data: bytes, mode: int) -> None:
    """Write ``data`` to ``path`` through a temporary file, readable as the source is (as Python writes
    bytecode); a directory we cannot write to just means no cache."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}.", delete=False) as scratch:
            scratch.write(data)
        os.chmod(scratch.name, mode)
        os.replace(scratch.name, path)
    except OSError:
        with contextlib.suppress(OSError, NameError):
            os.unlink(scratch.name)


class ClassModule(ModuleType):
    """A types module whose classes are built on first use; ``__all__`` is narrowed during a resource import."""

    _prodline_types: CompiledTypes

    @property
    def __all__(self) -> list[str]:
        narrowed = getattr(_narrowed, "names", {}).get(self.__name__)
        return narrowed if narrowed is not None else self.__dict__["__all__"]

    def __getattr__(self, name: str):
        types = self.__dict__.get("_prodline_types")
        if types is None or name not in types.known:
            raise AttributeError(f"module {self.__name__!r} has no attribute {name!r}")
        define(self, name)
        return self.__dict__[name]


def define(module: ClassModule, name: str) -> None:
    """Build ``name`` and every class it names in quotes, transitively, in the module's namespace."""
    types, namespace = module._prodline_types, module.__dict__
    pending = [name]
    while pending:
        current = pending.pop()
        if current in namespace:
            continue
        exec(types.code(current), namespace)
        if current not in namespace:
            raise ImportError(f"{module.__name__}: the lines of {current} did not define it", name=module.__name__)
        pending.extend(quoted for quoted in types.quoted(current) if quoted not in namespace)


class ClassModuleLoader(importlib.abc.Loader):
    """Loads ``_inputs`` / ``outputs`` as a ``ClassModule``; a file without classes keeps the real loader."""

    def __init__(self, real_loader: importlib.abc.Loader):
        self.real_loader = real_loader

    def create_module(self, spec):
        return None

    def exec_module(self, module: ModuleType) -> None:
        types = CompiledTypes.of(module.__file__)
        if types is None:
            self.real_loader.exec_module(module)
            return
        module.__class__ = ClassModule
        module.__dict__["_prodline_types"] = types
        exec(types.header, module.__dict__)


class StarImportLoader(importlib.abc.Loader):
    """Runs a resource module with its package's ``_inputs`` narrowed to the types the module mentions."""

    def __init__(self, real_loader: importlib.abc.Loader):
        self.real_loader = real_loader

    def create_module(self, spec):
        return self.real_loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        package = module.__name__.rpartition(".")[0]
        inputs = _import(f"{package}._inputs")
        types = getattr(inputs, "_prodline_types", None) if isinstance(inputs, ClassModule) else None
        if types is None:
            self.real_loader.exec_module(module)
            return
        mentioned = set(ARGUMENT_TYPE.findall(Path(module.__file__).read_text(encoding="utf-8")))
        names = _narrowed.__dict__.setdefault("names", {})
        previous = names.get(inputs.__name__)
        names[inputs.__name__] = sorted(mentioned & types.known)
        try:
            self.real_loader.exec_module(module)
        finally:
            if previous is None:
                names.pop(inputs.__name__, None)
            else:
                names[inputs.__name__] = previous


def _import(name: str) -> ModuleType | None:
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


def loader_for(name: str, real_loader: importlib.abc.Loader) -> importlib.abc.Loader:
    """The loader a module of a taken-over service package gets: by class, narrowed, or its own."""
    leaf = name.rpartition(".")[2]
    if leaf in TYPES_MODULES:
        return ClassModuleLoader(real_loader)
    if leaf.startswith("_"):  # _enums, _utilities: small, and not star-importers of _inputs
        return real_loader
    return StarImportLoader(real_loader)
