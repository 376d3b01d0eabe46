"""Price files: one per region the stacks run in, every price saying where it came from, and no silent stand-in
for a region without one."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from standards.cost import prices
from standards.cost.estimate import Resource, estimate_stack
from standards.cost.prices import MissingPriceFile
from tests.helpers import stack_registrations

FIXTURE = Path(__file__).resolve().parent / "prices"
STACKS = ("dev", "staging", "prod")


def _resources(stack: str) -> list[Resource]:
    return [Resource(r.type, r.name, r.inputs) for r in stack_registrations(stack)]


def test_a_region_without_a_price_file_is_an_error_naming_the_files_there_are_and_the_refresh_command():
    with pytest.raises(MissingPriceFile) as err:
        prices.for_region("eu-central-1", FIXTURE)
    assert "'eu-central-1'" in str(err.value)
    assert "(available: eu-west-1)" in str(err.value)
    assert "prodline cost refresh-prices --region eu-central-1" in str(err.value)
    assert "--prices-region" in str(err.value)


def test_the_estimate_never_falls_back_to_another_regions_prices(tmp_path):
    us = json.loads((FIXTURE / "eu-west-1.json").read_text()) | {"region": "us-east-1"}
    (tmp_path / "us-east-1.json").write_text(json.dumps(us))
    with pytest.raises(MissingPriceFile, match=r"'eu-west-1'.*available: us-east-1"):
        estimate_stack(_resources("dev"), price_dir=tmp_path)


def test_another_regions_prices_only_when_asked_and_the_estimate_keeps_both_regions(tmp_path):
    shutil.copy(FIXTURE / "eu-west-1.json", tmp_path / "eu-west-1.json")
    us = json.loads((FIXTURE / "eu-west-1.json").read_text()) | {"region": "us-east-1"}
    (tmp_path / "us-east-1.json").write_text(json.dumps(us))
    estimate, _ = estimate_stack(_resources("dev"), price_dir=tmp_path, prices_region="us-east-1")
    assert (estimate.region, estimate.prices.region) == ("eu-west-1", "us-east-1")
    own, _ = estimate_stack(_resources("dev"), price_dir=tmp_path)
    assert own.prices.region == "eu-west-1"


@pytest.mark.parametrize("stack", STACKS)
def test_every_stack_is_priced_with_its_own_regions_shipped_file(stack):
    estimate, budget = estimate_stack(_resources(stack))
    assert estimate.prices.region == budget.region == estimate.region
    assert Path(estimate.prices.path) == prices.PRICES_DIR / f"{budget.region}.json"


@pytest.mark.parametrize("region", prices.regions())
def test_every_shipped_price_says_where_it_came_from(region):
    price_list = prices.for_region(region)
    assert price_list.region == region and price_list.date and price_list.source
    fixture_keys = set(json.loads((FIXTURE / "eu-west-1.json").read_text())["prices"])
    assert set(price_list.prices) == fixture_keys, "a shipped file prices exactly the keys the estimator uses"
    for key, entry in price_list.prices.items():
        assert isinstance(entry["checked"], bool) and entry["usd"] > 0, key
        assert entry["source"].strip(), f"{region} {key}: no source"
        if entry["checked"]:
            assert "github.com/" in entry["source"] or "https://" in entry["source"], \
                f"{region} {key}: checked without a cited repository or address"
        else:
            assert entry["source"].startswith("unverified"), f"{region} {key}: unchecked but not said to be"
