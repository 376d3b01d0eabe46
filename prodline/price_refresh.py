"""Rewrite a region's price file from the AWS Price List API (``pricing`` client, its us-east-1 endpoint).

Only this command goes online; the estimator reads the file it writes. Each price key maps to a Price List
query (service code and attribute filters); the first on-demand price dimension of the first product that
matches is the price. A key with no query, or whose query finds nothing, keeps its current value and is
marked ``"refreshed": false`` with the reason, so the file never claims more than the API gave.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from standards.cost.prices import PRICES_DIR, TEMPLATE_REGION

PRICING_REGION = "us-east-1"
"""The Price List API answers from us-east-1 (and a few others) for every region."""

_SAGEMAKER_COMPONENTS = {"hosting": "Hosting", "training": "Training", "processing": "Processing",
                         "transform": "Batch Transform"}


class RefreshError(RuntimeError):
    """The Price List API could not be reached or answered nothing usable."""


def query(key: str, region: str) -> tuple[str, dict[str, str]] | None:
    """The Price List service code and attribute filters of a price key, or None when it has no query."""
    parts = key.split(".")
    if parts[0] == "sagemaker" and parts[1] in _SAGEMAKER_COMPONENTS:
        return "AmazonSageMaker", {"regionCode": region, "instanceName": ".".join(parts[2:]),
                                   "component": _SAGEMAKER_COMPONENTS[parts[1]]}
    simple: dict[str, tuple[str, dict[str, str]]] = {
        "glue.dpu_hour": ("AWSGlue", {"group": "ETL Job run"}),
        "kms.key_month": ("awskms", {"usagetype": "KMS-Keys"}),
        "s3.standard_gb_month": ("AmazonS3", {"storageClass": "General Purpose", "volumeType": "Standard"}),
        "cloudwatch.dashboard_month": ("AmazonCloudWatch", {"group": "Dashboard"}),
        "cloudwatch.alarm_metric_month": ("AmazonCloudWatch", {"group": "Alarm", "alarmType": "Standard"}),
        "logs.ingest_gb": ("AmazonCloudWatch", {"group": "Ingested Logs"}),
        "kinesis.shard_hour": ("AmazonKinesis", {"group": "Shard Hour"}),
        "firehose.ingest_gb": ("AmazonKinesisFirehose", {"group": "Event-by-Event Processing"}),
    }
    found = simple.get(key)
    if found is None:
        return None
    service, filters = found
    return service, {"regionCode": region, **filters}


def on_demand_usd(product_json: str) -> float | None:
    """The first on-demand USD price of one Price List product document."""
    product = json.loads(product_json)
    for term in (product.get("terms", {}).get("OnDemand") or {}).values():
        for dimension in (term.get("priceDimensions") or {}).values():
            usd = (dimension.get("pricePerUnit") or {}).get("USD")
            if usd is not None and float(usd) > 0:
                return float(usd)
    return None


def fetch(client: Any, key: str, region: str) -> float | None:
    found = query(key, region)
    if found is None:
        return None
    service, filters = found
    response = client.get_products(ServiceCode=service, MaxResults=10,
                                   Filters=[{"Type": "TERM_MATCH", "Field": f, "Value": v} for f, v in filters.items()])
    for product in response.get("PriceList", []):
        usd = on_demand_usd(product)
        if usd is not None:
            return usd
    return None


def refresh(region: str, output: Path, client: Any = None, template: Path | None = None) -> dict[str, Any]:
    """Write ``output`` with every key of the template (the region's file, else the template region's), refreshed."""
    if client is None:
        import boto3

        client = boto3.client("pricing", region_name=PRICING_REGION)
    source = template or (PRICES_DIR / f"{region}.json")
    if not source.exists():
        source = PRICES_DIR / f"{TEMPLATE_REGION}.json"
    current = json.loads(source.read_text())
    from botocore.exceptions import BotoCoreError, ClientError

    prices: dict[str, Any] = {}
    refreshed = 0
    for key, entry in current["prices"].items():
        try:
            usd = fetch(client, key, region)
        except (BotoCoreError, ClientError) as err:
            raise RefreshError(f"Price List API: {err}") from err
        if usd is None:
            prices[key] = {**entry, "refreshed": False,
                           "note": "no Price List query for this key, or it matched nothing: value kept from "
                                   f"{source.name}"}
        else:
            prices[key] = {"usd": usd, "unit": entry.get("unit", ""), "refreshed": True}
            refreshed += 1
    if refreshed == 0:
        raise RefreshError(f"the Price List API gave no price for {region}; {output} left as it was")
    today = datetime.now(UTC).date().isoformat()
    written = {"region": region, "currency": "USD", "date": today,
               "source": f"AWS Price List API (pricing:GetProducts, on-demand terms) on {today}; {refreshed} of "
                         f"{len(prices)} prices refreshed, the rest kept from {source.name} and marked so",
               "prices": prices}
    output.write_text(json.dumps(written, indent=2) + "\n")
    return written
