"""`prodline bootstrap`: the account bootstrap (``bootstrap/``) previewed offline, and judged by the policy pack.

It runs ``bootstrap/__main__.py`` under the same recording mocks as ``prodline preview`` and prints what
``cd bootstrap && pulumi up`` would create; ``--policy`` then runs the pack over it, judged as prod (the
bootstrap guards every stack's deploys). Exit codes as ``prodline policy``: 0 when no mandatory rule is
violated, 1 when one is, 2 when the config or an override cannot be used.
"""

from __future__ import annotations

import argparse
import json
import sys

from prodline.collector import paused
from prodline.stack_args import EXIT_FAILED, EXIT_OK, fail


def add_parser(commands) -> None:
    bootstrap = commands.add_parser(
        "bootstrap", help="preview the account bootstrap offline (state bucket, secrets key, permissions boundary, "
                          "GitHub deploy roles); --policy judges it with the policy pack")
    bootstrap.add_argument("-c", "--config", action="append", default=[], metavar="KEY=VALUE",
                           help="override one bootstrap config value, e.g. githubRepository=owner/name (repeatable)")
    bootstrap.add_argument("--json", action="store_true", help="print the resources (or, with --policy, the "
                                                               "verdict) as JSON")
    bootstrap.add_argument("--policy", action="store_true",
                           help="run the policy pack over the preview (exit 1 on a mandatory violation)")
    bootstrap.set_defaults(handler=paused(cmd_bootstrap))


def cmd_bootstrap(args: argparse.Namespace) -> int:
    from infra.bootstrap_config import ENVIRONMENT
    from infra.config import ConfigError
    from prodline import preview
    from prodline.program import BOOTSTRAP_DIR, BOOTSTRAP_STACK, run_bootstrap
    from prodline.stack_files import StackFileError, load

    try:
        registrations = run_bootstrap(args.config)
    except (ConfigError, StackFileError) as err:
        fail(f"bootstrap: {err}")
    if not args.policy:
        if args.json:
            _dump(preview.as_json(registrations))
        else:
            preview.print_table(registrations, f"{BOOTSTRAP_STACK} (bootstrap)")
        return EXIT_OK

    from prodline import policy_report
    from prodline.policy_runner import evaluate

    raw = load(BOOTSTRAP_STACK, args.config, root=BOOTSTRAP_DIR)  # already read once: it cannot fail now
    report = evaluate(registrations, stack=BOOTSTRAP_STACK, environment=ENVIRONMENT,
                      region=str(raw.get("aws:region", "eu-west-1")))
    if args.json:
        _dump(report.as_dict())
    else:
        policy_report.print_report(report)
    return EXIT_FAILED if report.mandatory else EXIT_OK


def _dump(value) -> None:
    json.dump(value, sys.stdout, indent=2, sort_keys=True)
    sys.stdout.write("\n")
