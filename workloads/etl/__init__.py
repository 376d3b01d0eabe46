"""Glue ETL: validate raw batches into the curated zone (bad rows to quarantine) and build features."""
