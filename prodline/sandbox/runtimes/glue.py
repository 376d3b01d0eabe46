"""Glue, locally: run a job by name as Glue would, from its definition in the emulator.

The script comes from the job's ScriptLocation, ``--extra-py-files`` go on the path, the job's default
arguments are merged with the run's, and the run is recorded (id, state, start/end, error) beside the
sandbox, so ``prodline sandbox etl`` and ``get_job_run``-style status work. A successful run fires the
job's conditional triggers, as Glue does.
"""

from __future__ import annotations

import json
import sys
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path

from prodline.sandbox.runtimes.containers import run_container, tail
from workloads.s3_uri import split_s3

SUCCEEDED, FAILED = "SUCCEEDED", "FAILED"


@dataclass
class JobRun:
    job_name: str
    run_id: str
    state: str
    started_on: float
    completed_on: float
    arguments: dict[str, str]
    error: str = ""
    log: str = ""
    output: str = ""


def run_job(clients, job_name: str, workdir: Path, env: dict[str, str], run_arguments: dict[str, str] | None = None,
            *, follow_triggers: bool = True) -> list[JobRun]:
    """Run a job and, when it succeeds, every job its conditional triggers start; return all runs in order."""
    runs = [_run_one(clients, job_name, workdir, env, run_arguments or {})]
    if follow_triggers and runs[-1].state == SUCCEEDED:
        for next_job in triggered_by(clients("glue"), job_name):
            runs += run_job(clients, next_job, workdir, env, {}, follow_triggers=follow_triggers)
    return runs


def state_change_event(run: JobRun) -> dict:
    """The EventBridge event Glue emits when a job run ends."""
    return {"source": "aws.glue", "detail-type": "Glue Job State Change",
            "detail": {"jobName": run.job_name, "jobRunId": run.run_id, "state": run.state,
                       "message": run.error[:200] if run.error else f"{run.job_name} {run.state.lower()}"}}


def triggered_by(glue, job_name: str) -> list[str]:
    """Jobs that conditional triggers start when ``job_name`` succeeds (read from the emulator)."""
    started = []
    for trigger in glue.get_triggers()["Triggers"]:
        if trigger.get("Type") != "CONDITIONAL":
            continue
        conditions = trigger.get("Predicate", {}).get("Conditions", [])
        if any(c.get("JobName") == job_name and c.get("State") == SUCCEEDED for c in conditions):
            started += [a["JobName"] for a in trigger.get("Actions", []) if "JobName" in a]
    return started


def _run_one(clients, job_name: str, workdir: Path, env: dict[str, str], run_arguments: dict[str, str]) -> JobRun:
    job = clients("glue").get_job(JobName=job_name)["Job"]
    run_id = f"jr_{uuid.uuid4().hex}"
    run_dir = workdir / "glue" / job_name / run_id
    s3 = clients("s3")
    script = _fetch(s3, job["Command"]["ScriptLocation"], run_dir / "code")
    arguments = {**job.get("DefaultArguments", {}), **run_arguments, "--JOB_NAME": job_name}
    extra = [str(_fetch(s3, url, run_dir / "code")) for url in arguments.get("--extra-py-files", "").split(",") if url]

    started = time.time()
    argv = [sys.executable, str(script)]
    for key, value in arguments.items():
        argv += [key if key.startswith("--") else f"--{key}", value]
    result = run_container(argv, root=None, log=run_dir / "run.log", timeout=60.0 * int(job.get("Timeout", 60)),
                           env={**env, "PYTHONPATH": ":".join(extra)})
    run = JobRun(job_name, run_id, SUCCEEDED if result.returncode == 0 else FAILED, started, time.time(),
                 {k: v for k, v in arguments.items() if k != "--extra-py-files"},
                 error="" if result.returncode == 0 else tail(result.log),
                 log=str(result.log), output=_last_json_line(result.log))
    _ship_logs(clients("logs"), arguments.get("--continuous-log-logGroup"), run_id, result.log)
    (run_dir / "run.json").write_text(json.dumps(asdict(run), indent=1))
    return run


def _fetch(s3, url: str, target_dir: Path) -> Path:
    bucket, key = split_s3(url)
    path = target_dir / Path(key).name
    path.parent.mkdir(parents=True, exist_ok=True)
    s3.download_file(bucket, key, str(path))
    return path


def _last_json_line(log: Path) -> str:
    for line in reversed(log.read_text(errors="replace").splitlines()):
        if line.startswith("{"):
            return line
    return ""


def _ship_logs(logs, group: str | None, run_id: str, log: Path) -> None:
    """Continuous logging as Glue does it: the run's output in the job's log group, one stream per run."""
    if not group:
        return
    lines = log.read_text(errors="replace").splitlines()[-5000:]
    if not lines:
        return
    logs.create_log_stream(logGroupName=group, logStreamName=run_id)
    now = int(time.time() * 1000)
    logs.put_log_events(logGroupName=group, logStreamName=run_id,
                        logEvents=[{"timestamp": now, "message": line or " "} for line in lines])


def list_runs(workdir: Path, job_name: str | None = None) -> list[JobRun]:
    pattern = f"glue/{job_name or '*'}/*/run.json"
    runs = [JobRun(**json.loads(p.read_text())) for p in workdir.glob(pattern)]
    return sorted(runs, key=lambda r: r.started_on)
