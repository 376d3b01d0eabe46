"""The sandbox state keeps every change the moment it is made: a crash between two saves loses nothing."""

from __future__ import annotations

import json

from prodline.sandbox.state import REALIZED, Entry, SandboxState


def entry(name: str, ident: str = "") -> Entry:
    return Entry(f"aws:s3/bucket:Bucket::{name}", "aws:s3/bucket:Bucket", name, REALIZED, ident or name, {}, "h")


def test_changes_since_the_last_save_are_replayed_by_the_next_load(tmp_path):
    path = tmp_path / "state.json"
    state = SandboxState(path)
    state.put(entry("a"))
    state.save()
    state.put(entry("b"))
    state.put(entry("c"))
    state.remove(entry("a").urn)
    state.put(entry("b", "b-2"))  # a replacement moves to the end
    # no save: the process "crashed" here
    assert json.loads(path.read_text())["entries"][0]["name"] == "a"
    loaded = SandboxState.load(path)
    assert [(e.name, e.id) for e in loaded.entries] == [("c", "c"), ("b", "b-2")]
    assert not loaded.journal.exists()  # folded into state.json by the load
    assert [e["name"] for e in json.loads(path.read_text())["entries"]] == ["c", "b"]


def test_a_line_cut_short_by_the_crash_ends_the_replay(tmp_path):
    path = tmp_path / "state.json"
    state = SandboxState(path)
    state.put(entry("a"))
    with state.journal.open("a") as journal:
        journal.write('{"put": {"urn": "aws:s3/bu')
    assert [e.name for e in SandboxState.load(path).entries] == ["a"]


def test_a_save_writes_everything_and_starts_a_new_journal(tmp_path):
    path = tmp_path / "state.json"
    state = SandboxState(path)
    state.put(entry("a"))
    assert state.journal.exists()
    state.save()
    assert not state.journal.exists()
    assert [e.name for e in SandboxState.load(path).entries] == ["a"]
