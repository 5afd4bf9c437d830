"""Who the simulator's client is, and what it may do: kind's admin user, allowed everything.

kind writes the kubeconfig from kubeadm's ``admin.conf``, whose client certificate since kubeadm v1.29
names the user ``kubernetes-admin`` in the group ``kubeadm:cluster-admins`` (kubeadm
``constants.ClusterAdminsGroupAndClusterRoleBinding``; the ClusterRoleBinding of that name grants
``cluster-admin``). The authenticator adds ``system:authenticated``. The simulator does no
authentication, so every request is that user's, and every access review is answered as RBAC answers
for ``cluster-admin``.
"""

from .errors import bad_request
from .resources import Resource

USERNAME = "kubernetes-admin"
GROUPS = ["kubeadm:cluster-admins", "system:authenticated"]
_ALLOWED_BY = ('RBAC: allowed by ClusterRoleBinding "kubeadm:cluster-admins" of ClusterRole "cluster-admin" '
               'to Group "kubeadm:cluster-admins"')


# what RBAC lists for the user: cluster-admin's wildcards, then the bootstrap roles every authenticated
# user holds (system:basic-user's reviews, system:discovery's and system:public-info-viewer's URLs),
# from upstream's plugin/pkg/auth/authorizer/rbac/bootstrappolicy/policy.go
_RESOURCE_RULES = [
    {"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]},
    {"verbs": ["create"], "apiGroups": ["authentication.k8s.io"], "resources": ["selfsubjectreviews"]},
    {"verbs": ["create"], "apiGroups": ["authorization.k8s.io"],
     "resources": ["selfsubjectaccessreviews", "selfsubjectrulesreviews"]},
]
_NON_RESOURCE_RULES = [
    {"verbs": ["*"], "nonResourceURLs": ["*"]},
    {"verbs": ["get"], "nonResourceURLs": ["/api", "/api/*", "/apis", "/apis/*", "/healthz", "/livez", "/openapi",
                                           "/openapi/*", "/readyz", "/version", "/version/"]},
]


def review(info: Resource, body) -> dict:
    """The answered review (SelfSubjectAccessReview, SelfSubjectRulesReview or SelfSubjectReview), as the API
    server returns it."""
    if not isinstance(body, dict) or body.get("kind", info.kind) != info.kind:
        raise bad_request(f"the body must be a {info.kind}")
    answer = {"kind": info.kind, "apiVersion": info.api_version, "metadata": body.get("metadata") or {}}
    if info.kind == "SelfSubjectReview":
        answer["status"] = {"userInfo": {"username": USERNAME, "groups": list(GROUPS)}}
        return answer
    spec = body.get("spec")
    if info.kind == "SelfSubjectRulesReview":
        answer["spec"] = spec if isinstance(spec, dict) else {}
        answer["status"] = {"resourceRules": _RESOURCE_RULES, "nonResourceRules": _NON_RESOURCE_RULES,
                            "incomplete": False}
        return answer
    if not isinstance(spec, dict) or not (spec.get("resourceAttributes") or spec.get("nonResourceAttributes")):
        raise bad_request("exactly one of nonResourceAttributes or resourceAttributes must be specified")
    answer["spec"] = spec
    answer["status"] = {"allowed": True, "reason": _ALLOWED_BY}
    return answer
