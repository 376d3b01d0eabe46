"""Local runtimes: each runs what a managed AWS service would, following that service's contract, and
reads its definition from the emulator (get_job, describe_pipeline, describe_alarms, list_rules ...)."""
