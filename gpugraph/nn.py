"""``gpugraph.nn``: filled from the op modules' EXPORTS tables (see gpugraph/_api.py)."""
