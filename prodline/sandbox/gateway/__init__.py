"""The sandbox's SageMaker hosting: the InvokeEndpoint API on loopback, backed by real ``serve`` processes.

moto stores endpoints but runs nothing, so this process does what SageMaker hosting does, reading every
definition back from the emulator (never from Python objects), so the IaC is what gets exercised:

  endpoint -> endpoint config (production variants, data capture) -> model -> model package -> model.tar.gz

For each endpoint it downloads each variant's model from the emulator's S3, starts the project's ``serve``
entry point (the SageMaker container contract) on a free loopback port, and answers

  POST /endpoints/{EndpointName}/invocations     SageMaker Runtime InvokeEndpoint, wire-compatible with boto3
  *    /restapis/{api-id}/{stage}/_user_request_/{path}   the front door: the REST API as the emulator declares it

splitting traffic by variant weight, writing data capture as JSONL to the configured S3 prefix (SSE-KMS)
and publishing AWS/SageMaker metrics to the emulator's CloudWatch. A blue/green deployment is driven from
outside (the deployment runtime) through the loopback-only control API, which also requires the sandbox's
token (``Authorization: Bearer``; ``prodline.sandbox.hosting`` writes it, mode 0600, to ``gateway.token`` beside
the gateway's record and sends it):

  GET  /_prodline/status     endpoints, fleets, ports, routing, counters
  POST /_prodline/reload     re-read the emulator: start new endpoints, stop removed ones
  POST /_prodline/deploy     {"endpoint", "endpoint_config", "canary_percent"}: start the green fleet, route a share
  POST /_prodline/promote    {"endpoint"}: all traffic to green, stop blue; green becomes the current (blue) fleet
  POST /_prodline/rollback   {"endpoint"}: all traffic to blue at once, drain and stop green (idempotent)
  POST /_prodline/flush      write buffered capture and metrics now

Routing is deterministic (smooth weighted round-robin), not random as in AWS: a 10 % canary gets exactly
one request in ten, so tests and the demo are reproducible. Capture sampling is deterministic likewise.

The modules, each depending only on those above it:

  errors      the GatewayError hierarchy and its two mappings to HTTP (runtime API, control API)
  declared    the hosting config read back from the emulator (endpoint config, variants, data capture)
  servers     model artifacts, ``serve`` processes, their health, and one call to a container
  fleet       routing: weighted variants within a fleet, blue/green split between fleets
  telemetry   CloudWatch metrics and data capture, buffered and flushed periodically
  front_door  the REST APIs in front of the endpoints: auth, throttling, access logs, integrations
  app         ``Gateway``: the hosted endpoints, invocation, reload, deploy/promote/rollback
  api         the HTTP front (InvokeEndpoint and the control API)
  __main__    the process: ``python -m prodline.sandbox.gateway`` (``prodline.sandbox.hosting`` runs it)
"""
