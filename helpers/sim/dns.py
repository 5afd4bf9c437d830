"""Cluster DNS as CoreDNS's ``kubernetes`` plugin answers it, and a pod's resolver that asks it.

The records follow the Kubernetes DNS-based service discovery specification (kubernetes/dns,
``docs/specification.md``, schema 1.1.0) as CoreDNS v1.14.6 implements it (coredns/coredns
``plugin/kubernetes/parse.go`` ``parseRequest``, ``kubernetes.go`` ``Records``/``findServices``,
``plugin/backend_lookup.go`` ``SRV``; kind's Corefile serves ``cluster.local`` with ``pods insecure``):

* ``<service>.<ns>.svc.cluster.local``: a ClusterIP Service's A record is its ClusterIP; a headless
  Service's A records are the addresses of its EndpointSlices' ready endpoints (the EndpointSlice
  controller marks all of them ready with ``publishNotReadyAddresses``, spec 2.4.1), NXDOMAIN when it has
  none (kubernetes/dns#245 made the spec say so); an ExternalName Service is a CNAME to its externalName.
* ``<endpoint>.<service>.<ns>.svc.cluster.local``: a ready endpoint of the Service, named by its hostname (a
  StatefulSet pod, or a pod with ``spec.hostname`` and ``spec.subdomain`` naming the Service), else by its
  address with dashes (``endpointHostname``: ``10-244-1-5.db.ns.svc.cluster.local``).
* ``_<port>._<proto>.<service>.<ns>.svc.cluster.local`` (spec 2.3.2, 2.4.2): SRV ``0 100 <port>
  <service>.<ns>.svc.cluster.local.`` for a ClusterIP Service's port of that name and protocol; for a
  headless Service one SRV per ready endpoint, ``0 floor(100/N) <endpoint port>
  <endpoint>.<service>.<ns>.svc.cluster.local.``. A port name or protocol no port has is NXDOMAIN; the A
  query for the name answers the same addresses. An SRV query for ``<service>.<ns>.svc`` answers every port
  (none for a headless Service without ports), an ExternalName's ``0 100 0 <externalName>.``.
* ``<a-b-c-d>.<ns>.pod.cluster.local``: the address written in the name (``pods insecure``).
* ``svc`` and ``<ns>.svc`` of an existing namespace exist without records (NOERROR, no data); any other
  name in the zone is NXDOMAIN. Names outside it go to CoreDNS's ``forward . /etc/resolv.conf``; the
  simulator has no upstream resolver, so those answer SERVFAIL (a single label, no top-level domain,
  NXDOMAIN as the root servers answer).

The resolver (:func:`resolve`) walks the search path the kubelet writes into a ClusterFirst pod's
``/etc/resolv.conf`` (``pkg/kubelet/network/dns/dns.go``: ``<ns>.svc.cluster.local svc.cluster.local
cluster.local``, ``ndots:5``, nameserver = the kube-dns Service's ClusterIP), as musl and glibc do: a
name with fewer than 5 dots is tried with each search domain first, then as given.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from helpers.kube import LABEL_SERVICE_NAME

ZONE = "cluster.local"
NDOTS = 5
NXDOMAIN, SERVFAIL = "NXDOMAIN", "SERVFAIL"


@dataclass
class Answer:
    """The result of one lookup: the name that answered, its addresses, SRV records or CNAME, or an rcode."""

    name: str
    addresses: tuple[str, ...] = ()
    cname: str = ""
    srv: tuple[tuple[int, int, int, str], ...] = ()  # (priority, weight, port, target.)
    rcode: str = ""  # "" (NOERROR), NXDOMAIN or SERVFAIL


def search_path(namespace: str) -> list[str]:
    return [f"{namespace}.svc.{ZONE}", f"svc.{ZONE}", ZONE]


def resolv_conf(namespace: str, nameserver: str) -> str:
    """The file as the runtime writes it from the kubelet's DNSConfig (search, nameserver, options)."""
    return f"search {' '.join(search_path(namespace))}\nnameserver {nameserver}\noptions ndots:{NDOTS}\n"


def _endpoint_hostname(endpoint: dict, address: str) -> str:
    """CoreDNS ``endpointHostname`` (v1.14.6): the endpoint's hostname, else its address with dashes for the
    dots (or colons, an IPv6 address ending in one gets a final 0)."""
    if endpoint.get("hostname") or "." in address:
        return endpoint.get("hostname") or address.replace(".", "-")
    dashed = address.replace(":", "-")
    return dashed + "0" if dashed.endswith("-") else dashed


def _endpoint_records(store, namespace: str, service: str, endpoint: str, port: str, proto: str) -> list[tuple]:
    """(address, port, target) per ready address and matching slice port, as CoreDNS's
    ``EndpointSliceToEndpoints`` (``plugin/kubernetes/object/endpoint.go``) and ``findServices`` build them: an
    endpoint is ready unless its ``ready`` condition is false (the EndpointSlice controller already writes
    ready for every endpoint of a ``publishNotReadyAddresses`` Service, spec 2.4.1); a slice with no ports
    gets the sentinel port -1 (an A record, no SRV)."""
    slices, _ = store.list("endpointslices.discovery.k8s.io", namespace,
                           label_selector=f"{LABEL_SERVICE_NAME}={service}")
    out = []
    for eps in slices:
        ports = [(p.get("name") or "", p.get("port", -1), p.get("protocol") or "") for p in eps.get("ports") or []]
        for ep in eps.get("endpoints") or []:
            if (ep.get("conditions") or {}).get("ready") is False:
                continue
            for address in ep.get("addresses") or []:
                host = _endpoint_hostname(ep, address)
                if endpoint and endpoint != host:
                    continue
                out.extend((address, number, f"{host}.{service}.{namespace}.svc.{ZONE}.")
                           for name, number, protocol in ports or [("", -1, "")]
                           if _match(port, name) and _match(proto, protocol))
    return out


def _match(asked: str, value: str) -> bool:
    """``matchPortAndProtocol``: a part the name does not give matches anything."""
    return asked == "" or asked.lower() == value.lower()


def _find_services(store, labels: list[str]) -> tuple[list[tuple], str]:
    """CoreDNS ``findServices`` for the labels of
    ``[_port._proto.|endpoint.]<service>.<ns>.svc``: ([(host, port, target)], rcode). A host is an address or,
    for an ExternalName, the CNAME target (with no SRV target of its own); no match is NXDOMAIN (``errNoItems``)."""
    *rest, service_name, namespace, _ = labels
    endpoint = rest[0] if len(rest) == 1 else ""
    port, proto = (rest[0].removeprefix("_"), rest[1].removeprefix("_")) if len(rest) == 2 else ("", "")
    try:
        service = store.get("services", service_name, namespace)
    except Exception:  # noqa: BLE001 (the store's NotFound: no such record)
        return [], NXDOMAIN
    spec = service["spec"]
    if spec.get("type") == "ExternalName":
        found = [] if rest else [(spec.get("externalName", ""), 0, "")]  # no port: 0, not the sentinel -1
    elif spec.get("clusterIP") in (None, "", "None") or endpoint:
        found = _endpoint_records(store, namespace, service_name, endpoint, port, proto)
    else:
        target = f"{service_name}.{namespace}.svc.{ZONE}."
        found = [(ip, p.get("port", -1), target) for p in spec.get("ports") or []
                 if _match(port, p.get("name") or "") and _match(proto, p.get("protocol") or "TCP")
                 for ip in spec.get("clusterIPs") or [spec["clusterIP"]]]
    return found, "" if found else NXDOMAIN


def _srv(found: list[tuple]) -> tuple[tuple[int, int, int, str], ...]:
    """(priority, weight, port, target) as ``SRV`` writes them: every
    record has priority 0 and weight floor(100 / records) (at least 1), counted before records with port -1
    and duplicate (target, port) pairs are dropped."""
    weight = max(1, 100 // len(found)) if found else 0
    out: list[tuple[int, int, int, str]] = []
    for host, port, target in found:  # an ExternalName's SRV targets its externalName
        record = (0, weight, port, target or f"{host}.")
        if port != -1 and record not in out:
            out.append(record)
    return tuple(out)


def lookup(store, fqdn: str, qtype: str = "A") -> Answer:
    """One query (``A`` or ``SRV``) for an absolute name (no trailing dot), answered as CoreDNS answers it."""
    name = fqdn.lower().rstrip(".")
    if not (name == ZONE or name.endswith("." + ZONE)):
        # forwarded upstream: a single label is no top-level domain (the root answers NXDOMAIN); any other
        # name needs a resolver the simulator does not have
        return Answer(name, rcode=SERVFAIL if "." in name else NXDOMAIN)
    labels = name[: -len(ZONE)].rstrip(".").split(".") if name != ZONE else []
    if len(labels) == 3 and labels[2] == "pod":  # a-b-c-d.<ns>.pod: an A record only
        try:
            address = str(ipaddress.IPv4Address(labels[0].replace("-", ".")))
        except ValueError:
            return Answer(name, rcode=NXDOMAIN)
        return Answer(name, (address,) if qtype == "A" else ())
    if labels in ([], ["svc"], ["pod"]):
        return Answer(name)  # the apex, svc and pod exist without records (parseRequest: NODATA)
    if len(labels) == 2 and labels[1] in ("svc", "pod"):  # so does an existing namespace (namespaceExposed)
        return Answer(name) if store.list("namespaces", field_selector=f"metadata.name={labels[0]}")[0] else Answer(
            name, rcode=NXDOMAIN)
    if len(labels) not in (3, 4, 5) or labels[-1] != "svc":
        return Answer(name, rcode=NXDOMAIN)
    found, rcode = _find_services(store, labels)
    if rcode:
        return Answer(name, rcode=rcode)
    if qtype == "SRV":
        return Answer(name, srv=_srv(found))
    if found[0][2] == "":  # an ExternalName: a CNAME
        return Answer(name, cname=found[0][0])
    # an A answer holds the IPv4 ones (an IPv6 address is an AAAA record, not modelled)
    return Answer(name, tuple(dict.fromkeys(host for host, _, _ in found if ipaddress.ip_address(host).version == 4)))


def resolve(store, name: str, namespace: str, qtype: str = "A") -> Answer:
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
        answer = lookup(store, candidate, qtype)
        if answer.rcode == "" and (answer.addresses or answer.cname or answer.srv):
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
