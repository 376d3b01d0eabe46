"""Parsers for stack config values: the string the engine hands the program -> a value, or Invalid.

Each parser's complaint says what is allowed; ``infra/config.py`` puts the key and the bad value in
front of it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

Parser = Callable[[str], Any]


class Invalid(ValueError):
    """A parser's complaint: the text says what is allowed."""


def integer(lo: int, hi: int | None = None) -> Callable[[str], int]:
    allowed = f"an integer >= {lo}" if hi is None else f"an integer from {lo} to {hi}"

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise Invalid(allowed) from None
        if value < lo or (hi is not None and value > hi):
            raise Invalid(allowed)
        return value

    return parse


def decimal(lo: float, hi: float, *, lo_open: bool = False) -> Callable[[str], float]:
    allowed = f"a number {'>' if lo_open else '>='} {lo} and <= {hi}"

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise Invalid(allowed) from None
        if math.isnan(value) or value > hi or value < lo or (lo_open and value == lo):
            raise Invalid(allowed)
        return value

    return parse


def choice(values: tuple[Any, ...], convert: Callable[[str], Any] = str) -> Parser:
    allowed = "one of " + ", ".join(str(v) for v in values)

    def parse(text: str) -> Any:
        try:
            value = convert(text)
        except ValueError:
            raise Invalid(allowed) from None
        if value not in values:
            raise Invalid(allowed)
        return value

    return parse


def pattern(regex: str, allowed: str) -> Callable[[str], str]:
    compiled = re.compile(regex)

    def parse(text: str) -> str:
        if not compiled.fullmatch(text):
            raise Invalid(allowed)
        return text

    return parse


def optional(parse: Callable[[str], str]) -> Callable[[str], str]:
    """The empty string (not set), or whatever ``parse`` allows."""
    return lambda text: "" if text == "" else parse(text)


def boolean(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    raise Invalid("true or false")


def text(value: str) -> str:
    """Any string, as given."""
    return value


# AWS tag values: letters, digits, spaces and + - = . _ : / @, at most 256 characters.
tag_value = pattern(r"[\w .:/=+@-]{1,256}", "1-256 characters of letters, digits, spaces and + - = . _ : / @")
email = pattern(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}",
                "an e-mail address like team@example.com")
# EventBridge / Glue schedule expressions: cron with six fields, or rate(N unit).
schedule = pattern(
    r"cron\(\S+ \S+ \S+ \S+ \S+ \S+\)|rate\([1-9]\d* (minute|minutes|hour|hours|day|days)\)",
    "cron(min hour day-of-month month day-of-week year) or rate(N minutes|hours|days)",
)
# Kubernetes CronJob schedules: cron with five fields (no year, no seconds).
k8s_cron = pattern(r"[0-9*/,-]+ [0-9*/,-]+ [0-9*/,?LW-]+ [0-9A-Za-z*/,-]+ [0-9A-Za-z*/,?#L-]+",
                   "a five-field cron expression (minute hour day-of-month month day-of-week), e.g. 0 * * * *")
instance_type = pattern(r"ml\.[a-z0-9]+\.[a-z0-9]+", "a SageMaker instance type like ml.m5.large")
dns_label = pattern(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?", "a DNS label: lowercase letters, digits and -")
dns_name = pattern(r"([a-z0-9]([-a-z0-9]*[a-z0-9])?\.)+[a-z]{2,63}", "a DNS name like churn.example.com")
https_url = pattern(r"https://\S+", "an https:// URL")
eks_cluster_name = pattern(r"[0-9A-Za-z][A-Za-z0-9_-]{0,99}", "an EKS cluster name")
image_tag = pattern(r"(?!latest$)[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}", "an image tag other than latest, e.g. 0.1.0")
image_digest = pattern(r"sha256:[0-9a-f]{64}", "an image digest: sha256: followed by 64 lowercase hex digits, as "
                       "`docker buildx imagetools inspect` or `aws ecr describe-images` prints it")
model_package = pattern(
    r"latest|recorded|none|arn:aws[a-z-]*:sagemaker:[a-z0-9-]+:\d{12}:model-package/[A-Za-z0-9-]+(/\d+)?",
    "latest (the newest approved package in the group), recorded (the version the deploy path last deployed), "
    "none (declare no endpoint yet) or a model package ARN",
)
iam_policy_name = pattern(r"[\w+=,.@-]{1,128}", "an IAM policy name: letters, digits and + = , . @ _ -")
s3_url = pattern(r"s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/\S*)?", "an s3:// URL like s3://my-state-bucket")
cognito_user_pool_arn = pattern(r"arn:aws[a-z-]*:cognito-idp:[a-z0-9-]+:\d{12}:userpool/[\w-]+",
                                "a Cognito user pool ARN (arn:aws:cognito-idp:<region>:<account>:userpool/<id>)")
acm_certificate_arn = pattern(r"arn:aws[a-z-]*:acm:[a-z0-9-]+:\d{12}:certificate/[0-9a-f-]{36}",
                              "an ACM certificate ARN in the stack's region")
client_names = pattern(r"[a-z0-9][-a-z0-9]{0,62}(,[a-z0-9][-a-z0-9]{0,62}){0,19}",
                       "1-20 client names separated by commas, each lowercase letters, digits and -")
