"""Benchmarks of the portal against the ArcGIS simulator, each measured side by side with
the same work done directly against ArcGIS. Run `python -m bench` (all) or
`python -m bench proxy_cancel` (one); see bench/__main__.py."""
