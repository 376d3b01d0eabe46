"""Run the policy pack on the offline preview: the rules `pulumi preview --policy-pack policies` runs, no engine.

It builds ``pulumi_policy``'s argument objects by hand, as the SDK's own analyzer does for ``Analyze``
(one call per resource, components included) and ``AnalyzeStack`` (the whole stack), and calls each
rule's ``validate`` with the enforcement level the environment gives it (``DISABLED`` rules do not run).

Where the offline view differs from the engine's, and why the rules do not mind:
- Resource rules see the program's inputs as written; the engine adds provider defaults first. Rules
  never rely on those defaults.
- Stack rules see the recording mocks' outputs (the inputs plus plausible ids, names and ARNs, the
  same ones ``prodline preview`` shows) where the engine shows real outputs.
- Property dependencies are not recorded (the preview JSON has none), so stack rules link resources by
  value too (``policies/rules/links.py``). A caller that has them (from an engine plan, or a test emulating
  a preview where values are unknown) passes them in.
Properties are wrapped in the SDK's unknown-checking proxies, so a rule that treats them as dicts, or
trips on a value unknown during preview, fails here as it would under the CLI.
"""

from __future__ import annotations

import asyncio
import inspect
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pulumi
from pulumi_policy import (
    EnforcementLevel,
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    StackValidationArgs,
)
from pulumi_policy.deserialize import deserialize_properties
from pulumi_policy.proxy import UnknownValueError, unknown_checking_proxy

from policies.registry import RULES
from policies.rule import ResourceRule, Rule, StackRule
from prodline.collector import collector_paused
from prodline.preview import to_jsonable
from prodline.program import RecordingMocks, Registration

REGISTRATION_FIELDS = {"type": (str,), "name": (str,), "urn": (str,), "parent": (str, type(None)),
                       "custom": (bool,), "inputs": (dict,), "dependencies": (list,)}
"""Each field a resource of ``prodline preview --json`` has, and the JSON types it may hold."""
JSON_TYPES = {str: "a string", type(None): "null", bool: "true or false", dict: "an object", list: "an array",
              int: "a number", float: "a number"}


class PreviewFileError(ValueError):
    """A --preview-json file that cannot be read; the message says what is wrong with it."""


@dataclass(frozen=True)
class Violation:
    rule: str
    enforcement: str
    """mandatory or advisory."""
    resource: str
    """The resource's name (the stack's, for a violation of the whole stack)."""
    resource_type: str
    urn: str
    message: str


@dataclass(frozen=True)
class Report:
    stack: str
    environment: str
    violations: list[Violation] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    """Rules that could not judge some value (unknown during preview), one line each; the engine warns the same."""

    @property
    def mandatory(self) -> list[Violation]:
        return [v for v in self.violations if v.enforcement == EnforcementLevel.MANDATORY.value]

    def as_dict(self) -> dict[str, Any]:
        return {"stack": self.stack, "environment": self.environment,
                "mandatory": len(self.mandatory), "advisory": len(self.violations) - len(self.mandatory),
                "violations": [asdict(v) for v in self.violations], "skipped": self.skipped}


def load_preview_json(path: str | Path) -> list[Registration]:
    """Registrations from a saved ``prodline preview --json`` output."""
    try:
        records = json.loads(Path(path).read_text())
    except OSError as err:
        raise PreviewFileError(f"--preview-json {path}: cannot read it ({err.strerror})") from None
    except (ValueError, RecursionError) as err:  # RecursionError: nested deeper than the parser goes
        raise PreviewFileError(f"--preview-json {path}: not JSON ({err})") from None
    if not isinstance(records, list):
        raise PreviewFileError(f"--preview-json {path}: expected a list of resources, as `prodline preview --json` "
                               "writes")
    registrations = []
    for index, record in enumerate(records):
        absent = [key for key in REGISTRATION_FIELDS if not isinstance(record, dict) or key not in record]
        if absent:
            raise PreviewFileError(f"--preview-json {path}: resource #{index + 1} lacks {', '.join(absent)}")
        problem = _type_problem(record)
        if problem:
            raise PreviewFileError(f"--preview-json {path}: resource #{index + 1}: {problem}")
        registrations.append(Registration(**{key: record[key] for key in REGISTRATION_FIELDS}))
    return registrations


class PlanError(ValueError):
    """A plan that cannot stand for the stack it is judged as: it is empty, or it is another stack's."""


def urn_stack(urn: str) -> str | None:
    """The stack a Pulumi URN (``urn:pulumi:<stack>::<project>::<type>::<name>``) belongs to; None if it is not one."""
    head, separator, _ = urn.partition("::") if isinstance(urn, str) else ("", "", "")
    return head.removeprefix("urn:pulumi:") if separator and head.startswith("urn:pulumi:") else None


def check_plan(registrations: Sequence[Registration], stack: str, source: str) -> None:
    """Refuse a plan that would prove nothing about ``stack``: one with no resources (every rule passes on nothing),
    or one whose resources belong to another stack (their URNs say which)."""
    save = f"save the stack's own with `prodline preview --stack {stack} --json`"
    if not registrations:
        raise PlanError(f"{source}: the plan has no resources, and an empty plan passes every rule without showing "
                        f"anything; {save}")
    for registration in registrations:
        found = urn_stack(registration.urn)
        if found is None:
            raise PlanError(f"{source}: resource {registration.name} has no Pulumi URN ({registration.urn!r}), so "
                            f"nothing shows the plan is stack {stack}'s; {save}")
        if found != stack:
            raise PlanError(f"{source}: the plan is of stack {found!r} (the URN of resource {registration.name}), "
                            f"not --stack {stack!r}, whose rules and levels it would be judged by; judge it with "
                            f"--stack {found}, or {save}")


def _type_problem(record: dict[str, Any]) -> str | None:
    """The first field of a resource whose JSON type is wrong, as ``field: expected X, got Y``; None if none is."""
    for key, types in REGISTRATION_FIELDS.items():
        if not isinstance(record[key], types):
            return _wrong(key, " or ".join(JSON_TYPES[t] for t in types), record[key])
    for position, urn in enumerate(record["dependencies"]):
        if not isinstance(urn, str):
            return _wrong(f"dependencies[{position}]", "a string (a URN)", urn)
    return None


def _wrong(field: str, expected: str, value: Any) -> str:
    return f"{field}: expected {expected}, got {JSON_TYPES.get(type(value), type(value).__name__)} {value!r:.60}"


def stack_urn(stack: str, project: str = "prodline") -> str:
    return f"urn:pulumi:{stack}::{project}::pulumi:pulumi:Stack::{project}-{stack}"


def evaluate(registrations: Sequence[Registration], *, stack: str, environment: str, region: str,
             rules: Iterable[Rule] = RULES,
             property_dependencies: Mapping[str, Mapping[str, list[str]]] | None = None) -> Report:
    """Run every rule enabled in ``environment`` on the registrations; collect what they report.

    ``property_dependencies``: URN -> property -> URNs it depends on, where known.
    """
    with collector_paused():  # as during the program run: every rule's objects live to the end
        return _evaluate(registrations, stack=stack, environment=environment, region=region, rules=rules,
                         property_dependencies=property_dependencies or {})


def _evaluate(registrations: Sequence[Registration], *, stack: str, environment: str, region: str,
              rules: Iterable[Rule], property_dependencies: Mapping[str, Mapping[str, list[str]]]) -> Report:
    report = Report(stack=stack, environment=environment)
    inputs = [to_jsonable(r.inputs) for r in registrations]
    mocks = RecordingMocks(region)
    stack_resources = _stack_resources(registrations, inputs, mocks, property_dependencies)
    names = {r.urn: (r.name, r.type) for r in registrations}
    for rule in rules:
        level = rule.levels[environment]
        if level == EnforcementLevel.DISABLED:
            continue
        config = {"environment": environment}

        def reporter(default_urn: str, rule=rule, level=level):
            def report_violation(message: str, urn: str | None = None) -> None:
                target = urn or default_urn
                name, type_token = names.get(target, (f"prodline-{stack}", "pulumi:pulumi:Stack"))
                report.violations.append(Violation(rule.name, level.value, name, type_token, target, message))
            return report_violation

        if isinstance(rule, StackRule):
            _run(rule, StackValidationArgs(stack_resources, config), reporter(stack_urn(stack)), report, "the stack")
            continue
        assert isinstance(rule, ResourceRule)
        for registration, props in zip(registrations, inputs, strict=True):
            if not rule.applies_to(registration.type):
                continue
            args = ResourceValidationArgs(registration.type, _props(props), registration.urn, registration.name,
                                          _options(registration), None, config)
            _run(rule, args, reporter(registration.urn), report, registration.name)
    return report


def _run(rule: Rule, args, report_violation, report: Report, subject: str) -> None:
    try:
        result = rule.validate(args, report_violation)
        if inspect.isawaitable(result):
            asyncio.run(_wait(result))
    except UnknownValueError as err:
        report.skipped.append(f"{rule.name} on {subject}: {err.message}")


async def _wait(awaitable) -> None:
    await awaitable


def _props(props: dict[str, Any]):
    return unknown_checking_proxy(deserialize_properties(props))


def _options(registration: Registration) -> PolicyResourceOptions:
    return PolicyResourceOptions(protect=False, ignore_changes=[], delete_before_replace=None, aliases=[],
                                 custom_timeouts=PolicyCustomTimeouts(0, 0, 0), additional_secret_outputs=[],
                                 parent=registration.parent)


def _stack_resources(registrations: Sequence[Registration], inputs: list[dict[str, Any]], mocks: RecordingMocks,
                     property_dependencies: Mapping[str, Mapping[str, list[str]]]) -> list[PolicyResource]:
    """The stack as AnalyzeStack sees it: outputs as props, parents and dependencies linked as objects."""
    resources = []
    for registration, props in zip(registrations, inputs, strict=True):
        _, outputs = mocks.new_resource(pulumi.runtime.MockResourceArgs(
            registration.type, registration.name, props, custom=registration.custom))
        resources.append(PolicyResource(registration.type, _props({**props, **outputs}), registration.urn,
                                        registration.name, _options(registration), None, None, [], {}))
    by_urn = {r.urn: r for r in resources}
    for registration, resource in zip(registrations, resources, strict=True):
        resource.parent = by_urn.get(registration.parent or "")
        resource.dependencies = [by_urn[d] for d in registration.dependencies if d in by_urn]
        resource.property_dependencies = {
            key: [by_urn[d] for d in urns if d in by_urn]
            for key, urns in property_dependencies.get(registration.urn, {}).items()}
    return resources
