"""The price file of a region: its date, its source, and one price per key (``prices/<region>.json``)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PRICES_DIR = Path(__file__).resolve().parent / "prices"
FALLBACK_REGION = "us-east-1"


@dataclass(frozen=True)
class PriceList:
    region: str
    date: str
    source: str
    prices: dict[str, dict[str, Any]]
    path: str

    def usd(self, key: str) -> float | None:
        entry = self.prices.get(key)
        return None if entry is None else float(entry["usd"])


def load(path: Path) -> PriceList:
    data = json.loads(path.read_text())
    for field in ("region", "date", "source", "prices"):
        if field not in data:
            raise ValueError(f"price file {path}: missing {field!r}")
    return PriceList(data["region"], data["date"], data["source"], data["prices"], str(path))


def for_region(region: str, directory: Path = PRICES_DIR) -> PriceList:
    """The region's price file, or the fallback region's (the estimate then says which region it priced)."""
    path = directory / f"{region}.json"
    return load(path if path.exists() else directory / f"{FALLBACK_REGION}.json")
