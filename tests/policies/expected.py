"""The violations the shipped stacks are known to have until a later issue removes them: the one list of them.

No stack file turns Kubernetes serving on (``prodline:servingPlatform`` defaults to ``sagemaker``, and CI's
``prodline policy --stack <s>`` runs the stacks as their files declare them), so the Kubernetes stacks are the
three shipped stacks with ``-c prodline:servingPlatform=kubernetes``, as the tests run them. Every test that
judges a shipped stack with the whole pack checks the verdict with ``assert_verdict``: nothing beyond what is
listed here, and everything listed here still reported (strict, like ``pytest.mark.xfail(strict=True)``), so
an entry has to be removed in the change that fixes it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from policies.registry import by_name
from policies.rule import DISABLED
from prodline.policy_runner import Violation

KUBERNETES = ("prodline:servingPlatform=kubernetes",)


@dataclass(frozen=True)
class ExpectedFailure:
    rule: str
    overrides: tuple[str, ...]
    """The stacks that fail it: every shipped stack run with these overrides."""
    issue: int
    """The issue whose change makes the stacks pass, and removes this entry."""
    reason: str


EXPECTED_FAILURES: tuple[ExpectedFailure, ...] = ()


def expected_failures(overrides: Iterable[str]) -> list[ExpectedFailure]:
    return [e for e in EXPECTED_FAILURES if set(e.overrides) <= set(overrides)]


def expected_rules(environment: str, overrides: Iterable[str]) -> set[str]:
    """The rules a shipped stack with these overrides is expected to fail in this environment (enabled there)."""
    return {e.rule for e in expected_failures(overrides) if by_name(e.rule).levels[environment] != DISABLED}


def assert_verdict(violations: Sequence[Violation], environment: str, overrides: Iterable[str] = ()) -> None:
    """A shipped stack's verdict: no violation but the expected ones, and each expected one still there."""
    overrides = tuple(overrides)
    expected = expected_rules(environment, overrides)
    unexpected = [f"{v.rule} {v.resource}: {v.message}" for v in violations if v.rule not in expected]
    assert not unexpected, "\n".join(unexpected)
    for failure in expected_failures(overrides):
        if failure.rule in expected and not any(v.rule == failure.rule for v in violations):
            raise AssertionError(f"{failure.rule} no longer fails on {environment} with {' '.join(overrides)}: "
                                 f"remove its entry (issue {failure.issue}) from tests/policies/expected.py")
