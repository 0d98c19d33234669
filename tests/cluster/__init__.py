"""Cluster tests against the real control plane.

A package, so its conftest is not imported as the top-level module ``conftest``.
"""
