"""A minimal OpenAPI v3 document: just enough for kubectl's server-side field validation check.

kubectl ``create -f`` / ``apply -f`` look, in the group-version document, for a PATCH operation whose
``x-kubernetes-group-version-kind`` is the object's GVK and which accepts a ``fieldValidation`` query
parameter (cli-runtime ``query_param_verifier_v3.go``). Finding one, kubectl validates server-side and
needs no schemas. ``/openapi/v2`` is deliberately absent (kubectl only asks for it as protobuf).
"""

from .resources import group_versions, resources_in

_HASH = "SIMULATED0000000"


def _gv_path(group: str, version: str) -> str:
    return f"apis/{group}/{version}" if group else f"api/{version}"


def index() -> dict:
    return {"paths": {_gv_path(g, v): {"serverRelativeURL": f"/openapi/v3/{_gv_path(g, v)}?hash={_HASH}"}
                      for g, v in group_versions()}}


def group_version_document(path: str, version_info: dict) -> dict | None:
    """The document for ``api/v1`` or ``apis/<group>/<version>``, or None if not served."""
    for group, version in group_versions():
        if _gv_path(group, version) == path:
            break
    else:
        return None
    paths = {}
    for r in resources_in(group, version):
        prefix = "/" + _gv_path(group, version)
        item = f"{prefix}/namespaces/{{namespace}}/{r.plural}/{{name}}" if r.namespaced \
            else f"{prefix}/{r.plural}/{{name}}"
        paths[item] = {"patch": {
            "operationId": f"patch{r.kind}",
            "x-kubernetes-action": "patch",
            "x-kubernetes-group-version-kind": {"group": group, "version": version, "kind": r.kind},
            "parameters": [{"name": name, "in": "query", "schema": {"type": "string"}}
                           for name in ("dryRun", "fieldManager", "fieldValidation", "force")],
            "responses": {"200": {"description": "OK"}},
        }}
    return {"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": version_info.get("gitVersion", "")},
            "components": {"schemas": {}}, "paths": paths}
