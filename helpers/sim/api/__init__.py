"""Kubernetes API semantics for the simulated API server, as pure functions over plain dicts.

The store (``helpers.sim.store``) and the HTTP layer (``helpers.sim.server``) are thin shells around
these modules: resource table, errors, defaults, validation, selectors, patches, Table printers,
discovery and OpenAPI documents.
"""
