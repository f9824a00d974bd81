"""Reports: the method comparison table, charts and a self-contained HTML page."""
