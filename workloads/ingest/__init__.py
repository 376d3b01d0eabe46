"""Ingestion: synthetic churn batches with a known signal, landed in the raw zone with a manifest."""
