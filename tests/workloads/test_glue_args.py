import pytest

from workloads.etl.glue_args import MissingArgument, resolve_options

GLUE_ARGV = ["script.py", "--JOB_NAME", "validate", "--source", "s3://raw/churn/", "--job-bookmark-option",
             "job-bookmark-enable", "--TempDir", "s3://artifacts/tmp/", "--extra-py-files", "s3://a/lib.zip",
             "library-set", "analytics", "--enable-metrics", "true"]


def test_required_arguments_are_resolved_and_glue_extras_ignored():
    assert resolve_options(GLUE_ARGV, ["JOB_NAME", "source"]) == {"JOB_NAME": "validate", "source": "s3://raw/churn/"}


def test_optional_argument_is_returned_only_when_present():
    assert "dt" not in resolve_options(GLUE_ARGV, ["source"], ["dt"])
    assert resolve_options([*GLUE_ARGV, "--dt", "2026-01-02"], ["source"], ["dt"])["dt"] == "2026-01-02"


def test_missing_required_argument_is_named():
    with pytest.raises(MissingArgument, match="--target is required"):
        resolve_options(GLUE_ARGV, ["source", "target"])


def test_equals_form_is_accepted():
    assert resolve_options(["x", "--engine=spark"], ["engine"]) == {"engine": "spark"}


def test_a_repeated_argument_takes_its_last_value_like_argparse():
    assert resolve_options(["x", "--engine", "pandas", "--engine", "spark"], ["engine"]) == {"engine": "spark"}
