"""The whole program, for each shipped stack, under the recording mocks."""

from __future__ import annotations

import pytest

from infra.tags import type_takes_tags
from tests.helpers import OWNERSHIP_TAGS, STACKS, named, of_type, stack_registrations

CORE_TYPES = {
    "aws:s3/bucket:Bucket",
    "aws:kms/key:Key",
    "aws:glue/catalogDatabase:CatalogDatabase",
    "aws:glue/catalogTable:CatalogTable",
    "aws:glue/job:Job",
    "aws:glue/trigger:Trigger",
    "aws:iam/role:Role",
    "aws:cloudwatch/logGroup:LogGroup",
}


@pytest.mark.parametrize("stack", STACKS)
def test_program_builds_the_core_of_the_stack(stack):
    types = {r.type for r in stack_registrations(stack)}
    assert types >= CORE_TYPES, f"{stack} is missing {CORE_TYPES - types}"


@pytest.mark.parametrize("stack", STACKS)
def test_every_taggable_resource_carries_the_ownership_tags(stack):
    expected_env = stack
    checked = 0
    for r in stack_registrations(stack):
        if not r.custom or not type_takes_tags(r.type):
            continue
        tags = r.inputs.get("tags") or {}
        missing = [t for t in OWNERSHIP_TAGS if t not in tags]
        assert not missing, f"{r.type} {r.name} lacks tags {missing}"
        assert tags["environment"] == expected_env, r.name
        assert tags["project"] == "prodline" and tags["managed-by"] == "pulumi", r.name
        checked += 1
    assert checked >= 15, f"only {checked} taggable resources in {stack}"


def test_untaggable_types_are_left_alone():
    for r in stack_registrations("dev"):
        if r.custom and not type_takes_tags(r.type):
            assert "tags" not in r.inputs, f"{r.type} {r.name} got tags it cannot take"


def test_resource_tags_keep_their_own_keys_but_not_ownership_overrides():
    import pulumi_aws as aws

    from infra.tags import register_ownership_tags
    from tests.helpers import component_registrations

    def program():
        register_ownership_tags({"owner": "team", "environment": "dev"})
        aws.s3.Bucket("b", tags={"purpose": "demo", "owner": "someone-else"})

    (bucket,) = component_registrations(program)
    assert bucket.inputs["tags"] == {"purpose": "demo", "owner": "team", "environment": "dev"}


@pytest.mark.parametrize(("stack", "job_type", "engine"), [("dev", "pythonshell", "pandas"),
                                                          ("prod", "glueetl", "spark")])
def test_etl_job_type_follows_config(stack, job_type, engine):
    regs = stack_registrations(stack)
    etl = [job for job in of_type(regs, "aws:glue/job:Job") if job.name in ("validate-job", "features-job")]
    assert len(etl) == 2
    for job in etl:
        assert job.inputs["command"]["name"] == job_type
        assert job.inputs["defaultArguments"]["--engine"] == engine
    monitoring = [job for job in of_type(regs, "aws:glue/job:Job") if job not in etl]
    assert {job.inputs["command"]["name"] for job in monitoring} == {"pythonshell"}, \
        "the monitoring jobs are small: Python shell whatever the ETL runs on"


def test_features_job_starts_after_validation():
    regs = stack_registrations("dev")
    trigger = named(regs, "features-after")
    assert trigger.inputs["predicate"]["conditions"][0]["jobName"] == "prodline-dev-validate"


def test_catalog_tables_follow_the_declared_schema():
    from workloads.etl import schema

    regs = stack_registrations("dev")
    columns = named(regs, "lake-table-features_churn").inputs["storageDescriptor"]["columns"]
    assert [c["name"] for c in columns] == [c.name for c in schema.FEATURES_COLUMNS]


def test_only_dev_buckets_may_be_force_destroyed():
    assert all(b.inputs["forceDestroy"] for b in of_type(stack_registrations("dev"), "aws:s3/bucket:Bucket"))
    assert not any(b.inputs["forceDestroy"] for b in of_type(stack_registrations("prod"), "aws:s3/bucket:Bucket"))


def test_features_job_may_read_the_curated_run_manifests():
    import json

    regs = stack_registrations("dev")
    statements = json.loads(named(regs, "features-role-policy").inputs["policy"])["Statement"]
    read = next(s for s in statements if s["Sid"] == "ReadCurated")
    assert any(r.endswith("/_runs/churn/*") for r in read["Resource"])
