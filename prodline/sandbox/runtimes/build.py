"""CodeBuild, locally: a deployer build runs what its buildspec runs, in this process, with the sandbox's context.

moto stores projects and answers StartBuild (IN_PROGRESS, and SUCCEEDED at the next read) but runs nothing.
This runtime reads the project back from the emulator (BatchGetProjects: the environment variables and the
inline buildspec), records the build there (StartBuild, so the build id is the emulator's), checks that the
buildspec runs ``prodline deploy --stack $STACK --from-queue``, sets the project's environment variables for
the build's duration as CodeBuild would, and runs what that command runs: ``prodline.delivery.deploy.drain_queue``
with the sandbox's DeliveryContext for ``$STACK``. The progress lines go to the project's log group, one stream
per build, as CodeBuild's logs do.

One build per project at a time (the deployer's concurrent build limit is 1): a start while the project's
build runs or waits is dropped, as CodeBuild drops it, and the running build's drain picks the request up;
when a build ends after a dropped start, the runtime starts one more (what the deployer's hourly wake-up rule
would do). Builds of different projects run one after another in start order (in AWS they would run side by
side); a build started while another runs (a promotion to the next stack) waits for it, so one build never
runs inside another.

The project says ``PRODLINE_DEPLOY_ENGINE=pulumi``: in the sandbox the engine is the realizer
(``prodline.sandbox.delivery.SandboxEngine``), and the build records that substitution.

moto's answer about a build is its own (SUCCEEDED once read, whatever ran) and it lists a project's builds oldest
first whatever ``sortOrder`` says, so each build's status as it runs goes to a journal beside the sandbox
(``BuildJournal``); ``LocalCodeBuild`` answers ``ListBuildsForProject`` and ``BatchGetBuilds`` from it, so
``prodline status`` shows the last build and how it ended, also from another process.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import shlex
import string
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from prodline.sandbox.realizer.commands import emulator_environment  # sets variables for the build's span

QUEUED, IN_PROGRESS, SUCCEEDED, FAILED = "QUEUED", "IN_PROGRESS", "SUCCEEDED", "FAILED"
ENGINE_ENV = "PRODLINE_DEPLOY_ENGINE"
SANDBOX_ENGINE = "sandbox"


class BuildSpecError(ValueError):
    """The project's buildspec does not run what the sandbox's build runtime can run."""


class BuildDropped(RuntimeError):
    """A start while the project's build runs or waits: dropped, as the concurrent build limit says."""


@dataclass
class Build:
    id: str
    project: str
    trigger: str
    status: str = QUEUED
    stack: str = ""
    command: str = ""
    started: float = field(default_factory=time.time)
    ended: float = 0.0
    outcomes: list[Any] = field(default_factory=list)
    """What ``drain_queue`` returned: one outcome per request taken off the queue."""
    error: str = ""
    log: list[str] = field(default_factory=list)


def deploy_command(buildspec: str) -> list[str]:
    """The words of the buildspec's ``prodline deploy ... --from-queue`` command (the part of its shell line
    from ``prodline`` to the next ``&&``, ``||`` or ``;``); BuildSpecError when it runs none."""
    try:
        spec = yaml.safe_load(buildspec) or {}
    except yaml.YAMLError as err:
        raise BuildSpecError(f"the buildspec is not YAML: {err}") from None
    commands = [str(c) for phase in (spec.get("phases") or {}).values() if isinstance(phase, dict)
                for c in phase.get("commands") or []]
    for command in commands:
        words = shlex.split(command, comments=True)
        for start, word in enumerate(words[:-1]):
            if PurePosixPath(word).name == "prodline" and words[start + 1] == "deploy":
                end = next((i for i in range(start, len(words)) if words[i] in ("&&", "||", ";")), len(words))
                if "--from-queue" in words[start:end]:
                    return words[start:end]
    raise BuildSpecError("the sandbox's build runtime runs `prodline deploy --stack $STACK --from-queue` builds; "
                         f"this buildspec runs: {'; '.join(commands) or 'nothing'}")


def command_stack(words: list[str], environment: dict[str, str]) -> str:
    """The ``--stack`` of the command, with ``$STACK``-style variables taken from the build's environment."""
    for position, word in enumerate(words):
        value = None
        if word == "--stack" and position + 1 < len(words):
            value = words[position + 1]
        elif word.startswith("--stack="):
            value = word.split("=", 1)[1]
        expanded = string.Template(value).safe_substitute(environment) if value else ""
        if expanded and "$" not in expanded:
            return expanded
    raise BuildSpecError(f"`{shlex.join(words)}` names no stack (--stack, with STACK set in the project's "
                         "environment)")


def project_environment(project: dict, ssm=None) -> dict[str, str]:
    """The project's environment variables; PARAMETER_STORE ones read from SSM, as CodeBuild does."""
    out = {}
    for variable in project.get("environment", {}).get("environmentVariables", []):
        value = str(variable.get("value", ""))
        if variable.get("type") == "PARAMETER_STORE" and ssm is not None:
            value = ssm.get_parameter(Name=value, WithDecryption=True)["Parameter"]["Value"]
        out[variable["name"]] = value
    return out


class BuildJournal:
    """Each build's status, error and times by build id, in a JSON file every process of the sandbox shares."""

    def __init__(self, path: Path | None):
        self.path = path

    def read(self) -> dict[str, dict]:
        if self.path is None or not self.path.exists():
            return {}
        return json.loads(self.path.read_text() or "{}")

    def write(self, build: Build) -> None:
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.with_suffix(".lock").open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            builds = self.read()
            builds[build.id] = {"status": build.status, "error": build.error, "started": build.started,
                                "ended": build.ended or None}
            partial = self.path.with_suffix(".partial")
            partial.write_text(json.dumps(builds, indent=1))
            partial.replace(self.path)


class BuildRuntime:
    """Starts and runs deployer builds. ``context_for(stack)`` gives the DeliveryContext a build deploys with;
    ``journal`` is where each build's status goes as it runs (None: nowhere)."""

    def __init__(self, clients, context_for: Callable[[str], Any], on_progress: Callable[[str], None] | None = None,
                 journal: Path | None = None):
        self.clients = clients
        self.context_for = context_for
        self.on_progress = on_progress or (lambda message: None)
        self.journal = BuildJournal(journal)
        self.builds: list[Build] = []
        self._waiting: deque[Build] = deque()
        self._running: Build | None = None
        self._dropped: set[str] = set()
        self._held = 0

    def start(self, project: str, trigger: str) -> Build:
        """StartBuild: record the build in the emulator and run it (after the running build, if there is one).

        Raises BuildDropped when the project already has a build running or waiting."""
        if (self._running and self._running.project == project) or any(b.project == project for b in self._waiting):
            if self._running and self._running.project == project:
                self._dropped.add(project)
            self.on_progress(f"codebuild: {project} already has a build; this start ({trigger}) is dropped, "
                             "as its concurrent build limit of 1 says: that build drains the queue")
            raise BuildDropped(f"project {project} is at its concurrent build limit (1)")
        build = self._enqueue(project, trigger)
        if self._running is None and not self._held:
            self.run_pending()
        return build

    def _enqueue(self, project: str, trigger: str) -> Build:
        answer = self.clients("codebuild").start_build(projectName=project)["build"]
        build = Build(answer["id"], project, trigger)
        self.builds.append(build)
        self.journal.write(build)
        self._waiting.append(build)
        self.on_progress(f"codebuild: build {build.id} started ({trigger})")
        return build

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        """Builds started meanwhile wait for ``run_pending`` (the caller decides when they run)."""
        self._held += 1
        try:
            yield
        finally:
            self._held -= 1

    def run_pending(self) -> list[Build]:
        """Run every waiting build, in start order, until none waits; returns the builds that ran."""
        ran = []
        while self._waiting and self._running is None:
            build = self._waiting.popleft()
            self._running = build
            try:
                self._run(build)
            finally:
                self._running = None
            ran.append(build)
            if build.project in self._dropped:
                self._dropped.discard(build.project)
                self._enqueue(build.project, "wake-up after a dropped start, as the deployer's schedule rule would")
        return ran

    def _run(self, build: Build) -> None:
        build.status = IN_PROGRESS
        self.journal.write(build)
        progress = self._progress_into(build)
        project: dict = {}
        try:
            project = self.clients("codebuild").batch_get_projects(names=[build.project])["projects"][0]
            environment = project_environment(project, self.clients("ssm"))
            words = deploy_command(project.get("source", {}).get("buildspec") or "")
            build.command = " ".join(words)
            build.stack = command_stack(words, environment)
            declared = environment.get(ENGINE_ENV)
            environment[ENGINE_ENV] = SANDBOX_ENGINE
            progress(f"build {build.id}: `{build.command}` with STACK={build.stack}"
                     + (f" (engine: the sandbox's realizer; the project says {declared})"
                        if declared and declared != SANDBOX_ENGINE else ""))
            from prodline.delivery.deploy import drain_queue

            context = self.context_for(build.stack)
            with emulator_environment(environment), _progress_to(context, build):
                build.outcomes = list(drain_queue(context, build.stack))
            failed = [o for o in build.outcomes if not _succeeded(o)]
            build.status = FAILED if failed else SUCCEEDED
            build.error = f"{len(failed)} of {len(build.outcomes)} deploys failed" if failed else ""
        except Exception as err:  # a build that fails says why; the sandbox goes on
            build.status, build.error = FAILED, f"{type(err).__name__}: {err}"
        build.ended = time.time()
        self.journal.write(build)
        progress(f"build {build.id} {build.status}" + (f": {build.error}" if build.error else ""))
        self._ship_logs(build, project)

    def _progress_into(self, build: Build) -> Callable[[str], None]:
        def progress(message: str) -> None:
            build.log.append(message)
            self.on_progress(message)
        return progress

    def _ship_logs(self, build: Build, project: dict) -> None:
        """The build's lines in the project's CloudWatch log group, one stream per build, as CodeBuild does."""
        group = ((project.get("logsConfig") or {}).get("cloudWatchLogs") or {}).get("groupName")
        if not group or not build.log:
            return
        logs = self.clients("logs")
        stream = build.id.split(":", 1)[-1]
        with contextlib.suppress(Exception):  # logs are a courtesy; the build's outcome stands without them
            logs.create_log_stream(logGroupName=group, logStreamName=stream)
            now = int(time.time() * 1000)
            logs.put_log_events(logGroupName=group, logStreamName=stream,
                                logEvents=[{"timestamp": now, "message": line} for line in build.log])


@contextlib.contextmanager
def _progress_to(context: Any, build: Build) -> Iterator[None]:
    """The deploy's progress lines also go into the build's log."""
    original = context.on_progress

    def both(message: str) -> None:
        build.log.append(message)
        original(message)

    context.on_progress = both
    try:
        yield
    finally:
        context.on_progress = original


def _succeeded(outcome: Any) -> bool:
    """A deploy outcome's verdict, however the delivery code spells it (``ok``, ``succeeded`` or ``exit_code``)."""
    for attribute in ("ok", "succeeded"):
        if hasattr(outcome, attribute):
            return bool(getattr(outcome, attribute))
    return getattr(outcome, "exit_code", 0) == 0
