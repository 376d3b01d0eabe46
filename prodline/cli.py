"""The `prodline` command. Each subcommand parses its flags here and calls a module that does the work."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

EXIT_CONFIG = 2


def _add_stack_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--stack", required=True, help="stack to use: dev, staging or prod (a Pulumi.<stack>.yaml)")
    parser.add_argument("-c", "--config", action="append", default=[], metavar="KEY=VALUE",
                        help="override one config value for this run, as `pulumi preview -c` does (repeatable)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="prodline", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    preview = commands.add_parser(
        "preview", help="run the Pulumi program offline and list what `pulumi up` would create")
    _add_stack_args(preview)
    preview.add_argument("--json", action="store_true", help="print the resources as JSON")
    preview.add_argument("--k8s-yaml", metavar="DIR",
                         help="also write the Kubernetes objects as YAML manifests into DIR (one file per object)")
    preview.set_defaults(handler=cmd_preview)

    from prodline import sandbox_cli
    from prodline.policy_cli import add_policy_parser

    add_policy_parser(commands)
    sandbox_cli.add_parsers(commands, _add_stack_args)
    return parser


def run_stack(args: argparse.Namespace):
    """Run the program for --stack with -c overrides; config problems exit 2 with the message, no traceback."""
    from infra.config import ConfigError
    from prodline.program import run_program
    from prodline.stack_files import StackFileError

    try:
        return run_program(args.stack, args.config)
    except (ConfigError, StackFileError) as err:
        print(f"prodline: stack {args.stack}: {err}", file=sys.stderr)
        raise SystemExit(EXIT_CONFIG) from None


def cmd_preview(args: argparse.Namespace) -> int:
    from prodline import preview

    registrations = run_stack(args)
    if args.k8s_yaml:
        from components.k8s_render import write_manifests

        written = write_manifests(registrations, args.k8s_yaml)
        print(f"prodline: wrote {len(written)} Kubernetes manifests to {args.k8s_yaml}", file=sys.stderr)
    if args.json:
        json.dump(preview.as_json(registrations), sys.stdout, indent=2, sort_keys=True)
        sys.stdout.write("\n")
    else:
        preview.print_table(registrations, args.stack)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
