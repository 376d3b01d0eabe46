"""Stream producer benchmark: churn events per second through ``put_records`` into the sandbox's emulator.

    make bench-stream
    .venv/bin/python -m bench.stream_bench [--events 20000] [--rounds 5]     (the same, from the repository root)

A moto server of its own on a free loopback port (started and stopped here, never 4566) and one ON_DEMAND
stream encrypted with a KMS key, as the stack declares it, created afresh for each round: moto slows down as
a stream it holds grows (in one stream, 2,800 events/s for its second 20,000 and 640 for its sixth), Kinesis
does not. Each round puts ``--events`` fresh events (5% invalid rows, as the demo sends) with the project's
producer: batches of up to 500 records / 5 MiB, botocore's standard retry mode. Encoding (the JSON of each
event) is timed apart from sending; the figure is events sent per second of sending, median and min-max over
the rounds. Every round must send every event (no failures), or the run stops. The emulator is moto on one
core: this measures the producer and moto together, not Kinesis (a shard takes 1,000 records/s of writes in
AWS; an ON_DEMAND stream starts with 4 shards).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from bench.common import machine, spread, wait_for_quiet, write_results

STREAM = "prodline-bench-churn-events"


def run(events: int, rounds: int) -> dict:
    import boto3

    from prodline.net import free_port
    from prodline.sandbox import emulator
    from prodline.sandbox.emulator import DUMMY_CREDENTIALS
    from workloads.ingest import generator
    from workloads.ingest import stream as producer

    os.environ.pop("AWS_ENDPOINT_URL", None)
    with tempfile.TemporaryDirectory(prefix="stream-bench-") as scratch:
        moto = emulator.ensure(Path(scratch), port=free_port())
        try:
            credentials = {k.lower(): v for k, v in DUMMY_CREDENTIALS.items()}
            region = "eu-west-1"
            kms = boto3.client("kms", endpoint_url=moto.endpoint_url, region_name=region, **credentials)
            kinesis = producer.kinesis_client(endpoint_url=moto.endpoint_url, region_name=region, **credentials)
            key = kms.create_key(Description="bench lake key")["KeyMetadata"]["Arn"]
            send_rates, encode_rates, calls = [], [], []
            for number in range(rounds + 1):  # round 0 warms up the server and the client
                # A fresh stream per round: moto slows down as a stream it holds grows, Kinesis does not.
                stream = f"{STREAM}-{number}"
                kinesis.create_stream(StreamName=stream, StreamModeDetails={"StreamMode": "ON_DEMAND"})
                kinesis.start_stream_encryption(StreamName=stream, EncryptionType="KMS", KeyId=key)
                table = generator.generate_raw(events, seed=number, invalid_fraction=0.05)
                started = time.perf_counter()
                records = [producer.encode(e) for e in producer.events(table)]
                encoded = time.perf_counter()
                report = producer.put_records(kinesis, stream, records)
                sent = time.perf_counter()
                if report.sent != events or report.failed:
                    raise RuntimeError(f"round {number}: sent {report.sent} of {events}, failed "
                                       f"{report.failures_by_code()}")
                if number:
                    encode_rates.append(events / (encoded - started))
                    send_rates.append(events / (sent - encoded))
                    calls.append(report.calls)
                    print(f"  round {number}: {send_rates[-1]:,.0f} events/s sent, {report.calls} calls, "
                          f"{report.retried} retried")
                kinesis.delete_stream(StreamName=stream, EnforceConsumerDeletion=True)
        finally:
            emulator.stop(Path(scratch))
    return {"events_per_round": events, "rounds": rounds, "calls_per_round": calls,
            "send_events_per_second": spread(send_rates), "encode_events_per_second": spread(encode_rates)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.stream_bench", description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--wait", type=float, default=30.0,
                        help="seconds to wait at most for other work to leave the CPUs idle (the share is recorded)")
    args = parser.parse_args(argv)
    busy = wait_for_quiet(timeout=args.wait)
    results = {"machine": machine(), "cpu_busy_before": busy, **run(args.events, args.rounds)}
    path = write_results("stream", results)
    rate = results["send_events_per_second"]
    print(f"producer -> moto: {rate['median']:,.0f} events/s (min {rate['min']:,.0f}, max {rate['max']:,.0f}) "
          f"over {args.rounds} rounds of {args.events:,}; results in {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
