"""Kubernetes API semantics for the simulated API server, as pure functions over plain dicts.

The store (``helpers.sim.store``) and the HTTP layer (``helpers.sim.server``) are thin shells around
these modules:

- ``resources``: the served resources (one table for routing, discovery, OpenAPI and the store);
- ``errors``: ``ApiError`` and the ``Status`` bodies upstream sends (404, 409, 410, 415, 422...);
- ``shapes``, ``fields``: decoding checks (JSON types; unknown fields for ``fieldValidation``);
- ``defaults``, ``validation``, ``strategy``, ``allocators``: what the registry does per write
  (SetDefaults, validation with upstream's wording, PrepareForCreate/Update, cluster IPs, node ports);
- ``patch``, ``managed``: merge / JSON / strategic merge patches, managedFields and server-side apply;
- ``selectors``: label and field selectors; ``scale``: the autoscaling/v1 Scale subresource;
- ``discovery``, ``openapi``, ``routing``, ``printers``: documents, URL parsing and server-side Tables.
"""
