"""API errors as upstream's ``Status`` objects (apimachinery ``StatusError``)."""


class ApiError(Exception):
    """An error the API answers with a ``Status``: HTTP ``code``, machine ``reason``, human ``message``."""

    def __init__(self, code: int, reason: str, message: str, details: dict | None = None):
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details
        self.list_meta = {}  # the Status's own ListMeta (an expired list's fresh continue token)

    def status(self) -> dict:
        """The ``Status`` dict the server sends (and watches embed in ERROR events)."""
        # metav1.Status's field order, as kube-apiserver writes it: details before code
        body = {"kind": "Status", "apiVersion": "v1", "metadata": dict(self.list_meta), "status": "Failure",
                "message": self.message, "reason": self.reason, "details": self.details, "code": self.code}
        if not self.reason:  # metav1.Status reason is omitempty (a storage error passed through has none)
            del body["reason"]
        if self.details is None:
            del body["details"]
        return body


def status_details(name: str, group: str, kind: str, **more) -> dict:
    """A ``StatusDetails`` as kube-apiserver sends it: ``name``, ``group`` and ``kind`` are omitempty
    (metav1 types.go), so a core resource's details have no group (checked against the real v1.37.0
    one: NotFound, AlreadyExists, Conflict, Success of a delete, Invalid)."""
    details = {"name": name, "group": group, "kind": kind, **more}
    return {key: value for key, value in details.items() if value or key not in ("name", "group", "kind")}


def _details(resource: str, name: str) -> dict:
    """``details`` as upstream fills them: the group, and the plural resource name as ``kind``.

    Resource keys (``deployments.apps``, ``pods``) are also how upstream names a resource in messages.
    """
    plural, _, group = resource.partition(".")
    return status_details(name, group, plural)


def not_found(resource: str, name: str) -> ApiError:
    return ApiError(404, "NotFound", f'{resource} "{name}" not found', _details(resource, name))


def already_exists(resource: str, name: str) -> ApiError:
    return ApiError(409, "AlreadyExists", f'{resource} "{name}" already exists',
                    _details(resource, name))


def conflict(resource: str, name: str) -> ApiError:
    message = (f'Operation cannot be fulfilled on {resource} "{name}": the object has been '
               "modified; please apply your changes to the latest version and try again")
    return ApiError(409, "Conflict", message, _details(resource, name))


def bad_request(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


def forbidden(resource: str, name: str, why: str) -> ApiError:
    return ApiError(403, "Forbidden", f'{resource} "{name}" is forbidden: {why}',
                    _details(resource, name))


def method_not_allowed(message: str = "the server does not allow this method on the requested resource"):
    return ApiError(405, "MethodNotAllowed", message)


def expired(message: str) -> ApiError:
    return ApiError(410, "Expired", message)


def unsupported_media_type() -> ApiError:
    """Upstream's 415 for a body media type no serializer handles (apiserver ``negotiation/errors.go``)."""
    return ApiError(415, "UnsupportedMediaType", "the body of the request was in an unknown format - accepted "
                    "media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf")


def internal(message: str) -> ApiError:
    return ApiError(500, "InternalError", f"Internal error occurred: {message}",
                    {"causes": [{"message": message}]})


def invalid(kind: str, name: str, group: str, causes: list[dict]) -> ApiError:
    """422 Invalid. ``causes`` are ``{"reason", "message", "field"}`` as built by ``validation``."""
    parts = [f'{c["field"]}: {c["message"]}' if c.get("field") else c["message"] for c in causes]
    summary = parts[0] if len(parts) == 1 else "[" + ", ".join(parts) + "]"
    details = status_details(name, group, kind, causes=causes)
    qualified = f"{kind}.{group}" if group else kind  # apimachinery errors.NewInvalid: GroupKind.String()
    return ApiError(422, "Invalid", f'{qualified} "{name}" is invalid: {summary}', details)


def forbidden_request(message: str) -> ApiError:
    """403 for a request refused before routing (a foreign Host, a browser's cross-origin write)."""
    return ApiError(403, "Forbidden", message)


def too_large(limit: int) -> ApiError:
    """413 as apiserver's ``limitedReadBody`` answers a body over ``MaxRequestBodyBytes``
    (k8s.io/apiserver/pkg/endpoints/handlers/rest.go)."""
    return ApiError(413, "RequestEntityTooLarge", f"Request entity too large: limit is {limit}")


def too_many_requests() -> ApiError:
    """429 with ``retryAfterSeconds`` as the max-in-flight filter answers (apiserver filters/maxinflight.go)."""
    return ApiError(429, "TooManyRequests", "Too many requests, please try again later.",
                    {"retryAfterSeconds": 1})
