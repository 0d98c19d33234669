"""The one place that talks to Kubernetes.

Nothing here is imported by the REST app at start: the ``kubernetes`` package costs ~0.4 s
to import, so it is only imported inside functions of ``connection`` the first time a route
actually needs the cluster. Callers hand over plain ids and dicts and get plain dicts back;
every failure surfaces as one of ``chalicelib.errors``' errors, never as a client exception.
"""
