"""Two things moto works out again on every request, though the answer never changes, worked out once.

- Which service a request's host names: moto's server lists its own package directory (``os.listdir`` and an
  ``isdir`` for each of its ~170 entries) to see whether the host is a service's name, for every request.
- Which actions a service has: each call of an action collects the response class's functions with
  ``inspect.getmembers`` (a few hundred members for SageMaker or Glue) to check that the action is one of them.

Measured with moto 5.2.5 on a warm server (py-spy, the interpreter lock held, 1,200 ``HeadObject`` and
``ListEndpoints`` calls): the two were 9% of the server's time. The package directory is the installed moto's and
a class's functions are fixed once it is defined, so the answers are the same; ``install`` checks that both
functions are still where this module expects them, and fails loudly after a moto upgrade that moved them.
"""

from __future__ import annotations

import functools


def install() -> None:
    """Replace the two functions in the modules that call them (idempotent)."""
    from moto import backends
    from moto.core import responses

    for module, name in ((backends, "list_of_moto_modules"), (responses, "method_names_from_class")):
        if not callable(getattr(module, name, None)):
            raise RuntimeError(f"{module.__name__} has no {name} to replace: check prodline.sandbox.moto_shortcuts "
                               "against the installed moto")
    if getattr(backends.list_of_moto_modules, "once", False):
        return
    modules = tuple(backends.list_of_moto_modules())
    backends.list_of_moto_modules = _once(lambda: modules)
    responses.method_names_from_class = _once(functools.cache(_frozen(responses.method_names_from_class)))


def _frozen(names_of):
    def method_names(clazz: object) -> frozenset[str]:
        return frozenset(names_of(clazz))

    return method_names


def _once(function):
    function.once = True
    return function
