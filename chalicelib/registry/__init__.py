"""The container registry adapter: Docker Registry HTTP API v2 / OCI distribution.

Auto-update needs two answers from any registry (Docker Hub, GHCR, Quay, ECR, GitLab, Harbor,
a private one): which tags a repository has, and which digest a tag points to now. This package
is the one place that speaks HTTP to registries; the tick, the policies and the webhook call
:class:`chalicelib.registry.client.RegistryClient` and never see auth challenges or headers.
"""
