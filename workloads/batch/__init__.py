"""Batch scoring's processing steps: records for Batch Transform in, predictions with their lineage out."""
