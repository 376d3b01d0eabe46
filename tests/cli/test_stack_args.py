"""The flags, stack loading and exit codes every stack-bound subcommand shares."""

from __future__ import annotations

import argparse

import pytest

from prodline.stack_args import EXIT_CONFIG, add_stack_args, run_stack, stack_config


def parser(**kwargs) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="prodline test")
    add_stack_args(parser, **kwargs)
    return parser


def test_stack_is_required_by_default(capsys):
    with pytest.raises(SystemExit) as exit_:
        parser().parse_args([])
    assert exit_.value.code == 2
    assert "the following arguments are required: --stack" in capsys.readouterr().err


def test_stack_can_be_left_to_the_command_to_check():
    args = parser(required=False).parse_args(["-c", "a=1", "--config", "b=2"])
    assert (args.stack, args.config) == (None, ["a=1", "b=2"])


def test_an_optional_stack_differs_only_in_the_usage_brackets():
    required, optional = parser().format_help(), parser(required=False).format_help()
    assert "[--stack STACK]" in optional
    assert optional.replace("[--stack STACK]", "--stack STACK") == required


@pytest.mark.parametrize(("load", "argv", "words"), [
    (run_stack, ["--stack", "qa"], "stack qa: --stack 'qa': no stack file Pulumi.qa.yaml; stacks are: dev, prod"),
    (stack_config, ["--stack", "qa"], "stack qa: --stack 'qa': no stack file"),
    (run_stack, ["--stack", "dev", "-c", "novalue"], "stack dev: -c 'novalue': expected KEY=VALUE"),
    (stack_config, ["--stack", "dev", "-c", "prodline:noSuchKey=1"], "prodline:noSuchKey"),
])
def test_an_unusable_stack_exits_2_with_one_line_naming_it(capsys, load, argv, words):
    with pytest.raises(SystemExit) as exit_:
        load(parser().parse_args(argv))
    assert exit_.value.code == EXIT_CONFIG
    assert exit_.value.__suppress_context__, "the config error must not be chained into a traceback"
    err = capsys.readouterr().err
    assert err.startswith("prodline: ") and words in err


def test_stack_config_applies_overrides():
    config = stack_config(parser().parse_args(["--stack", "dev", "-c", "aws:region=eu-central-1"]))
    assert (config.environment, config.region) == ("dev", "eu-central-1")
