"""Pulumi component resources: one per file, no config reads, no boto3."""
