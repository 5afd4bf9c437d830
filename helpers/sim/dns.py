"""Cluster DNS as CoreDNS's ``kubernetes`` plugin answers it, and a pod's resolver that asks it.

The records follow the Kubernetes DNS-based service discovery specification (kubernetes/dns,
``docs/specification.md``, schema 1.1.0) as CoreDNS implements it (coredns/coredns
``plugin/kubernetes/kubernetes.go`` ``Records``/``findServices``; kind's Corefile serves ``cluster.local``
with ``pods insecure``):

* ``<service>.<ns>.svc.cluster.local``: a ClusterIP Service's A record is its ClusterIP; a headless
  Service's A records are the addresses of its EndpointSlices' ready endpoints (all of them with
  ``publishNotReadyAddresses``, spec 2.4.1); an ExternalName Service is a CNAME to its externalName.
* ``<hostname>.<service>.<ns>.svc.cluster.local``: a headless Service's endpoint that carries a hostname
  (a StatefulSet pod, or a pod with ``spec.hostname`` and ``spec.subdomain`` naming the Service).
* ``<a-b-c-d>.<ns>.pod.cluster.local``: the address written in the name (``pods insecure``).
* Any other name in the zone is NXDOMAIN. Names outside it go to CoreDNS's ``forward . /etc/resolv.conf``;
  the simulator has no upstream resolver, so those answer SERVFAIL (a single label, no top-level domain,
  NXDOMAIN as the root servers answer).

The resolver (:func:`resolve`) walks the search path the kubelet writes into a ClusterFirst pod's
``/etc/resolv.conf`` (``pkg/kubelet/network/dns/dns.go``: ``<ns>.svc.cluster.local svc.cluster.local
cluster.local``, ``ndots:5``, nameserver = the kube-dns Service's ClusterIP), as musl and glibc do: a
name with fewer than 5 dots is tried with each search domain first, then as given.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

ZONE = "cluster.local"
NDOTS = 5
NXDOMAIN, SERVFAIL = "NXDOMAIN", "SERVFAIL"


@dataclass
class Answer:
    """The result of one lookup: the name that answered, its addresses (or a CNAME), or an rcode."""

    name: str
    addresses: tuple[str, ...] = ()
    cname: str = ""
    rcode: str = ""  # "" (NOERROR), NXDOMAIN or SERVFAIL


def search_path(namespace: str) -> list[str]:
    return [f"{namespace}.svc.{ZONE}", f"svc.{ZONE}", ZONE]


def resolv_conf(namespace: str, nameserver: str) -> str:
    """The file as the runtime writes it from the kubelet's DNSConfig (search, nameserver, options)."""
    return f"search {' '.join(search_path(namespace))}\nnameserver {nameserver}\noptions ndots:{NDOTS}\n"


def _ready_addresses(store, namespace: str, service: dict, hostname: str | None = None) -> list[str]:
    publish = bool(service["spec"].get("publishNotReadyAddresses"))
    slices, _ = store.list("endpointslices.discovery.k8s.io", namespace,
                           label_selector=f"kubernetes.io/service-name={service['metadata']['name']}")
    out: list[str] = []
    for eps in slices:
        for ep in eps.get("endpoints") or []:
            ready = (ep.get("conditions") or {}).get("ready") is not False
            if (ready or publish) and (hostname is None or ep.get("hostname") == hostname):
                out.extend(a for a in ep.get("addresses") or [] if a not in out)
    return out


def lookup(store, fqdn: str) -> Answer:
    """One query for an absolute name (no trailing dot), answered as CoreDNS answers it."""
    name = fqdn.lower().rstrip(".")
    if not (name == ZONE or name.endswith("." + ZONE)):
        # forwarded upstream: a single label is no top-level domain (the root answers NXDOMAIN); any other
        # name needs a resolver the simulator does not have
        return Answer(name, rcode=SERVFAIL if "." in name else NXDOMAIN)
    labels = name[: -len(ZONE)].rstrip(".").split(".") if name != ZONE else []
    if len(labels) == 3 and labels[2] == "pod":  # a-b-c-d.<ns>.pod
        try:
            return Answer(name, (str(ipaddress.IPv4Address(labels[0].replace("-", "."))),))
        except ValueError:
            return Answer(name, rcode=NXDOMAIN)
    if len(labels) not in (3, 4) or labels[-1] != "svc":
        return Answer(name, rcode=NXDOMAIN)
    service_name, namespace = labels[-3], labels[-2]
    try:
        service = store.get("services", service_name, namespace)
    except Exception:  # noqa: BLE001 (the store's NotFound: no such record)
        return Answer(name, rcode=NXDOMAIN)
    spec = service["spec"]
    if spec.get("type") == "ExternalName":
        return Answer(name, cname=spec.get("externalName", "")) if len(labels) == 3 else Answer(name, rcode=NXDOMAIN)
    headless = spec.get("clusterIP") in (None, "", "None")
    if len(labels) == 4:  # <hostname>.<service>.<ns>.svc: only a headless Service's named endpoints
        addresses = _ready_addresses(store, namespace, service, labels[0]) if headless else []
        return Answer(name, tuple(addresses)) if addresses else Answer(name, rcode=NXDOMAIN)
    if headless:
        addresses = _ready_addresses(store, namespace, service)
        # a headless Service with no ready endpoint: the name exists but has no A record (NOERROR, no data)
        return Answer(name, tuple(addresses))
    return Answer(name, (spec["clusterIP"],))


def resolve(store, name: str, namespace: str) -> Answer:
    """What a pod in ``namespace`` gets for ``name``: an IP literal as is, else the search path walk."""
    try:
        return Answer(name, (str(ipaddress.ip_address(name)),))
    except ValueError:
        pass
    if name.endswith("."):
        candidates = [name[:-1]]
    else:
        candidates = [f"{name}.{domain}" for domain in search_path(namespace)]
        if name.count(".") >= NDOTS:
            candidates.insert(0, name)
        else:
            candidates.append(name)
    # the answer is the first candidate with records; else a name that exists without records (NOERROR,
    # no data), else the last candidate's rcode (SERVFAIL for a name outside the zone, tried last)
    empty, last = None, None
    for candidate in candidates:
        answer = lookup(store, candidate)
        if answer.rcode == "" and (answer.addresses or answer.cname):
            return answer
        if answer.rcode == "" and empty is None:
            empty = answer
        last = answer
    return empty or last


def service_candidates(name: str, namespace: str) -> list[tuple[str, str]]:
    """The (service, namespace) pairs a name may mean from ``namespace`` (``web.other``, ``web.other.svc``,
    ``web.other.svc.cluster.local``), in search-path order; the first that exists answers."""
    out = []
    for candidate in ([name.rstrip(".")] if name.endswith(".") else [f"{name}.{d}" for d in search_path(namespace)]
                      + [name]):
        labels = candidate.lower().removesuffix("." + ZONE).split(".")
        if candidate.lower().endswith("." + ZONE) and len(labels) == 3 and labels[2] == "svc":
            out.append((labels[0], labels[1]))
    return out
