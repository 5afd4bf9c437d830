"""NetworkPolicy (networking.k8s.io/v1) evaluation over plain dicts.

Semantics follow the API reference and the upstream NetworkPolicy page (kubernetes/website
`content/en/docs/concepts/services-networking/network-policies.md`):

* A policy selects pods in **its own namespace** with `spec.podSelector` (`{}` selects all).
* `policyTypes` defaults as the API server's `SetDefaults_NetworkPolicy` does: always `Ingress`,
  plus `Egress` when `spec.egress` has at least one rule.
* A pod is *isolated* for a direction once any policy of that type selects it. Then a connection
  is allowed only if some rule of some selecting policy matches it; policies are additive
  (a union) and can never deny. A pod no policy selects accepts everything.
* A connection between two pods needs **both** the source's egress and the destination's
  ingress to allow it.
* Peers: `podSelector` alone means pods of the policy's namespace; `namespaceSelector` alone
  means all pods of matching namespaces; both together means matching pods in matching
  namespaces; `ipBlock` (cidr minus `except`) matches addresses. An empty or missing `from`/`to`
  matches every peer; an empty or missing `ports` matches every port.
* Ports: `protocol` defaults to TCP; `port` is a number (optionally a range up to `endPort`) or a
  container port **name** resolved on the destination pod; no `port` means every port of that
  protocol.

Policies see traffic **after** kube-proxy's DNAT (nat PREROUTING/OUTPUT runs before the filter
hooks where policy engines sit), so the destination is a backend pod IP and its *targetPort*,
never the ClusterIP and service port: `service_backends_allowed` shows exactly that. Cluster-
internal sources are matched as pods; a plain IP string stands for a source or destination
outside the modelled pods. Whether `ipBlock` also matches pod IPs is left to implementations by
the API documentation; this model matches it on the address alone, as IP-based engines do.
Namespaces carry the `kubernetes.io/metadata.name` label the API server always sets.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from helpers.kube import LABEL_SERVICE_NAME

INGRESS, EGRESS = "Ingress", "Egress"
NAME_LABEL = "kubernetes.io/metadata.name"


# --- label selectors -------------------------------------------------------------------------


def selector_matches(selector: dict | None, labels: dict | None) -> bool:
    """True if `labels` satisfy a LabelSelector (matchLabels AND every matchExpression).

    An empty selector matches everything; callers handle "selector absent" themselves because
    its meaning differs by field.
    """
    labels = labels or {}
    selector = selector or {}
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    return all(_expression_matches(expr, labels) for expr in selector.get("matchExpressions") or [])


def _expression_matches(expr: dict, labels: dict) -> bool:
    key, operator, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
    if operator == "In":
        return key in labels and labels[key] in values
    if operator == "NotIn":
        return key not in labels or labels[key] not in values
    if operator == "Exists":
        return key in labels
    if operator == "DoesNotExist":
        return key not in labels
    raise ValueError(
        f"matchExpressions: operator {operator!r} for key {key!r} is not one of In, NotIn, Exists, DoesNotExist"
    )


# --- small accessors -------------------------------------------------------------------------


def _meta(obj: dict) -> dict:
    return obj.get("metadata") or {}


def _ref(obj: dict) -> str:
    return f"{_meta(obj).get('namespace', 'default')}/{_meta(obj).get('name', '?')}"


def pod_ip(pod: dict) -> str | None:
    """The pod's primary IP (`status.podIP`, else the first of `status.podIPs`), or None."""
    status = pod.get("status") or {}
    if status.get("podIP"):
        return status["podIP"]
    ips = status.get("podIPs") or []
    return ips[0].get("ip") if ips else None


def policy_types(policy: dict) -> list[str]:
    """`spec.policyTypes`, defaulted as the API server does when it is empty."""
    spec = policy.get("spec") or {}
    if spec.get("policyTypes"):
        return list(spec["policyTypes"])
    return [INGRESS, EGRESS] if spec.get("egress") else [INGRESS]


def namespace_labels(namespace: str, namespaces: list[dict]) -> dict:
    """Labels of `namespace`, including the automatic `kubernetes.io/metadata.name` label."""
    for ns in namespaces:
        if _meta(ns).get("name") == namespace:
            return {**(_meta(ns).get("labels") or {}), NAME_LABEL: namespace}
    return {NAME_LABEL: namespace}


# --- peers and ports -------------------------------------------------------------------------


@dataclass(frozen=True)
class Party:
    """One end of a connection: a pod (with its namespace labels) or a bare IP."""

    ip: str | None
    pod: dict | None = None
    ns_labels: dict | None = None


def as_party(pod_or_ip: dict | str, namespaces: list[dict]) -> Party:
    """Wrap a pod dict or an IP string for evaluation."""
    if isinstance(pod_or_ip, str):
        try:
            ipaddress.ip_address(pod_or_ip)
        except ValueError:
            raise ValueError(f"{pod_or_ip!r} is neither a pod object nor an IP address") from None
        return Party(ip=pod_or_ip)
    ns = _meta(pod_or_ip).get("namespace", "default")
    return Party(ip=pod_ip(pod_or_ip), pod=pod_or_ip, ns_labels=namespace_labels(ns, namespaces))


def ip_block_matches(block: dict, ip: str | None) -> bool:
    """True if `ip` is inside `block.cidr` and outside every `block.except` CIDR."""
    if ip is None:
        return False
    address = ipaddress.ip_address(ip)
    try:
        cidr = ipaddress.ip_network(block["cidr"], strict=False)
        excepts = [ipaddress.ip_network(c, strict=False) for c in block.get("except") or []]
    except (KeyError, ValueError) as err:
        raise ValueError(f"ipBlock {block!r} is invalid: {err}") from None
    if address.version != cidr.version or address not in cidr:
        return False
    return not any(address.version == e.version and address in e for e in excepts)


def peer_matches(peer: dict, other: Party, policy_namespace: str) -> bool:
    """True if a NetworkPolicyPeer matches the other end of the connection."""
    if "ipBlock" in peer:
        if "podSelector" in peer or "namespaceSelector" in peer:
            raise ValueError("a NetworkPolicyPeer may not set ipBlock together with a selector")
        return ip_block_matches(peer["ipBlock"], other.ip)
    if other.pod is None:
        return False  # selectors only ever match pods
    if "namespaceSelector" in peer:
        if not selector_matches(peer["namespaceSelector"], other.ns_labels):
            return False
    elif _meta(other.pod).get("namespace", "default") != policy_namespace:
        return False
    return selector_matches(peer.get("podSelector"), _meta(other.pod).get("labels"))


def named_port(pod: dict | None, name: str, protocol: str) -> int | None:
    """The containerPort called `name` with `protocol` on `pod`, or None."""
    for container in ((pod or {}).get("spec") or {}).get("containers") or []:
        for port in container.get("ports") or []:
            if port.get("name") == name and port.get("protocol", "TCP") == protocol:
                return port.get("containerPort")
    return None


def port_matches(rule_port: dict, port: int, protocol: str, destination: Party) -> bool:
    """True if a NetworkPolicyPort matches `port`/`protocol` on the destination."""
    if rule_port.get("protocol", "TCP") != protocol:
        return False
    wanted = rule_port.get("port")
    if wanted is None:
        return True
    if isinstance(wanted, str) and not wanted.isdigit():
        return named_port(destination.pod, wanted, protocol) == port
    low = int(wanted)
    return low <= port <= int(rule_port.get("endPort") or low)


def rule_matches(rule: dict, peers_key: str, other: Party, destination: Party,
                 port: int, protocol: str, policy_namespace: str) -> bool:
    """True if one ingress (`from`) or egress (`to`) rule allows the connection."""
    peers = rule.get(peers_key) or []
    if peers and not any(peer_matches(p, other, policy_namespace) for p in peers):
        return False
    ports = rule.get("ports") or []
    return not ports or any(port_matches(p, port, protocol, destination) for p in ports)


# --- verdicts --------------------------------------------------------------------------------


@dataclass(frozen=True)
class DirectionVerdict:
    """The outcome for one direction (the destination's Ingress or the source's Egress)."""

    direction: str
    pod: str  # ns/name of the pod whose policies were consulted
    selected_by: tuple[str, ...]  # policies of this type that select the pod
    allowed_by: tuple[str, ...]  # "ns/name ingress[i]" rules that match
    allowed: bool

    @property
    def isolated(self) -> bool:
        return bool(self.selected_by)

    def reason(self) -> str:
        subject = f"{self.direction.lower()} of {self.pod}"
        if not self.isolated:
            return f"{subject}: not isolated (no {self.direction} policy selects it), allowed"
        selected = ", ".join(self.selected_by)
        if self.allowed:
            return f"{subject}: selected by {selected}; allowed by {', '.join(self.allowed_by)}"
        return f"{subject}: selected by {selected}; no rule matches, denied"


@dataclass(frozen=True)
class Verdict:
    """Whether a connection is allowed, with the per-direction explanation.

    `egress` is None when the source is not a modelled pod, `ingress` None when the
    destination is not one (nothing on that side enforces policy).
    """

    allowed: bool
    egress: DirectionVerdict | None
    ingress: DirectionVerdict | None

    @property
    def reasons(self) -> list[str]:
        return [d.reason() for d in (self.egress, self.ingress) if d is not None]

    def __str__(self) -> str:
        return "\n".join(["allowed" if self.allowed else "denied", *(f"  {r}" for r in self.reasons)])


def evaluate_direction(direction: str, subject: Party, other: Party, destination: Party,
                       port: int, protocol: str, policies: list[dict]) -> DirectionVerdict:
    """Evaluate the policies of `subject`'s namespace for one direction."""
    namespace = _meta(subject.pod).get("namespace", "default")
    rules_key, peers_key = ("ingress", "from") if direction == INGRESS else ("egress", "to")
    selected, allowed_by = [], []
    for policy in policies:
        spec = policy.get("spec") or {}
        if _meta(policy).get("namespace", "default") != namespace or direction not in policy_types(policy):
            continue
        if not selector_matches(spec.get("podSelector"), _meta(subject.pod).get("labels")):
            continue
        selected.append(_ref(policy))
        for i, rule in enumerate(spec.get(rules_key) or []):
            if rule_matches(rule, peers_key, other, destination, port, protocol, namespace):
                allowed_by.append(f"{_ref(policy)} {rules_key}[{i}]")
    return DirectionVerdict(direction, _ref(subject.pod), tuple(selected), tuple(allowed_by),
                            not selected or bool(allowed_by))


def allowed(src: dict | str, dst: dict | str, port: int, protocol: str = "TCP", *,
            namespaces: list[dict] = (), policies: list[dict] = ()) -> Verdict:
    """Would a `protocol` connection from `src` to `dst:port` be allowed?

    `src`/`dst` are pod dicts (as the API serves them) or IP strings; `port` is the port the
    packet carries at the destination pod (post-DNAT, i.e. the targetPort).
    """
    source, destination = as_party(src, namespaces), as_party(dst, namespaces)
    egress = ingress = None
    if source.pod is not None:
        egress = evaluate_direction(EGRESS, source, destination, destination, port, protocol, policies)
    if destination.pod is not None:
        ingress = evaluate_direction(INGRESS, destination, source, destination, port, protocol, policies)
    ok = all(d.allowed for d in (egress, ingress) if d is not None)
    return Verdict(ok, egress, ingress)


# --- after kube-proxy's DNAT: which Service backends may a client reach? --------------------


def _service_slices(service: dict, endpoint_slices: list[dict]) -> list[dict]:
    ns, name = _meta(service).get("namespace", "default"), _meta(service).get("name")
    return [s for s in endpoint_slices
            if _meta(s).get("namespace", "default") == ns
            and (_meta(s).get("labels") or {}).get(LABEL_SERVICE_NAME) == name]


def _backend_pod(endpoint: dict, namespace: str, pods: list[dict]) -> dict | None:
    """The pod behind an endpoint: by targetRef, else by address."""
    ref = endpoint.get("targetRef") or {}
    address = (endpoint.get("addresses") or [None])[0]
    for pod in pods:
        meta = _meta(pod)
        if ref.get("kind") == "Pod" and ref.get("name") == meta.get("name") \
                and ref.get("namespace", namespace) == meta.get("namespace", "default"):
            return pod
    return next((p for p in pods if pod_ip(p) == address), None)


def service_port_backends(service: dict, svc_port: dict, endpoint_slices: list[dict]):
    """Yield (endpoint, targetPort) for one service port, merged over its slices.

    A slice port belongs to the service port with the same name and protocol; its number is
    the resolved targetPort. Endpoints without addresses are skipped and `ip:port` duplicates
    across slices are reported once.
    """
    protocol, seen = svc_port.get("protocol", "TCP"), set()
    for eps in _service_slices(service, endpoint_slices):
        for slice_port in eps.get("ports") or []:
            if (slice_port.get("name") or "") != (svc_port.get("name") or "") \
                    or slice_port.get("protocol", "TCP") != protocol or not slice_port.get("port"):
                continue
            for endpoint in eps.get("endpoints") or []:
                key = ((endpoint.get("addresses") or [None])[0], slice_port["port"])
                if key[0] is not None and key not in seen:
                    seen.add(key)
                    yield endpoint, slice_port["port"]


def service_backends_allowed(client: dict | str, service: dict, endpoint_slices: list[dict],
                             pods: list[dict], namespaces: list[dict],
                             policies: list[dict]) -> list[dict]:
    """One row per (service port, backend): may `client` reach it once DNAT has picked it?

    Each row names the ClusterIP:port the client dials, the backend IP and targetPort the
    policy engine actually sees, the backend pod, and the verdict with its reasons. Endpoints
    are listed whatever their conditions (see the `ready` column). `pd.DataFrame(rows)` renders
    it as a table.
    """
    namespace = _meta(service).get("namespace", "default")
    cluster_ip = (service.get("spec") or {}).get("clusterIP")
    rows = []
    for svc_port in (service.get("spec") or {}).get("ports") or []:
        protocol = svc_port.get("protocol", "TCP")
        for endpoint, target_port in service_port_backends(service, svc_port, endpoint_slices):
            address = endpoint["addresses"][0]
            pod = _backend_pod(endpoint, namespace, pods)
            verdict = allowed(client, pod if pod is not None else address, target_port, protocol,
                              namespaces=namespaces, policies=policies)
            rows.append({
                "service": _ref(service),
                "servicePort": svc_port.get("name") or str(svc_port.get("port")),
                "clusterIP": f"{cluster_ip}:{svc_port.get('port')}",
                "backend": f"{address}:{target_port}",
                "pod": _ref(pod) if pod is not None else None,
                "node": endpoint.get("nodeName"),
                "ready": (endpoint.get("conditions") or {}).get("ready") is not False,
                "allowed": verdict.allowed,
                "reasons": "; ".join(verdict.reasons),
            })
    return rows


def connectivity_matrix(pods: list[dict], namespaces: list[dict], policies: list[dict], port: int,
                        protocol: str = "TCP") -> list[dict]:
    """Who may open `port`/`protocol` to whom: one row per ordered pair of distinct pods.

    The destination's named ports resolve as usual. `pd.DataFrame(rows).pivot(index="from",
    columns="to", values="allowed")` gives the familiar policy grid.
    """
    return [{"from": _ref(src), "to": _ref(dst),
             "allowed": allowed(src, dst, port, protocol, namespaces=namespaces, policies=policies).allowed}
            for src in pods for dst in pods if src is not dst]
