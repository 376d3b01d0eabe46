"""The `prodline` command. Each subcommand parses its flags here and calls a module that does the work."""

from __future__ import annotations

import argparse
import gc
import json
import sys
from collections.abc import Sequence

from prodline import bootstrap_cli, cost_cli, delivery_cli, lineage_cli, policy_cli, sandbox_cli
from prodline.collector import exit_at_once, paused
from prodline.stack_args import EXIT_OK, add_stack_args, check_stacks, fail, run_stack


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="prodline", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    preview = commands.add_parser(
        "preview", help="run the Pulumi program offline and list what `pulumi up` would create")
    add_stack_args(preview)
    preview.add_argument("--json", action="store_true", help="print the resources as JSON")
    preview.add_argument("--k8s-yaml", metavar="DIR",
                         help="also write the Kubernetes objects as YAML manifests into DIR (one file per object)")
    preview.set_defaults(handler=paused(cmd_preview))

    policy_cli.add_policy_parser(commands)
    sandbox_cli.add_parsers(commands)
    delivery_cli.add_parsers(commands)
    bootstrap_cli.add_parser(commands)
    cost_cli.add_parser(commands)
    lineage_cli.add_parser(commands)
    return parser


def cmd_preview(args: argparse.Namespace) -> int:
    from prodline import preview

    if args.k8s_yaml:
        from components.k8s_render import ManifestDirError, check_manifest_dir, write_manifests

        try:
            check_manifest_dir(args.k8s_yaml)  # before the program runs: a bad target costs nothing
        except ManifestDirError as err:
            fail(f"--k8s-yaml: {err}")
    registrations = run_stack(args)
    if args.k8s_yaml:
        try:
            written = write_manifests(registrations, args.k8s_yaml)
        except (OSError, ManifestDirError) as err:
            fail(f"--k8s-yaml: cannot write the manifests into {args.k8s_yaml}: {err}")
        print(f"prodline: wrote {len(written)} Kubernetes manifests to {args.k8s_yaml}", file=sys.stderr)
    if args.json:
        json.dump(preview.as_json(registrations), sys.stdout, indent=2, sort_keys=True)
        sys.stdout.write("\n")
    else:
        preview.print_table(registrations, args.stack)
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    return args.handler(args)


def parse(argv: Sequence[str] | None = None) -> argparse.Namespace:
    args = build_parser().parse_args(argv)
    check_stacks(args)
    return args


def run() -> None:
    """The console script: ``main``, then a command that ran a program and is done ends the process at once
    (``collector.exit_at_once``); every other command exits the usual way, running its clean-up."""
    args = parse()
    if getattr(args.handler, "exits_at_once", False):
        gc.disable()  # and not on again: turned on, its first collection would walk every object the run made
        exit_at_once(args.handler(args))
    sys.exit(args.handler(args))


if __name__ == "__main__":
    run()
