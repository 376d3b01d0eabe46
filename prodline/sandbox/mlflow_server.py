"""`mlflow server` with its uvicorn run in the same process: ``python -m prodline.sandbox.mlflow_server <args>``.

The CLI (``mlflow server``) imports mlflow, checks its arguments, opens the stores, builds the environment the app
reads its settings from, then starts ``python -m uvicorn mlflow.server.fastapi_app:app`` as a child process,
which imports mlflow all over again. That child costs as much CPU as the CLI (about 4-5 s each on 2 shared
cores), and the sandbox starts the server while the program is realized and the workloads' libraries load,
when both cores are needed. This entry point runs the CLI unchanged, with the same arguments, and only the
last step differs: uvicorn's own command line is run in this process, where mlflow is already imported,
with the environment the CLI built for the child. Only a command that is not uvicorn's (another server
option) starts a process, as the CLI would. Every argument and setting is still mlflow's to check and apply.
The libraries are imported at a lower priority (``zygote.import_yielding``): the server is needed only when the
first training job logs, seconds after the sandbox starts it, and its imports should not slow the work before.
"""

from __future__ import annotations

import os
import sys

from prodline.sandbox.zygote import import_yielding

UVICORN = ["-m", "uvicorn"]
PRELOAD = ["mlflow.cli", "mlflow.server", "fastapi", "starlette.middleware.wsgi", "uvicorn.main"]
"""What the CLI and uvicorn import before the app, which reads the environment the CLI builds when it is
imported (``mlflow.server.fastapi_app``): not preloaded."""


def _exec_cmd(command: list[str], **kwargs):
    import mlflow.utils.process

    return mlflow.utils.process._exec_cmd(command, **kwargs)


def serve_here(command: list[str], *, extra_env: dict[str, str] | None = None, **kwargs):
    """Stands in for ``mlflow.server._exec_cmd``: uvicorn's command line runs here, and returns when it stops."""
    if command[1:3] != UVICORN:
        return _exec_cmd(command, extra_env=extra_env, **kwargs)
    os.environ.update(extra_env or {})
    from uvicorn.main import main as uvicorn_cli

    return uvicorn_cli.main(args=command[3:], prog_name="uvicorn")  # exits the process when the server stops


def main(argv: list[str]) -> None:
    import_yielding(PRELOAD)
    import mlflow.server
    from mlflow.cli import cli

    mlflow.server._exec_cmd = serve_here
    cli.main(args=argv, prog_name="mlflow")


if __name__ == "__main__":
    main(sys.argv[1:])
