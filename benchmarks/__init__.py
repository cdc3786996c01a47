"""Benchmarks of safekernel against ipykernel, measured side by side in one run (issue 7).

Run `python -m benchmarks --help`; README.md explains every row and the JSON format.
"""
