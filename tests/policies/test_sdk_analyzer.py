"""`prodline policy` against the policy SDK's own analyzer, the code the Pulumi CLI talks to over gRPC.

The analyzer servicer is driven directly (no server, no CLI): configured with the pack's config for an
environment, then asked to Analyze each resource and AnalyzeStack, with the properties serialized as the
engine sends them. The offline runner must reach the same verdict: same rules, resources and levels.
"""

from __future__ import annotations

import json

import pulumi
import pytest
from google.protobuf import json_format, struct_pb2
from pulumi.runtime.proto import analyzer_pb2 as proto
from pulumi_policy import EnforcementLevel
from pulumi_policy.policy import _PolicyAnalyzerServicer

from policies.pack_config import pack_config
from policies.registry import RULES
from prodline.policy_runner import evaluate
from prodline.preview import to_jsonable
from prodline.program import RecordingMocks
from tests.helpers import stack_registrations
from tests.policies.cases import REGION, changed_stack, without

LEVELS = {proto.ADVISORY: "advisory", proto.MANDATORY: "mandatory"}


def _struct(props: dict) -> struct_pb2.Struct:
    return json_format.ParseDict(json.loads(json.dumps(props)), struct_pb2.Struct())


def sdk_verdict(registrations, environment: str) -> set[tuple[str, str, str]]:
    """(rule, URN, level) of every violation the SDK's analyzer reports."""
    servicer = _PolicyAnalyzerServicer("prodline", "0.1.0", list(RULES), EnforcementLevel.MANDATORY)
    config = proto.ConfigureAnalyzerRequest()
    for name, entry in pack_config(environment).items():
        level = getattr(proto, entry["enforcementLevel"].upper())
        config.policyConfig[name].CopyFrom(proto.PolicyConfig(enforcementLevel=level,
                                                              properties=_struct({"environment": environment})))
    servicer.Configure(config, None)

    found = set()
    mocks = RecordingMocks(REGION)
    resources = []
    for r in registrations:
        inputs = to_jsonable(r.inputs)
        response = servicer.Analyze(proto.AnalyzeRequest(type=r.type, properties=_struct(inputs), urn=r.urn,
                                                         name=r.name), None)
        found |= {(d.policyName, d.urn or r.urn, LEVELS[d.enforcementLevel]) for d in response.diagnostics}
        _, outputs = mocks.new_resource(pulumi.runtime.MockResourceArgs(r.type, r.name, inputs, custom=r.custom))
        resources.append(proto.AnalyzerResource(type=r.type, properties=_struct({**inputs, **outputs}), urn=r.urn,
                                                name=r.name, parent=r.parent or "", dependencies=r.dependencies))
    response = servicer.AnalyzeStack(proto.AnalyzeStackRequest(resources=resources), None)
    found |= {(d.policyName, d.urn, LEVELS[d.enforcementLevel]) for d in response.diagnostics}
    return found


def runner_verdict(registrations, environment: str) -> set[tuple[str, str, str]]:
    report = evaluate(registrations, stack=environment, environment=environment, region=REGION)
    return {(v.rule, v.urn, v.enforcement) for v in report.violations}


def _broken(stack: str):
    regs = stack_registrations(stack)
    regs = without(regs, "lake-raw-encryption", "lake-curated-logging")
    return changed_stack(regs, "observability-alerts", "kmsMasterKeyId", "alias/aws/sns")


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_the_sdk_analyzer_and_the_runner_agree_on_a_clean_stack(stack):
    assert sdk_verdict(stack_registrations(stack), stack) == runner_verdict(stack_registrations(stack), stack) == set()


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_the_sdk_analyzer_and_the_runner_agree_on_a_broken_stack(stack):
    regs = _broken(stack)
    verdict = sdk_verdict(regs, stack)
    assert verdict == runner_verdict(regs, stack)
    rules = {rule for rule, _, _ in verdict}
    assert rules == {"s3-bucket-encrypted-with-kms", "s3-bucket-access-logging", "sns-topic-encrypted"}
    logging_level = {level for rule, _, level in verdict if rule == "s3-bucket-access-logging"}
    assert logging_level == {"advisory" if stack == "dev" else "mandatory"}
