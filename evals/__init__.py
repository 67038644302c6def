"""Tasks, data loading and metrics: GLUE from the official TSVs or the hub."""
