"""URL paths of the Kubernetes API -> what they address (pure parsing, no I/O)."""

from dataclasses import dataclass

from .errors import ApiError
from .resources import BY_GROUP_VERSION_PLURAL, Resource, group_versions


@dataclass(frozen=True)
class Target:
    """A resource URL: collection when ``name`` is None; ``namespace`` None means all namespaces."""

    resource: Resource
    namespace: str | None = None
    name: str | None = None
    subresource: str | None = None


def not_found_path() -> ApiError:
    return ApiError(404, "NotFound", "the server could not find the requested resource",
                    {"causes": [{"reason": "UnexpectedServerResponse", "message": "404 page not found"}]})


def not_found_resource() -> ApiError:
    """A path inside a served group-version that names no resource: kube-apiserver's generic 404 Status
    (no details), unlike unknown groups, whose mux answers "404 page not found"."""
    return ApiError(404, "NotFound", "the server could not find the requested resource")


def parse(path: str) -> tuple[str, str, Target | None]:
    """Split ``/api/v1/...`` or ``/apis/<g>/<v>/...`` into (group, version, target).

    ``target`` is None for the group-version root itself (its discovery document). Raises 404 for
    group-versions and resources the simulator does not serve.
    """
    parts = [p for p in path.split("/") if p]
    if parts[:2] == ["api", "v1"]:
        group, version, rest = "", "v1", parts[2:]
    elif len(parts) >= 3 and parts[0] == "apis":
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        raise not_found_path()
    if (group, version) not in group_versions():
        raise not_found_path()
    if not rest:
        return group, version, None
    namespace = None
    if rest[0] == "namespaces" and len(rest) >= 3 and (group, version, rest[2]) in BY_GROUP_VERSION_PLURAL \
            and BY_GROUP_VERSION_PLURAL[(group, version, rest[2])].namespaced:
        namespace, rest = rest[1], rest[2:]
    resource = BY_GROUP_VERSION_PLURAL.get((group, version, rest[0]))
    if resource is None or len(rest) > 3:
        raise not_found_resource()
    name = rest[1] if len(rest) > 1 else None
    subresource = rest[2] if len(rest) > 2 else None
    if subresource is not None and subresource not in resource.subresources:
        raise not_found_resource()
    return group, version, Target(resource, namespace, name, subresource)
