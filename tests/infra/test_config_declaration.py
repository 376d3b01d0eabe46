"""Each config key is declared once, as a settings field; Pulumi.yaml's config block is generated from it."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest
import yaml

from infra import config as cfg
from infra import config_parsers as p
from infra import config_schema as schema
from prodline import stack_files
from standards import environments as envs
from tests.helpers import STACKS

PROJECT_TEXT = stack_files.PROJECT_FILE.read_text()


def test_committed_pulumi_yaml_is_what_the_declaration_generates():
    wanted = schema.render_project_file(PROJECT_TEXT, cfg.KEYS)
    assert wanted == PROJECT_TEXT, f"Pulumi.yaml is stale; run `{schema.GENERATE_COMMAND}` and commit the result"


def test_check_fails_on_a_stale_block_and_write_repairs_it(tmp_path, capsys):
    stale = tmp_path / "Pulumi.yaml"
    stale.write_text(PROJECT_TEXT.replace("default: 90", "default: 91"))

    assert cfg.main(["--check", "--file", str(stale)]) == 1
    assert "-    default: 91" in capsys.readouterr().err

    assert cfg.main(["--write-pulumi-yaml", "--file", str(stale)]) == 0
    assert stale.read_text() == PROJECT_TEXT
    assert cfg.main(["--check", "--file", str(stale)]) == 0


def test_regeneration_keeps_the_rest_of_the_project_file():
    hand_written = ("name: prodline\nruntime: python\n\n# an old comment\nconfig:\n  aws:region: us-east-2\n"
                    "  lakeRetentionDays: 5\n\nbackend:\n  url: file://.\n")
    generated = schema.render_project_file(hand_written, cfg.KEYS)
    doc = yaml.safe_load(generated)

    assert generated.startswith("name: prodline\nruntime: python\n\n" + schema.CONFIG_HEADER)
    assert "an old comment" not in generated
    assert generated.endswith("\nbackend:\n  url: file://.\n")
    assert doc["config"]["aws:region"] == "us-east-2"
    assert doc["config"]["lakeRetentionDays"]["default"] == 90
    assert schema.render_project_file(generated, cfg.KEYS) == generated


def test_pulumi_yaml_header_names_the_command():
    assert f"`{schema.GENERATE_COMMAND}`" in PROJECT_TEXT
    assert yaml.safe_load(PROJECT_TEXT)["main"] == "infra/"


def test_stack_files_read_the_declared_defaults():
    defaults = stack_files.project_defaults(yaml.safe_load(PROJECT_TEXT))
    declared = {f"prodline:{k.name}": k.default for k in cfg.KEYS.values() if not k.required}
    assert {k: v for k, v in defaults.items() if k.startswith("prodline:")} == declared
    assert defaults["aws:region"] == "eu-west-1"


@pytest.mark.parametrize("stack", STACKS)
def test_every_key_lands_on_its_declaring_attribute(stack):
    raw = stack_files.load(stack)
    config = cfg.parse_config(raw, stack)
    for key in cfg.KEYS.values():
        value = getattr(getattr(config, key.concern), key.attribute)
        assert value == key.parse(cfg._as_text(raw[f"prodline:{key.name}"])), key.name


def test_schema_type_follows_the_field_annotation():
    kinds = {name: key.kind for name, key in cfg.KEYS.items()}
    assert kinds["servingServerless"] == "boolean"
    assert kinds["etlNumberOfWorkers"] == "integer"
    assert kinds["trainingQualityThreshold"] == "string"  # a float travels as a string
    assert kinds["owner"] == "string"


def test_required_keys_come_first_then_field_order():
    names = list(cfg.KEYS)
    assert names[:4] == ["environment", "owner", "costCenter", "alertEmail"]
    assert names[4:7] == ["lakeRetentionDays", "lakeRawTransitionDays", "logRetentionDays"]


@dataclass(frozen=True)
class _First:
    days: int = schema.setting("days", p.integer(1), "Days.", default=1)


@dataclass(frozen=True)
class _Second:
    also_days: int = schema.setting("days", p.integer(1), "Days again.", default=2)


@dataclass(frozen=True)
class _Both:
    first: _First
    second: _Second


def test_a_key_declared_twice_is_rejected():
    twice = "config key days is declared twice: first.days and second.also_days"
    with pytest.raises(TypeError, match=re.escape(twice)):
        schema.key_table(_Both)


def test_a_default_of_the_wrong_type_is_rejected():
    @dataclass(frozen=True)
    class Bad:
        days: int = schema.setting("days", p.integer(1), "Days.", default="1")

    wrong = "Bad.days (days): default '1' is not of the Pulumi.yaml type integer"
    with pytest.raises(TypeError, match=re.escape(wrong)):
        schema.settings_of(Bad, "bad")


def test_a_type_with_no_schema_type_is_rejected():
    @dataclass(frozen=True)
    class Bad:
        days: bytes = schema.setting("days", p.text, "Days.", default="")

    with pytest.raises(TypeError, match=re.escape("type <class 'bytes'> has no Pulumi.yaml schema type")):
        schema.settings_of(Bad, "bad")


def test_per_environment_rules_read_the_environment_tables(monkeypatch):
    monkeypatch.setitem(envs.MIN_SERVING_CAPACITY, "dev", 2)
    monkeypatch.setitem(envs.MAX_SERVING_CAPACITY, "dev", 3)
    with pytest.raises(cfg.ConfigError) as err:
        cfg.parse_config({**stack_files.load("dev"), "prodline:servingMaxCapacity": "2"}, "dev")
    assert "prodline:servingMinCapacity: 1 is not allowed in dev; it needs at least 2" in str(err.value)


def test_kubernetes_replica_rules_apply_only_on_kubernetes():
    raw = {**stack_files.load("prod"), "prodline:k8sMinReplicas": "1"}
    assert cfg.parse_config(raw, "prod").kubernetes.min_replicas == 1
