"""Glue rules: jobs encrypt everything they write, stop on time, and retry a bounded number of times."""

from __future__ import annotations

from pulumi_policy import ReportViolation, ResourceValidationArgs

from policies.rule import ResourceRule, message
from policies.rules.props import UNKNOWN, get, missing, number

JOB = "aws:glue/job:Job"
SECURITY_CONFIGURATION = "aws:glue/securityConfiguration:SecurityConfiguration"
# (setting, mode property, modes that use the KMS key) for each of Glue's three encryption targets.
ENCRYPTION_TARGETS = (
    ("cloudwatchEncryption", "cloudwatchEncryptionMode", ("SSE-KMS",), "CloudWatch logs"),
    ("jobBookmarksEncryption", "jobBookmarksEncryptionMode", ("CSE-KMS",), "job bookmarks"),
    ("s3Encryption", "s3EncryptionMode", ("SSE-KMS", "DSSE-KMS"), "data written to S3"),
)
# What prodline:etlTimeoutMinutes and prodline:etlMaxRetries allow (infra/config.py).
MAX_TIMEOUT_MINUTES = 2880
MAX_RETRIES = 3
STREAMING = "gluestreaming"  # streaming jobs run until stopped: a timeout does not apply


def _validate_security_configuration(args: ResourceValidationArgs, report: ReportViolation) -> None:
    for setting, mode_key, kms_modes, what in ENCRYPTION_TARGETS:
        target = get(args.props, f"encryptionConfiguration.{setting}")
        if target is UNKNOWN:
            continue
        mode = get(target, mode_key)
        if mode is UNKNOWN:
            continue
        if mode not in kms_modes:
            problem = f"leaves {what} {'unencrypted' if mode in (None, 'DISABLED') else f'encrypted with {mode}'}"
        elif missing(get(target, "kmsKeyArn")):
            problem = f"encrypts {what} with {mode} but names no KMS key"
        else:
            continue
        report(message(args.name, problem,
                       "a Glue job's logs, bookmarks and output carry the lake's data and must be readable only "
                       "through the lake key",
                       f"set encryption_configuration.{_snake(setting)}.{_snake(mode_key)}={kms_modes[0]!r} with "
                       "kms_key_arn=<the lake key> (EtlJob does)"))


glue_security_configuration_encrypted = ResourceRule(
    "glue-security-configuration-encrypted",
    "Requires Glue security configurations to encrypt CloudWatch logs, job bookmarks and S3 output with a KMS key.",
    _validate_security_configuration,
    types=[SECURITY_CONFIGURATION],
)


def _validate_job_security(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if missing(get(args.props, "securityConfiguration")):
        report(message(args.name, "runs without a security configuration",
                       "without one, Glue writes the job's logs, bookmarks and temporary S3 output unencrypted or "
                       "with default keys, outside the lake key's policy",
                       "set security_configuration to an aws.glue.SecurityConfiguration encrypting all three with "
                       "the lake key (EtlJob declares one per job)"))


glue_job_security_configuration = ResourceRule(
    "glue-job-security-configuration",
    "Requires every Glue job to run with a security configuration.",
    _validate_job_security,
    types=[JOB],
)


def _validate_timeout(args: ResourceValidationArgs, report: ReportViolation) -> None:
    timeout = get(args.props, "timeout")
    if get(args.props, "command.name") == STREAMING or timeout is UNKNOWN:
        return
    minutes = number(timeout)
    fix = f"set timeout (prodline:etlTimeoutMinutes, EtlJob's timeout_minutes) to at most {MAX_TIMEOUT_MINUTES}"
    why = "a run that hangs keeps its workers, and the bill, running until Glue's own limit of days"
    if minutes is None:
        report(message(args.name, "sets no timeout", why, fix))
    elif not 1 <= minutes <= MAX_TIMEOUT_MINUTES:
        report(message(args.name, f"has a timeout of {minutes:g} minutes", why, fix))


glue_job_timeout = ResourceRule(
    "glue-job-timeout",
    f"Requires every Glue batch job to set a timeout of at most {MAX_TIMEOUT_MINUTES} minutes.",
    _validate_timeout,
    types=[JOB],
)


def _validate_retries(args: ResourceValidationArgs, report: ReportViolation) -> None:
    retries = number(get(args.props, "maxRetries"))  # unset: Glue does not retry
    if retries is not None and retries > MAX_RETRIES:
        report(message(args.name, f"retries a failed run {retries:g} times",
                       "a job that fails for a lasting reason (bad input, a bug) then fails again and again, each "
                       "time at full cost, and the failure alarm comes hours late",
                       f"set max_retries (prodline:etlMaxRetries, EtlJob's max_retries) to at most {MAX_RETRIES}"))


glue_job_retries_bounded = ResourceRule(
    "glue-job-retries-bounded",
    f"Prohibits Glue jobs that retry a failed run more than {MAX_RETRIES} times.",
    _validate_retries,
    types=[JOB],
)


def _snake(camel: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in camel)


RULES = (glue_security_configuration_encrypted, glue_job_security_configuration, glue_job_timeout,
         glue_job_retries_bounded)
