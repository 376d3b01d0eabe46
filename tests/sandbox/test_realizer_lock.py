"""A stack's `up` runs its program beside a gateway that is starting: it does not wait for the sandbox's lock; and it
does not ask the emulator again for the account its caller already knows."""

from __future__ import annotations

import threading
from types import SimpleNamespace

from prodline.sandbox import shared
from prodline.sandbox.emulator import Emulator
from prodline.sandbox.realizer import commands


class _Clients:
    def __init__(self, endpoint_url: str, region: str):
        self.endpoint_url = endpoint_url

    def __call__(self, service: str):
        return SimpleNamespace(get_caller_identity=lambda: {"Account": "123456789012"})


def test_an_up_given_its_emulator_runs_the_program_while_another_holds_the_sandbox_lock(tmp_path, monkeypatch):
    monkeypatch.setenv("PRODLINE_SANDBOX_DIR", str(tmp_path))
    (tmp_path / shared.SHARED).mkdir(parents=True)
    monkeypatch.setattr(commands, "Clients", _Clients)
    ran = threading.Event()
    monkeypatch.setattr(commands, "run_program", lambda *args, **kwargs: ran.set() or [])
    emulator = Emulator("http://127.0.0.1:9", embedded=True)
    monkeypatch.setattr(shared.emu, "ensure", lambda *args, **kwargs: emulator)  # never a real server here
    holding, release = threading.Event(), threading.Event()

    def gateway_starting() -> None:  # what shared.gateway does while a gateway loads
        with shared.locked():
            holding.set()
            release.wait(10)

    holder = threading.Thread(target=gateway_starting)
    holder.start()
    try:
        assert holding.wait(10)
        done = threading.Thread(target=commands.up, args=("dev",), kwargs={"emulator": emulator}, daemon=True)
        done.start()
        done.join(10)
        assert ran.is_set() and not done.is_alive(), "the up waited for the lock the starting gateway holds"
    finally:
        release.set()
        holder.join(10)


def test_an_up_given_its_account_does_not_ask_the_emulator_for_it(tmp_path, monkeypatch):
    monkeypatch.setenv("PRODLINE_SANDBOX_DIR", str(tmp_path))
    asked = []

    class Counting(_Clients):
        def __call__(self, service: str):
            asked.append(service)
            return super().__call__(service)

    monkeypatch.setattr(commands, "Clients", Counting)
    accounts = []
    monkeypatch.setattr(commands, "RealizingMocks",
                        lambda ctx, state, result: accounts.append(ctx.account) or SimpleNamespace(prune=list))
    monkeypatch.setattr(commands, "run_program", lambda *args, **kwargs: [])
    emulator = Emulator("http://127.0.0.1:9", embedded=True)

    commands.up("dev", emulator=emulator, account="210987654321")
    assert accounts == ["210987654321"] and "sts" not in asked
    commands.up("dev", emulator=emulator)
    assert accounts[-1] == "123456789012" and asked == ["sts"], "without it, the emulator is asked"
