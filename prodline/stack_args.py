"""What every stack-bound subcommand shares: the `--stack`/`-c` flags, loading that stack, and the exit codes.

Subcommand modules (preview in `prodline.cli`, `prodline.policy_cli`, `prodline.sandbox_cli`) import this
module; none of them imports `prodline.cli`, which is only the entry point that assembles them.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, NoReturn

if TYPE_CHECKING:
    from infra.config import StackConfig
    from prodline.program import Registration

EXIT_OK = 0
EXIT_FAILED = 1
"""The command ran and what it judged failed: a mandatory policy violation, a failed job or rollout."""
EXIT_CONFIG = 2
"""The stack, its config, an override or an input file cannot be used."""
EXIT_USAGE = 2
"""Flags that cannot go together; the same code argparse exits with for a usage error."""


def add_stack_args(parser: argparse.ArgumentParser, *, required: bool = True) -> None:
    """Add `--stack` and the repeatable `-c KEY=VALUE`; `required=False` when the command checks it itself."""
    parser.add_argument("--stack", required=required,
                        help="stack to use: dev, staging or prod (a Pulumi.<stack>.yaml)")
    parser.add_argument("-c", "--config", action="append", default=[], metavar="KEY=VALUE",
                        help="override one config value for this run, as `pulumi preview -c` does (repeatable)")


def fail(message: str, code: int = EXIT_CONFIG) -> NoReturn:
    """Print `prodline: MESSAGE` to stderr and exit with `code`, without a traceback."""
    print(f"prodline: {message}", file=sys.stderr)
    raise SystemExit(code) from None


@contextmanager
def stack_errors(stack: str) -> Iterator[None]:
    """Turn a bad stack file, override or config value into `prodline: stack STACK: ...` and exit 2."""
    from infra.config import ConfigError
    from prodline.stack_files import StackFileError

    try:
        yield
    except (ConfigError, StackFileError) as err:
        fail(f"stack {stack}: {err}")


STACK_FLAGS = (("stack", "--stack"), ("to", "--to"))
"""The flags, across subcommands, that name a stack (``prodline promote --to``)."""


def check_stacks(args: argparse.Namespace) -> None:
    """Every stack the flags name has a stack file, or exit 2 naming the flag: checked once, before any command
    builds a path from the name or starts anything."""
    from prodline.stack_files import StackFileError, check_stack

    for attribute, flag in STACK_FLAGS:
        stack = getattr(args, attribute, None)
        if stack is None:
            continue
        try:
            check_stack(stack, flag=flag)
        except StackFileError as err:
            fail(str(err))


def run_stack(args: argparse.Namespace) -> list[Registration]:
    """Run the program for `args.stack` with the `args.config` overrides; config problems exit 2."""
    from prodline.program import run_program

    with stack_errors(args.stack):
        return run_program(args.stack, args.config)


def stack_config(args: argparse.Namespace) -> StackConfig:
    """The parsed config of `args.stack` with the `args.config` overrides; problems exit 2 as `run_stack`'s do."""
    from infra.config import parse_config
    from prodline.stack_files import load

    with stack_errors(args.stack):
        return parse_config(load(args.stack, args.config), args.stack)
