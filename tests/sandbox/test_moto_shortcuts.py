"""moto's per-request questions are answered once, with the answers moto itself gives (tests/conftest.py installs
the shortcuts for the whole session, as the emulator's server does at its start)."""

from __future__ import annotations

import inspect
import os

import moto
import pytest
from moto import backends
from moto.core import responses
from moto.glue.responses import GlueResponse
from moto.sagemaker.responses import SageMakerResponse

from prodline.sandbox import moto_shortcuts


def _listed_by_moto() -> list[str]:
    """What moto's own ``list_of_moto_modules`` yields: its package's directories, not the dunder ones."""
    path = os.path.dirname(moto.__file__)
    return [name for name in sorted(os.listdir(path))
            if os.path.isdir(os.path.join(path, name)) and not name.startswith("__")]


def test_the_services_are_moto_s_own_listing_read_without_the_filesystem(monkeypatch):
    moto_shortcuts.install()
    expected = _listed_by_moto()
    assert {"s3", "sagemaker", "glue", "ssm"} <= set(expected)

    def no_listing(*args):
        raise AssertionError("listed moto's package directory again")

    monkeypatch.setattr(os, "listdir", no_listing)
    assert list(backends.list_of_moto_modules()) == expected
    assert "s3" in backends.list_of_moto_modules() and "not-a-service" not in backends.list_of_moto_modules()


@pytest.mark.parametrize(("response_class", "action"), [(SageMakerResponse, "list_endpoints"),
                                                         (GlueResponse, "get_databases")])
def test_a_class_s_actions_are_collected_once_and_are_its_functions(monkeypatch, response_class, action):
    moto_shortcuts.install()
    expected = {name for name, _ in inspect.getmembers(response_class, predicate=inspect.isfunction)}
    assert action in expected
    assert responses.method_names_from_class(response_class) == expected

    def no_collecting(*args, **kwargs):
        raise AssertionError("collected the class's members again")

    monkeypatch.setattr(inspect, "getmembers", no_collecting)
    assert responses.method_names_from_class(response_class) == expected


def test_installing_twice_keeps_one_shortcut():
    moto_shortcuts.install()
    first = (backends.list_of_moto_modules, responses.method_names_from_class)
    moto_shortcuts.install()
    assert (backends.list_of_moto_modules, responses.method_names_from_class) == first


@pytest.mark.parametrize(("module", "name"), [(backends, "list_of_moto_modules"),
                                              (responses, "method_names_from_class")])
def test_a_moto_without_the_function_is_refused_by_name(monkeypatch, module, name):
    monkeypatch.delattr(module, name)
    with pytest.raises(RuntimeError, match=f"{module.__name__} has no {name}"):
        moto_shortcuts.install()
