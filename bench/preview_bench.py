"""`prodline preview --stack prod --json` and `prodline policy --stack prod`: wall and CPU time of the commands.

Each command runs as users run it, a fresh interpreter per run (imports included, bytecode caches warm from a
warm-up round that is not counted). Wall time is what the goal is set in; user+sys CPU time is given beside it
because the other work on a shared machine stretches wall time far more than it moves CPU time.

``--baseline-ref REF`` also runs the commands of the repository as it was at REF (extracted with ``git archive``
into a temporary directory), interleaved with this checkout's in every round (which goes first alternates), and checks
that both previews declare the same resources with the same inputs (order aside: the mocks' registrations
arrive from threads, so the order of the list already varies from run to run; the repository bundle's content
hash aside: it changes with any file).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

from bench.common import ROOT, busy_share, machine, spread, write_results

COMMANDS = {
    "preview": ["preview", "--stack", "prod", "--json"],
    "policy": ["policy", "--stack", "prod"],
}
BUNDLE_HASH = re.compile(r"deployer([/-])[0-9a-f]{12}")


def baseline_tree(ref: str, into: Path) -> str:
    """The repository at ``ref`` extracted under ``into`` (outside the checkout: its files are no part of this
    one); returns the commit."""
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--verify", f"{ref}^{{commit}}"], check=True,
                            capture_output=True, text=True).stdout.strip()
    archive = into / "tree.tar"
    with archive.open("wb") as out:
        subprocess.run(["git", "-C", str(ROOT), "archive", "--format=tar", commit], check=True, stdout=out)
    with tarfile.open(archive) as tar:
        tar.extractall(into, filter="data")
    archive.unlink()
    return commit


def run(tree: Path, argv: list[str]) -> tuple[float, float, str]:
    """Wall seconds, user+sys CPU seconds and stdout of ``prodline ARGV`` run from ``tree``."""
    cpu_before = children_cpu()
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "prodline.cli", *argv], cwd=tree, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(tree)}, timeout=300, check=False)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"prodline {' '.join(argv)} in {tree} exited {done.returncode}: {done.stderr[-500:]}")
    return wall, children_cpu() - cpu_before, done.stdout


def children_cpu() -> float:
    """User+sys CPU seconds of every child this process has reaped (one runs at a time here)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def canonical(preview_json: str) -> str:
    """A preview's resources in URN order, dependencies sorted, the repository bundle's hash masked."""
    resources = sorted(({**r, "dependencies": sorted(r["dependencies"])} for r in json.loads(preview_json)),
                       key=lambda r: r["urn"])
    return BUNDLE_HASH.sub(r"deployer\1<hash>", json.dumps(resources, sort_keys=True))


def measure(trees: dict[str, Path], rounds: int) -> tuple[dict, list[float]]:
    """Wall and CPU seconds per tree and command over ``rounds`` interleaved rounds, and the load seen."""
    timings = {tree: {command: {"wall": [], "cpu": []} for command in COMMANDS} for tree in trees}
    load = []
    for round_number in range(rounds + 1):  # round 0 writes the bytecode caches and warms the page cache
        busy = busy_share()
        load.append(os.getloadavg()[0])
        order = list(trees) if round_number % 2 else list(reversed(trees))
        previews = {}
        for label in order:
            for command, command_argv in COMMANDS.items():
                wall, cpu, out = run(trees[label], command_argv)
                if command == "preview":
                    previews[label] = canonical(out)
                if round_number:
                    timings[label][command]["wall"].append(wall)
                    timings[label][command]["cpu"].append(cpu)
        if len(set(previews.values())) != 1:
            raise RuntimeError(f"the previews differ between {', '.join(previews)}")
        figures = "; ".join(f"{label} {command} {timings[label][command]['wall'][-1]:.2f} s"
                            for label in order for command in COMMANDS) if round_number else "warm-up"
        print(f"round {round_number}: {figures} (CPUs {busy:.0%} busy beforehand, load {load[-1]:.2f})")
    return timings, load


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--baseline-ref", help="also time the repository at this git ref, interleaved")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="prodline-preview-") as scratch:
        trees = {"this checkout": ROOT}
        commit = None
        if args.baseline_ref:
            trees[f"at {args.baseline_ref}"] = Path(scratch)
            commit = baseline_tree(args.baseline_ref, Path(scratch))
        timings, load = measure(trees, args.rounds)
    result = {"machine": machine(), "command": "make bench-preview", "baseline_commit": commit,
              "load_average_1min": spread(load), "same_previews": True,
              "results": {label: {command: {kind: spread(values) for kind, values in figures.items()}
                                  for command, figures in per_command.items()}
                          for label, per_command in timings.items()}}
    for label, per_command in result["results"].items():
        for command, figures in per_command.items():
            wall, cpu = figures["wall"], figures["cpu"]
            print(f"{label:>16} {command:<8} wall {wall['median']:.2f} s ({wall['min']:.2f}-{wall['max']:.2f}), "
                  f"user+sys {cpu['median']:.2f} s ({cpu['min']:.2f}-{cpu['max']:.2f}), {wall['rounds']} rounds")
    print(f"results: {write_results('preview', result)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
