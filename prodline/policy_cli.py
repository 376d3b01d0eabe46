"""`prodline policy`: the CrossGuard pack on the offline preview of a stack, or on a saved preview JSON.

Exit codes: 0 when no mandatory rule is violated (advisory violations are printed, not fatal), 1 when
one is, 2 when the stack, its config, an override or the preview file cannot be used (an empty plan, or a
plan of another stack than ``--stack``, included).
"""

from __future__ import annotations

import argparse
import json
import sys

from prodline.collector import paused
from prodline.stack_args import (
    EXIT_CONFIG,
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    add_stack_args,
    fail,
    run_stack,
    stack_config,
)

FORMATS = ("table", "json", "sarif")


def add_policy_parser(subparsers) -> None:
    policy = subparsers.add_parser(
        "policy", help="check a stack's offline preview against the policy pack (exit 1 on a mandatory violation)")
    add_stack_args(policy, required=False)  # --list needs no stack; cmd_policy checks for one otherwise
    policy.add_argument("--format", choices=FORMATS, default="table",
                        help="table (default), json, or sarif (SARIF 2.1.0, for code scanning)")
    policy.add_argument("--preview-json", metavar="FILE",
                        help="judge a saved `prodline preview --json` output instead of running the program")
    policy.add_argument("--list", action="store_true",
                        help="list every rule with its description and enforcement per environment")
    policy.set_defaults(handler=paused(cmd_policy))


def cmd_policy(args: argparse.Namespace) -> int:
    from prodline import policy_report

    if args.list:
        return _list_rules(args.format)
    if not args.stack:
        return _usage("--stack is required (unless --list)")
    config = stack_config(args)
    registrations = _registrations(args)
    from prodline.policy_runner import evaluate

    report = evaluate(registrations, stack=args.stack, environment=config.environment, region=config.region)
    if args.format == "json":
        _dump(report.as_dict())
    elif args.format == "sarif":
        _dump(policy_report.as_sarif(report, f"Pulumi.{args.stack}.yaml"))
    else:
        policy_report.print_report(report)
    return EXIT_FAILED if report.mandatory else EXIT_OK


def _list_rules(output: str) -> int:
    from prodline import policy_report

    if output == "sarif":
        return _usage("--list prints a table or json, not sarif")
    if output == "json":
        _dump(policy_report.rule_rows())
    else:
        policy_report.print_rules()
    return EXIT_OK


def _registrations(args: argparse.Namespace):
    from prodline.policy_runner import PlanError, PreviewFileError, check_plan, load_preview_json

    if not args.preview_json:
        registrations, source = run_stack(args), f"the preview of stack {args.stack}"
    else:
        try:
            registrations, source = load_preview_json(args.preview_json), f"--preview-json {args.preview_json}"
        except PreviewFileError as err:
            fail(str(err), EXIT_CONFIG)
    try:
        check_plan(registrations, args.stack, source)
    except PlanError as err:
        fail(str(err), EXIT_CONFIG)
    return registrations


def _usage(problem: str) -> int:
    print(f"prodline policy: {problem}", file=sys.stderr)
    return EXIT_USAGE


def _dump(value) -> None:
    json.dump(value, sys.stdout, indent=2)
    sys.stdout.write("\n")
