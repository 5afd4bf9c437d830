"""Discovery documents, legacy (``APIVersions``/``APIGroupList``/``APIResourceList``) and aggregated
(``apidiscovery.k8s.io/v2``), all built from the one resource table.

kubectl 1.37 asks for the aggregated form and silently sees no resources unless the response carries
exactly ``AGGREGATED_CONTENT_TYPE``; the Python ``DynamicClient`` only reads the legacy form.
"""

from .resources import Resource, group_versions, resources_in

AGGREGATED_CONTENT_TYPE = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"

_SUBRESOURCE_VERBS = {"status": ["get", "patch", "update"], "scale": ["get", "patch", "update"],
                      "finalize": ["update"], "log": ["get"], "binding": ["create"], "token": ["create"],
                      "eviction": ["create"], "exec": ["create", "get"], "attach": ["create", "get"],
                      "portforward": ["create", "get"]}
_SUBRESOURCE_KIND = {"scale": ("autoscaling", "v1", "Scale"), "binding": ("", "v1", "Binding"),
                     "token": ("authentication.k8s.io", "v1", "TokenRequest"), "eviction": ("policy", "v1", "Eviction"),
                     "exec": ("", "v1", "PodExecOptions"), "attach": ("", "v1", "PodAttachOptions"),
                     "portforward": ("", "v1", "PodPortForwardOptions")}


def wants_aggregated(accept: str) -> bool:
    return "as=APIGroupDiscoveryList" in (accept or "")


def _sub_kind(r: Resource, sub: str) -> tuple[str, str, str]:
    return _SUBRESOURCE_KIND.get(sub, (r.group, r.version, r.kind))


def api_versions() -> dict:
    return {"kind": "APIVersions", "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}]}


def _group(group: str, version: str) -> dict:
    gv = {"groupVersion": f"{group}/{version}", "version": version}
    return {"name": group, "versions": [gv], "preferredVersion": gv}


def api_group_list() -> dict:
    return {"kind": "APIGroupList", "apiVersion": "v1",
            "groups": [_group(g, v) for g, v in group_versions() if g]}


def api_group(group: str) -> dict | None:
    for g, v in group_versions():
        if g == group and g:
            return {"kind": "APIGroup", "apiVersion": "v1", **_group(g, v)}
    return None


def api_resource_list(group: str, version: str) -> dict | None:
    resources = resources_in(group, version)
    if not resources:
        return None
    entries = []
    for r in resources:
        entry = {"name": r.plural, "singularName": r.singular_name, "namespaced": r.namespaced,
                 "kind": r.kind, "verbs": list(r.verbs)}
        if r.short_names:
            entry["shortNames"] = list(r.short_names)
        if r.categories:
            entry["categories"] = list(r.categories)
        entries.append(entry)
        for sub in r.subresources:
            sub_group, sub_version, sub_kind = _sub_kind(r, sub)
            sub_entry = {"name": f"{r.plural}/{sub}", "singularName": "", "namespaced": r.namespaced,
                         "kind": sub_kind, "verbs": _SUBRESOURCE_VERBS[sub]}
            if (sub_group, sub_version) != (r.group, r.version):
                sub_entry.update(group=sub_group, version=sub_version)
            entries.append(sub_entry)
    gv = f"{group}/{version}" if group else version
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": entries}


def _aggregated_resource(r: Resource) -> dict:
    entry = {"resource": r.plural,
             "responseKind": {"group": r.group, "version": r.version, "kind": r.kind},
             "scope": "Namespaced" if r.namespaced else "Cluster",
             "singularResource": r.singular_name, "verbs": list(r.verbs)}
    if r.short_names:
        entry["shortNames"] = list(r.short_names)
    if r.categories:
        entry["categories"] = list(r.categories)
    if r.subresources:
        entry["subresources"] = []
        for sub in r.subresources:
            group, version, kind = _sub_kind(r, sub)
            entry["subresources"].append({"subresource": sub, "verbs": _SUBRESOURCE_VERBS[sub],
                                          "responseKind": {"group": group, "version": version, "kind": kind}})
    return entry


def aggregated(core: bool) -> dict:
    """``/api`` (core=True) or ``/apis`` (core=False) in aggregated form."""
    items = []
    for group, version in group_versions():
        if bool(group) == core:
            continue
        metadata = {"creationTimestamp": None}
        if group:
            metadata["name"] = group
        items.append({"metadata": metadata, "versions": [{
            "version": version, "freshness": "Current",
            "resources": [_aggregated_resource(r) for r in resources_in(group, version)]}]})
    return {"kind": "APIGroupDiscoveryList", "apiVersion": "apidiscovery.k8s.io/v2", "metadata": {},
            "items": items}
