"""Run a monitoring job's ``main`` from Glue's argv: Glue passes its own arguments (``--TempDir``,
``--job-bookmark-option``, ``library-set`` ...) beside the job's, so only the job's names are picked out
(``getResolvedOptions``, as the ETL scripts do) and handed to the job's own parser."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from workloads.etl.glue_args import resolve_options

FLAGS = ("no-publish",)
"""Options without a value: on when the Glue argument is ``true``."""


def job_argv(argv: Sequence[str], required: Sequence[str], optional: Sequence[str]) -> list[str]:
    values = resolve_options(argv, required, [*optional, *FLAGS])
    out: list[str] = []
    for name, value in values.items():
        if name in FLAGS:
            out += [f"--{name}"] if value.lower() == "true" else []
        elif name != "JOB_NAME":
            out += [f"--{name}", value]
    return out


def run_from_glue(main: Callable[[Sequence[str]], int], argv: Sequence[str], required: Sequence[str],
                  optional: Sequence[str]) -> int:
    return main(job_argv(argv, ["JOB_NAME", *required], optional))
