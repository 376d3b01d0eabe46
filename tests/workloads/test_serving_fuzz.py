"""Fuzzing the live server: malformed requests mixed with valid ones never get a 5xx for the client's
mistake, never go unanswered, never crash a worker, and /ping stays healthy."""

from __future__ import annotations

import random
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.workloads.conftest import start_server, stop_server
from tests.workloads.http_fuzz import MUTATORS, TEMPLATES, check_answers, mutate, random_case
from tests.workloads.http_helpers import exchange, ping

FUZZ_REQUESTS = 10_000
FUZZ_SECONDS = 600  # the bound on the whole run: a hang fails it instead of stalling the suite


def children(pid: int) -> set[int]:
    return {int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()}


@pytest.fixture(scope="module")
def fuzzed(model_dir, tmp_path_factory):
    """A server whose log is kept, and its workers' ids: a worker that crashed would have been replaced."""
    log = tmp_path_factory.mktemp("fuzz") / "serve.log"
    process, url = start_server(model_dir, workers=2, log_path=log)
    workers = children(process.pid)
    yield url
    try:
        assert process.poll() is None, "the server exited"
        assert children(process.pid) == workers, "a worker died and was replaced"
        text = log.read_text(errors="replace")
        assert "Traceback" not in text and "ERROR" not in text, text[-3000:]
        ping(url)
    finally:
        stop_server(process)


pytestmark = pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads worker ids from /proc")


@st.composite
def connection_input(draw) -> bytes:
    """What one client sends on one connection: 1-3 requests, each valid or bent by mutations, or noise."""
    parts = []
    for _ in range(draw(st.integers(1, 3))):
        if draw(st.booleans()):
            parts.append(draw(st.sampled_from(TEMPLATES)))
        elif draw(st.integers(0, 9)) == 0:
            parts.append(draw(st.binary(min_size=1, max_size=200)))
        else:
            names = draw(st.lists(st.sampled_from(sorted(MUTATORS)), min_size=1, max_size=3))
            seed = draw(st.integers(0, 2**32 - 1))
            parts.append(mutate(draw(st.sampled_from(TEMPLATES)), names, random.Random(seed)))
    return b"".join(parts)


@settings(max_examples=300, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(data=connection_input())
def test_malformed_and_valid_requests_never_get_a_5xx_and_ping_stays_healthy(fuzzed, data):
    answer, closed = exchange(fuzzed, data, timeout=15)
    check_answers(data, answer, closed)
    ping(fuzzed)


def test_ten_thousand_odd_requests_get_no_5xx_and_every_one_an_answer(fuzzed):
    rng = random.Random(20261125)
    cases = [random_case(rng) for _ in range(FUZZ_REQUESTS)]
    started = time.monotonic()

    def run(data: bytes):
        answer, closed = exchange(fuzzed, data, timeout=30)
        return data, answer, closed

    statuses: dict[int, int] = {}
    with ThreadPoolExecutor(max_workers=16) as pool:
        for data, answer, closed in pool.map(run, cases):
            for response in check_answers(data, answer, closed):
                statuses[response.status] = statuses.get(response.status, 0) + 1
    assert time.monotonic() - started < FUZZ_SECONDS
    assert statuses.get(200, 0) > 0 and sum(statuses.values()) >= FUZZ_REQUESTS, statuses
