"""How `prodline policy` shows its verdict: a table for people, JSON for scripts, SARIF 2.1.0 for code scanning.

SARIF results name the resource twice: a logical location with its URN (what the violation is about)
and a physical location at the stack's config file (where a fix usually goes, and what code-scanning
UIs need to show a result at all).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import yaml

from policies.registry import RULES, service
from policies.rule import ResourceRule, Rule
from prodline.policy_runner import Report

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
SARIF_LEVELS = {"mandatory": "error", "advisory": "warning", "disabled": "none"}
TOOL = "prodline-policy"
PACK_FILE = Path(__file__).resolve().parent.parent / "policies" / "PulumiPolicy.yaml"


def rule_rows(rules: tuple[Rule, ...] = RULES) -> list[dict[str, Any]]:
    """Every rule with its service, kind, description and enforcement per environment."""
    return [{"name": rule.name, "service": service(rule),
             "kind": "resource" if isinstance(rule, ResourceRule) else "stack",
             "description": rule.description,
             "enforcement": {env: level.value for env, level in rule.levels.items()}}
            for rule in rules]


def _console():
    from rich.console import Console

    return Console(width=200)


def print_rules() -> None:
    from rich.table import Table

    rows = rule_rows()
    table = Table(title=f"prodline policy pack: {len(rows)} rules", show_lines=False)
    for column in ("rule", "service", "kind", "dev", "staging", "prod", "description"):
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(row["name"], row["service"], row["kind"], *row["enforcement"].values(), row["description"])
    _console().print(table)


def print_report(report: Report) -> None:
    from rich.table import Table

    summary = (f"prodline policy: stack {report.stack} ({report.environment}): "
               f"{len(report.mandatory)} mandatory, {len(report.violations) - len(report.mandatory)} advisory")
    console = _console()
    if not report.violations:
        enabled = sum(1 for rule in RULES if rule.levels[report.environment].value != "disabled")
        console.print(f"{summary}: no violations ({enabled} rules enabled in {report.environment})")
    else:
        table = Table(title=summary, show_lines=True)
        for column in ("rule", "enforcement", "resource", "message"):
            table.add_column(column, overflow="fold")
        for v in report.violations:
            table.add_row(v.rule, v.enforcement, v.resource, v.message)
        console.print(table)
    for line in report.skipped:
        console.print(f"skipped (value unknown): {line}", markup=False)


def as_sarif(report: Report, artifact_uri: str) -> dict[str, Any]:
    """The report as one SARIF 2.1.0 run; ``artifact_uri`` is the stack's config file, relative to the repo."""
    index = {rule.name: i for i, rule in enumerate(RULES)}
    rules = [{
        "id": row["name"],
        "name": "".join(part.title() for part in row["name"].split("-")),
        "shortDescription": {"text": row["description"]},
        "fullDescription": {"text": row["description"]},
        "defaultConfiguration": {"level": SARIF_LEVELS[row["enforcement"][report.environment]]},
        "properties": {"tags": [row["service"], f"{row['kind']}-rule"], "enforcement": row["enforcement"]},
    } for row in rule_rows()]
    results = [{
        "ruleId": v.rule,
        "ruleIndex": index[v.rule],
        "level": SARIF_LEVELS[v.enforcement],
        "message": {"text": v.message},
        "locations": [{
            "physicalLocation": {"artifactLocation": {"uri": artifact_uri}, "region": {"startLine": 1}},
            "logicalLocations": [{"name": v.resource, "fullyQualifiedName": v.urn, "kind": "resource"}],
        }],
        "partialFingerprints": {"prodlineResource/v1": hashlib.sha256(f"{v.rule}|{v.urn}".encode()).hexdigest()},
        "properties": {"resourceType": v.resource_type, "enforcement": v.enforcement},
    } for v in report.violations]
    return {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": TOOL, "version": str(yaml.safe_load(PACK_FILE.read_text())["version"]),
                                "rules": rules}},
            "automationDetails": {"id": f"{TOOL}/{report.stack}/"},
            "results": results,
            "properties": {"stack": report.stack, "environment": report.environment},
        }],
    }
