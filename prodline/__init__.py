"""prodline's command line: offline preview, policy checks and the sandbox, around the one Pulumi program."""
