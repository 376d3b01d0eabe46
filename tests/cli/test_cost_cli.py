"""`prodline cost` as a user runs it, the diff it prints for a pull request, and `refresh-prices` (offline,
through botocore's Stubber)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import boto3
import pytest
from botocore.stub import Stubber

from prodline import cost_report, price_refresh
from prodline.cost_cli import estimate_of
from prodline.preview import as_json
from tests.helpers import stack_registrations


def prodline(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "prodline.cli", *args], capture_output=True, text=True,
                          timeout=180, check=False)


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_cost_prints_a_line_per_resource_and_a_total(stack):
    result = prodline("cost", "--stack", stack, "--format", "markdown")
    assert result.returncode == 0, result.stderr
    rows = [line for line in result.stdout.splitlines() if line.startswith("| ")]
    assert any("serving-config (EndpointConfiguration)" in row for row in rows)
    assert rows[-1].startswith("| **total** |")
    assert "unpriced aws:cloudwatch/eventBus:EventBus" in result.stdout


def test_cost_json_totals_rise_from_dev_to_prod():
    totals = [estimate_of(stack_registrations(s), s)["total"] for s in ("dev", "staging", "prod")]
    assert totals[0]["high"] < totals[1]["high"] < totals[2]["high"]
    assert totals[0]["low"] < totals[1]["low"] < totals[2]["low"]


def test_compare_shows_what_a_bigger_endpoint_adds():
    base = estimate_of(stack_registrations("staging"), "staging")
    head = estimate_of(stack_registrations("staging", "prodline:servingMaxCapacity=4"), "staging")
    change = cost_report.diff(base, head)
    (line,) = change["lines"]
    assert line["name"] == "serving-config" and line["change"] == "changed"
    assert "x 1-4 x 730 h" in line["what"]
    assert change["total"]["low"] == 0 and change["total"]["high"] > 0
    markdown = cost_report.diff_markdown(change)
    assert "| **total** |" in markdown and "+$" in markdown


def test_against_a_saved_preview_shows_the_difference(tmp_path):
    base = tmp_path / "base.json"
    base.write_text(json.dumps(as_json(stack_registrations("dev"))))
    result = prodline("cost", "--stack", "dev", "--against", str(base), "--json")
    assert result.returncode == 0, result.stderr
    change = json.loads(result.stdout)
    assert change["lines"] == [] and change["total"] == {"low": 0.0, "high": 0.0}


def test_compare_needs_a_stack_that_exists():
    result = prodline("cost", "--stack", "dev", "--compare", "nope")
    assert result.returncode == 2 and "--compare" in result.stderr


def test_preview_does_not_import_the_estimator():
    code = ("import sys, io, contextlib; from prodline import cli\n"
            "with contextlib.redirect_stdout(io.StringIO()): cli.main(['preview', '--stack', 'dev', '--json'])\n"
            "print('standards.cost.estimate' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=180, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


def _product(usd: str) -> str:
    return json.dumps({"product": {"attributes": {}}, "terms": {"OnDemand": {"T": {"priceDimensions": {
        "D": {"unit": "Hrs", "pricePerUnit": {"USD": usd}}}}}}})


def test_refresh_prices_writes_what_the_price_list_api_answers(tmp_path):
    template = tmp_path / "template.json"
    template.write_text(json.dumps({"region": "us-east-1", "date": "2000-01-01", "source": "t", "prices": {
        "sagemaker.hosting.ml.m5.large": {"usd": 1.0, "unit": "instance-hour"},
        "glue.dpu_hour": {"usd": 1.0, "unit": "DPU-hour"},
        "codebuild.BUILD_GENERAL1_SMALL_minute": {"usd": 0.005, "unit": "build-minute"}}}))
    client = boto3.client("pricing", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(client) as stub:
        stub.add_response("get_products", {"PriceList": [_product("0.1290000000")]}, {
            "ServiceCode": "AmazonSageMaker", "MaxResults": 10, "Filters": [
                {"Type": "TERM_MATCH", "Field": "regionCode", "Value": "eu-west-1"},
                {"Type": "TERM_MATCH", "Field": "instanceName", "Value": "ml.m5.large"},
                {"Type": "TERM_MATCH", "Field": "component", "Value": "Hosting"}]})
        stub.add_response("get_products", {"PriceList": []}, {
            "ServiceCode": "AWSGlue", "MaxResults": 10, "Filters": [
                {"Type": "TERM_MATCH", "Field": "regionCode", "Value": "eu-west-1"},
                {"Type": "TERM_MATCH", "Field": "group", "Value": "ETL Job run"}]})
        written = price_refresh.refresh("eu-west-1", tmp_path / "eu-west-1.json", client=client, template=template)
        stub.assert_no_pending_responses()
    assert written["prices"]["sagemaker.hosting.ml.m5.large"] == {"usd": 0.129, "unit": "instance-hour",
                                                                  "refreshed": True}
    assert written["prices"]["glue.dpu_hour"]["refreshed"] is False  # matched nothing: kept and marked
    assert written["prices"]["codebuild.BUILD_GENERAL1_SMALL_minute"]["refreshed"] is False  # no query
    assert json.loads((tmp_path / "eu-west-1.json").read_text())["region"] == "eu-west-1"


def test_refresh_prices_fails_when_the_api_gives_nothing(tmp_path):
    template = tmp_path / "template.json"
    template.write_text(json.dumps({"region": "us-east-1", "date": "d", "source": "s", "prices": {
        "glue.dpu_hour": {"usd": 1.0, "unit": "DPU-hour"}}}))
    client = boto3.client("pricing", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(client) as stub:
        stub.add_client_error("get_products", "AccessDeniedException", "no")
        with pytest.raises(price_refresh.RefreshError, match="Price List API"):
            price_refresh.refresh("eu-west-1", tmp_path / "out.json", client=client, template=template)
    assert not Path(tmp_path / "out.json").exists()


def test_a_stack_region_without_a_price_file_fails_naming_it_the_files_and_the_refresh_command():
    result = prodline("cost", "--stack", "dev", "--config", "aws:region=eu-central-1")
    assert result.returncode != 0 and result.stdout == ""
    assert "no price file for region 'eu-central-1'" in result.stderr
    assert "available: eu-west-1, us-east-1" in result.stderr
    assert "prodline cost refresh-prices --region eu-central-1" in result.stderr


def test_another_regions_prices_are_said_loudly_in_every_format():
    own = estimate_of(stack_registrations("dev"), "dev")
    assert "warning" not in own and own["prices"]["matchesStackRegion"] is True
    assert cost_report.title(own) == "prodline cost: stack dev in eu-west-1 (USD a month)"
    borrowed = estimate_of(stack_registrations("dev"), "dev", prices_region="us-east-1")
    assert (borrowed["region"], borrowed["prices"]["region"]) == ("eu-west-1", "us-east-1")
    assert borrowed["prices"]["matchesStackRegion"] is False
    assert borrowed["warning"].startswith("PRICED WITH us-east-1 PRICES, not those of the stack's region eu-west-1")
    assert cost_report.title(borrowed).endswith("(USD a month, US-EAST-1 PRICES)")
    assert f"**{borrowed['warning']}**" in cost_report.markdown(borrowed)
    assert cost_report.notes(borrowed)[0] == borrowed["warning"]
    change = cost_report.diff(own, borrowed)
    assert change["pricesRegion"] == {"base": "eu-west-1", "head": "us-east-1"}
    assert f"**{borrowed['warning']}**" in cost_report.diff_markdown(change)
