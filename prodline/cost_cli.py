"""`prodline cost`: the stack's monthly estimate from the offline preview; `prodline cost refresh-prices`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from prodline.collector import paused
from prodline.stack_args import EXIT_OK, EXIT_USAGE, add_stack_args, fail, stack_errors


def add_parser(commands: argparse._SubParsersAction) -> None:
    cost = commands.add_parser(
        "cost", help="estimate the stack's monthly AWS cost from the offline preview (no network)")
    cost.add_argument("action", nargs="?", choices=["refresh-prices"],
                      help="refresh-prices: rewrite a region's price file from the AWS Price List API (online)")
    add_stack_args(cost, required=False)
    cost.add_argument("--format", choices=["table", "markdown", "json"], default="table")
    cost.add_argument("--json", action="store_true", help="the same as --format json")
    where = cost.add_mutually_exclusive_group()
    where.add_argument("--compare", metavar="STACK", help="show the difference against another stack's estimate")
    where.add_argument("--against", metavar="PREVIEW_JSON",
                       help="show the difference against a saved `prodline preview --json` (the base branch's)")
    cost.add_argument("--prices-region", metavar="REGION",
                      help="estimate with this region's price file instead of the stack's region's (the output "
                           "then says so on every format); without it a region with no price file is an error")
    cost.add_argument("--region", help="refresh-prices: the region whose price file to write")
    cost.add_argument("--output", help="refresh-prices: where to write it (default: the repository's price file)")
    cost.set_defaults(handler=paused(cmd_cost))


def estimate_of(resources: list[Any], stack: str, prices_region: str | None = None) -> dict[str, Any]:
    from prodline import cost_report
    from standards.cost.estimate import Resource, estimate_stack

    try:
        estimate, budget = estimate_stack([Resource(r.type, r.name, r.inputs) for r in resources],
                                          prices_region=prices_region)
    except ValueError as err:
        fail(f"stack {stack}: {err}")
    return cost_report.as_dict(estimate, budget, stack)


def _stack_estimate(stack: str, overrides: list[str], prices_region: str | None) -> dict[str, Any]:
    from prodline.program import run_program

    with stack_errors(stack):
        return estimate_of(run_program(stack, overrides), stack, prices_region)


def cmd_cost(args: argparse.Namespace) -> int:
    from prodline import cost_report

    if args.action == "refresh-prices":
        return _refresh(args)
    if not args.stack:
        fail("cost: --stack is required", EXIT_USAGE)
    fmt = "json" if args.json else args.format
    head = _stack_estimate(args.stack, args.config, args.prices_region)
    base = None
    if args.compare:
        from prodline.stack_files import StackFileError, check_stack

        try:
            check_stack(args.compare, flag="--compare")
        except StackFileError as err:
            fail(str(err))
        base = _stack_estimate(args.compare, [], args.prices_region)
    elif args.against:
        from prodline.policy_runner import PreviewFileError, load_preview_json

        try:
            base = estimate_of(load_preview_json(args.against), f"{args.stack} ({Path(args.against).name})",
                               args.prices_region)
        except (OSError, PreviewFileError) as err:
            fail(f"--against: {err}")
    if base is not None:
        change = cost_report.diff(base, head)
        if fmt == "json":
            json.dump(change, sys.stdout, indent=2)
            sys.stdout.write("\n")
        else:
            sys.stdout.write(cost_report.diff_markdown(change))
        return EXIT_OK
    if fmt == "json":
        json.dump(head, sys.stdout, indent=2)
        sys.stdout.write("\n")
    elif fmt == "markdown":
        sys.stdout.write(cost_report.markdown(head))
    else:
        cost_report.print_table(head)
    return EXIT_OK


def _refresh(args: argparse.Namespace) -> int:
    from prodline import price_refresh
    from standards.cost.prices import PRICES_DIR

    if not args.region:
        fail("cost refresh-prices: --region is required", EXIT_USAGE)
    output = Path(args.output) if args.output else PRICES_DIR / f"{args.region}.json"
    try:
        written = price_refresh.refresh(args.region, output)
    except price_refresh.RefreshError as err:
        fail(f"cost refresh-prices: {err}", 1)
    print(f"prodline: wrote {len(written['prices'])} prices for {args.region} to {output}")
    return EXIT_OK
