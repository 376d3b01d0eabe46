"""The price file of a region: its date, its source, and one price per key (``prices/<region>.json``)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PRICES_DIR = Path(__file__).resolve().parent / "prices"
TEMPLATE_REGION = "us-east-1"
"""The file whose keys `refresh-prices` queries for a region that has none yet."""


class MissingPriceFile(ValueError):
    """The stack's region has no price file: estimating it with another region's prices would misstate it."""


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


def regions(directory: Path = PRICES_DIR) -> list[str]:
    return sorted(path.stem for path in directory.glob("*.json"))


def for_region(region: str, directory: Path = PRICES_DIR) -> PriceList:
    """The region's price file; never another region's in its place, since prices differ by region (SageMaker's
    eu-west-1 instances cost about 12% more than us-east-1's) and a silent substitute reads as the real figure.
    Pricing with another region's file is the caller's explicit choice (`prodline cost --prices-region`)."""
    path = directory / f"{region}.json"
    if not path.exists():
        available = ", ".join(regions(directory)) or "none"
        raise MissingPriceFile(
            f"no price file for region {region!r} in {directory} (available: {available}); "
            f"write it with `prodline cost refresh-prices --region {region}` (online, Price List API), or estimate "
            f"with another region's prices, named as such: `prodline cost --prices-region <region>`")
    return load(path)
