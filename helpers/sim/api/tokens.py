"""``serviceaccounts/token``: the TokenRequest subresource ``kubectl create token`` posts to.

Follows upstream's ``TokenREST.Create`` (pkg/registry/core/serviceaccount/storage/token.go): the body's
name and namespace must match the URL, unset audiences become the API server's (kind's kubeadm sets
``--service-account-issuer=https://kubernetes.default.svc.cluster.local``, which is also the audience),
``expirationSeconds`` defaults to 3600 (SetDefaults_TokenRequestSpec) and must lie in [600, 2^32]
(ValidateTokenRequest), a ``boundObjectRef`` must name an existing Pod, Node or Secret, and the claims are
those of pkg/serviceaccount/claims.go. The simulator holds no signing key pair, so the JWT is signed
with HS256 under a key private to this server: its claims are a real token's, its signature is not.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import uuid
from datetime import UTC, datetime

from helpers.kube import format_time

from . import validation
from .errors import ApiError, bad_request, invalid

ISSUER = "https://kubernetes.default.svc.cluster.local"
DEFAULT_EXPIRATION_S = 3600
MIN_EXPIRATION_S = 600  # authentication validation MinTokenAgeSec
_KEY = os.urandom(32)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _jwt(claims: dict) -> str:
    header = _b64(json.dumps({"alg": "HS256", "kid": _b64(hashlib.sha256(_KEY).digest()[:16])},
                             separators=(",", ":")).encode())
    body = _b64(json.dumps(claims, separators=(",", ":")).encode())
    signature = hmac.new(_KEY, f"{header}.{body}".encode(), hashlib.sha256).digest()
    return f"{header}.{body}.{_b64(signature)}"


def _ref(obj: dict) -> dict:
    return {"name": obj["metadata"]["name"], "uid": obj["metadata"]["uid"]}


def _bound(store, namespace: str, account: str, ref: dict) -> dict:
    """The private claims of the bound object (pod, plus its node; node; secret)."""
    api_version, kind, name = ref.get("apiVersion", ""), ref.get("kind", ""), ref.get("name", "")
    if api_version not in ("", "v1") or kind not in ("Pod", "Node", "Secret"):
        raise bad_request(f"cannot bind token to object of type {api_version or 'v1'}, Kind={kind}")
    resource = {"Pod": "pods", "Node": "nodes", "Secret": "secrets"}[kind]
    obj = store.get(resource, name, None if kind == "Node" else namespace)
    if ref.get("uid") and ref["uid"] != obj["metadata"]["uid"]:
        raise ApiError(409, "Conflict", f'Operation cannot be fulfilled on {kind} "{name}": the UID in the bound '
                       f"object reference ({ref['uid']}) does not match the UID in record. The object might "
                       "have been deleted and then recreated")
    if kind == "Pod":
        if obj["spec"].get("serviceAccountName", "default") != account:
            raise bad_request(f'cannot bind token for serviceaccount "{account}" to pod running with different '
                              "serviceaccount name.")
        claims = {"pod": _ref(obj)}
        node_name = obj["spec"].get("nodeName")
        if node_name:
            try:
                claims["node"] = _ref(store.get("nodes", node_name))
            except ApiError:
                claims["node"] = {"name": node_name}
        return claims
    return {kind.lower(): _ref(obj)}


def token_request(store, namespace: str, account: str, body, now: float) -> dict:
    """The answered TokenRequest for ServiceAccount ``account`` (its status carries the token)."""
    if not isinstance(body, dict) or body.get("kind", "TokenRequest") != "TokenRequest":
        raise bad_request("the body must be a TokenRequest")
    meta = body.get("metadata") or {}
    spec = dict(body.get("spec") or {})
    for field, wanted in (("name", account), ("namespace", namespace)):
        if meta.get(field) and meta[field] != wanted:
            raise invalid("TokenRequest", account, "authentication.k8s.io", [validation.invalid_value(
                f"metadata.{field}", meta[field], f"must match the service account {field} if specified")])
    sa = store.get("serviceaccounts", account, namespace)
    spec["audiences"] = spec.get("audiences") or [ISSUER]
    seconds = spec.get("expirationSeconds")
    seconds = DEFAULT_EXPIRATION_S if seconds is None else seconds
    if isinstance(seconds, bool) or not isinstance(seconds, int):
        raise bad_request(f"spec.expirationSeconds must be an integer, got {seconds!r}")
    problem = ("may not specify a duration less than 10 minutes" if seconds < MIN_EXPIRATION_S else
               "may not specify a duration larger than 2^32 seconds" if seconds > 1 << 32 else None)
    if problem:
        raise invalid("TokenRequest", "", "authentication.k8s.io",
                      [validation.invalid_value("spec.expirationSeconds", seconds, problem)])
    spec["expirationSeconds"] = seconds
    private = {"namespace": namespace, "serviceaccount": _ref(sa)}
    if spec.get("boundObjectRef"):
        private.update(_bound(store, namespace, account, spec["boundObjectRef"]))
    issued = int(now)
    claims = {"aud": spec["audiences"], "exp": issued + seconds, "iat": issued, "iss": ISSUER,
              "jti": str(uuid.uuid4()), "kubernetes.io": private, "nbf": issued,
              "sub": f"system:serviceaccount:{namespace}:{account}"}
    return {"kind": "TokenRequest", "apiVersion": "authentication.k8s.io/v1",
            "metadata": {"name": account, "namespace": namespace, "uid": sa["metadata"]["uid"],
                         "creationTimestamp": format_time(datetime.fromtimestamp(issued, UTC))},
            "spec": spec,
            "status": {"token": _jwt(claims),
                       "expirationTimestamp": format_time(datetime.fromtimestamp(issued + seconds, UTC))}}
