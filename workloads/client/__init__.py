"""Client for a deployed endpoint: ``prodline invoke`` calls ``workloads.client.invoke.main``."""
