"""The pack's config per environment: each rule's enforcement level and the ``environment`` it judges for.

``pulumi preview --policy-pack policies --policy-pack-config policies/config/<env>.json`` reads the files
this module writes; ``policies/__main__.py`` uses the same mapping as the pack's initial config, and
``prodline policy`` the same levels, so the three never disagree. Regenerate the files after adding a rule
or changing a level::

    .venv/bin/python -m policies.pack_config
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pulumi_policy import EnforcementLevel

from policies.registry import RULES
from standards.environments import ENVIRONMENTS

CONFIG_DIR = Path(__file__).resolve().parent / "config"


def pack_config(environment: str) -> dict[str, dict[str, Any]]:
    """Policy name -> {enforcementLevel, environment}, the shape of Pulumi's --policy-pack-config file."""
    if environment not in ENVIRONMENTS:
        raise ValueError(f"environment must be one of {', '.join(ENVIRONMENTS)}, got {environment!r}")
    return {rule.name: {"enforcementLevel": rule.levels[environment].value, "environment": environment}
            for rule in RULES}


def initial_config(environment: str) -> dict[str, dict[str, Any]]:
    """The same mapping as PolicyPack's ``initial_config`` wants it: levels as EnforcementLevel values."""
    return {name: {**entry, "enforcementLevel": EnforcementLevel(entry["enforcementLevel"])}
            for name, entry in pack_config(environment).items()}


def render(environment: str) -> str:
    return json.dumps(pack_config(environment), indent=2) + "\n"


def config_path(environment: str) -> Path:
    return CONFIG_DIR / f"{environment}.json"


def main() -> None:
    CONFIG_DIR.mkdir(exist_ok=True)
    for environment in ENVIRONMENTS:
        config_path(environment).write_text(render(environment))
        print(f"wrote {config_path(environment).relative_to(CONFIG_DIR.parent.parent)}")


if __name__ == "__main__":
    main()
