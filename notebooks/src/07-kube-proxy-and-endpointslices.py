# %% [markdown] slideshow={"slide_type": "slide"}
# # 07 · kube-proxy and EndpointSlices
#
# A slice is only a list until something turns it into packet rewriting. On every node, kube-proxy
# watches Services and EndpointSlices and programs the kernel so that a packet to a ClusterIP lands on
# one of the endpoints. This chapter reads those rules for a Service of yours: which Services kube-proxy
# skips, how it merges a Service's slices, the iptables chains and their probabilities, the nftables
# equivalent, a packet walked through them, and the knobs that make rules differ from node to node.

# %% [markdown] slideshow={"slide_type": "notes"}
# > **Presenter note:** The chain picture (KUBE-SERVICES → KUBE-SVC → KUBE-SEP → DNAT) is the backbone; everything else in the
# > chapter is a variation on which endpoints end up in KUBE-SVC on *this* node.

# %% [markdown] slideshow={"slide_type": "subslide"}
# ## Learning objectives
#
# After this chapter you can:
# 1. *predict* which Services and slices kube-proxy ignores (headless, `service-proxy-name`);
# 2. *explain* how kube-proxy merges several slices of one Service into one endpoint list;
# 3. *read* the iptables rules for a Service (chains, the 1/n probability cascade, masquerade marks) and
#    their nftables counterpart;
# 4. *trace* a packet through a node's rules and say where it goes, with what probability;
# 5. *predict* how `internalTrafficPolicy: Local`, terminating endpoints and `trafficDistribution` change
#    the endpoints a node uses.

# %% [markdown] slideshow={"slide_type": "subslide"}
# ## Prerequisites
#
# | Concept | Importance | Notes |
# |---|---|---|
# | [05 · Endpoint vs Pod](05-endpoint-vs-pod.ipynb) | Necessary | ready / serving / terminating |
# | [06 · How do EndpointSlice controllers work?](06-how-endpointslice-controllers-work.ipynb) | Helpful | managed-by, hand-written slices |
# | iptables tables and chains | Helpful | [Virtual IPs and Service Proxies](https://kubernetes.io/docs/reference/networking/virtual-ips/) |
#
# **Time to complete:** about 30 minutes

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Which cluster am I on?
#
# | On kind | On the simulator |
# |---|---|
# | `h.node_rules(node)` runs `docker exec <node> iptables-save` (live-only: needs Docker) | the simulated kube-proxy of each node renders its rules from what it has synced, with the model in `helpers.dataplane` |
# | rules include Docker's and kindnet's chains, and the kernel's packet counters | only kube-proxy's chains |
# | nftables mode needs a cluster made with `kind/kind-nftables.yaml` | nftables is rendered by the model from the same objects |
#
# kube-proxy syncs at most once per `minSyncPeriod` (1 s), so right after a change a node's rules can lag
# by about a second; `h.wait_for_rules(node, text)` waits for that: on kind it re-reads the rules with a
# short back-off, on the simulator it fast-forwards the virtual clock by one `minSyncPeriod` per read.

# %% slideshow={"slide_type": "-"} tags=["cluster-check"]
import re

import pandas as pd
from IPython.display import display

import helpers as h
from helpers import dataplane, kube
from helpers.config import load_cluster_config
from helpers.dataplane import proxy

cluster = h.connect()
ns = h.sandbox("ch07")
nodes = h.nodes_table()
assert nodes["ready"].all(), "Not every node is Ready: wait a minute (kind) or restart the simulator."
print(f"{len(nodes)} nodes, all Ready; sandbox namespace: {ns.name}")

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 1. What kube-proxy watches, and what it ignores
#
# Three Services over the same three pods: a normal one, a headless one (`clusterIP: None`), and one
# labelled `service.kubernetes.io/service-proxy-name`, which says "another proxy handles me".

# %% slideshow={"slide_type": "-"}
other = h.service("web-other", selector={"app": "web"})
other["metadata"]["labels"] = {kube.LABEL_SERVICE_PROXY_NAME: "my-mesh"}
h.apply(h.deployment("web", replicas=3), h.service("web"),
        h.service("web-headless", selector={"app": "web"}, clusterIP="None"), other, namespace=ns.name)
h.wait_for_slices(ns.name, "web", endpoints=3, ready=3)
worker_rules = h.wait_for_rules("endpoints-worker", f"{ns.name}/web:http")
services = h.list_objects("svc", ns.name)
pd.DataFrame([{"service": s["metadata"]["name"], "clusterIP": s["spec"].get("clusterIP"),
               "kube-proxy skips it": proxy.skip_service(s),
               "in endpoints-worker's rules": f"{ns.name}/{s['metadata']['name']}:" in worker_rules}
              for s in services]).set_index("service")

# %% [markdown] slideshow={"slide_type": "fragment"}
# **What it shows:** only `web` is programmed. In v1.36 kube-proxy filters with two selectors
# (`cmd/kube-proxy/app/server.go`, `newProxyServer`'s informer set-up): its Service informer asks for
# Services *without* the `service.kubernetes.io/service-proxy-name` label and with `spec.clusterIP` other
# than `None`; its EndpointSlice informer asks for slices *without* the `service.kubernetes.io/headless`
# label, which the EndpointSlice controller puts on the slices of a Service whose `clusterIP` is `None`.
# So neither `web-headless` nor its slices reach the node. `web-other`'s slices do arrive, but without
# their Service the proxier has nothing to program for them (and `ShouldSkipService` in `pkg/proxy/util`
# would skip it anyway). **Why it matters:** headless Services are DNS-only; a mesh or alternative proxy
# claims a Service with one label.

# %% [markdown] slideshow={"slide_type": "notes"}
# > **Presenter note:** The selectors are applied by the API server: a headless Service and its slices, and a claimed Service,
# > cost the node no watch traffic; a claimed Service's slices still do.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 2. Merging a Service's slices
#
# kube-proxy does not care how many slices a Service has: its **EndpointSliceCache** merges them per
# service port (`pkg/proxy/endpointslicecache.go`). Add a hand-written slice for `web` that repeats one
# pod's address as *terminating* and adds an address outside the cluster:

# %% slideshow={"slide_type": "-"}
pod_ip = h.slices_table(ns.name, service="web")["address"].iloc[0]
h.apply({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "addressType": "IPv4",
         "metadata": {"name": "web-extra", "labels": {kube.LABEL_SERVICE_NAME: "web",
                                                       kube.LABEL_MANAGED_BY: "staff.example.com"}},
         "ports": [{"name": "http", "port": 80, "protocol": "TCP"}],
         "endpoints": [{"addresses": [pod_ip], "conditions": {"ready": False, "serving": True, "terminating": True}},
                       {"addresses": ["192.0.2.50"], "conditions": {"ready": True}}]}, namespace=ns.name)
h.wait_for_slices(ns.name, "web", endpoints=5)
web_slices = h.list_objects("endpointslices", ns.name, selector=f"{kube.LABEL_SERVICE_NAME}=web")
merged = proxy.merge_service_slices(web_slices, "endpoints-worker")
pd.DataFrame([{"service port": str(port), "endpoint": f"{ep.ip}:{ep.port}", "ready": ep.ready,
               "terminating": ep.terminating, "local to endpoints-worker": ep.is_local}
              for port, eps in merged.items() for ep in eps])

# %% [markdown] slideshow={"slide_type": "fragment"}
# **What it shows:** 5 endpoints in two slices become **4** for kube-proxy: the duplicate `ip:port` is
# kept once, and the non-terminating copy wins. That rule is new in v1.36 (PR #135593): before it the
# terminating copy could win, e.g. when a new pod reused the IP of a pod still terminating
# (kubernetes/kubernetes#135266), and older releases simply preferred the copy on this node.
# **Why it matters:** slices are a transport format. Splitting, repacking or hand-writing them changes
# nothing for traffic as long as the merged set is the same.

# %% [markdown] slideshow={"slide_type": "notes"}
# > **Presenter note:** Ask: which copy of the duplicate wins, and why would a terminating copy be the worse choice?

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 3. The iptables rules for your Service
#
# kind runs kube-proxy in **iptables** mode, the default. Pick out the lines that belong to `web`:

# %% slideshow={"slide_type": "-"}
worker_rules = h.wait_for_rules("endpoints-worker", "192.0.2.50")
web_lines = [line for line in worker_rules.splitlines() if f"{ns.name}/web:http" in line]
print("\n".join(web_lines))

# %% [markdown] slideshow={"slide_type": "fragment"}
# **What it shows**, in the order a packet meets the chains (`pkg/proxy/iptables/proxier.go`; the listing
# itself is sorted by chain name, so the `KUBE-SEP` chains print before `KUBE-SVC`):
# - `KUBE-SERVICES` matches the ClusterIP and port and jumps to `KUBE-SVC-<hash>` (the hash is the first 16
#   base32 characters of sha256 of `ns/svc:portname` followed by the lowercase protocol, here
#   `ch07/web:httptcp`);
# - `KUBE-SVC-…` first marks traffic from outside the pod CIDR for masquerading (`KUBE-MARK-MASQ`), then
#   picks an endpoint with `-m statistic --mode random --probability`: 1/4, then 1/3, then 1/2, then the
#   rest — each endpoint gets 1/n overall;
# - each `KUBE-SEP-…` DNATs to one `ip:port`, and marks hairpin traffic (a pod reaching itself) for masquerade.
#
# **Why it matters:** this is what "a Service" *is* on the node: a chain per Service port, a chain per endpoint.

# %% slideshow={"slide_type": "subslide"}
h.chain_diagram(worker_rules, f"{ns.name}/web:http")

# %% [markdown] slideshow={"slide_type": "fragment"}
# **What it shows:** the same rules as a picture: one entry in `KUBE-SERVICES`, one `KUBE-SVC` chain,
# one `KUBE-SEP` chain per endpoint. Each edge carries the rule's probability and the share of new
# connections it ends up with: 1/4 of all, then 1/3 of the remaining 3/4, then 1/2 of the rest, then
# everything left — 25 % each.

# %% [markdown] slideshow={"slide_type": "notes"}
# > **Presenter note:** Point out the probabilities aloud: 0.25, 0.333…, 0.5, then an unconditional jump. Ask why the last rule
# > has no probability. On a kind node `iptables-save` prints the kernel's rounded read-back with 11 digits
# > (`0.25000000000`, `0.33333333349`, `0.50000000000`), not kube-proxy's 10-digit input.

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### A packet through those rules
#
# The model's packet tracer walks a new connection through `nat` and `filter` and forks at every
# probability rule. From a pod, to `web`'s ClusterIP:

# %% slideshow={"slide_type": "-"}
web_ip = h.get("svc", "web", ns.name)["spec"]["clusterIP"]
client_ip = h.pods_table(ns.name)["podIP"].iloc[0]
from_pod = dataplane.trace_packet(client_ip, f"{web_ip}:80", rules=worker_rules)
from_node = dataplane.trace_packet("node", f"{web_ip}:80", rules=worker_rules)
pd.concat({"from a pod": pd.DataFrame(from_pod.rows()), "from the node": pd.DataFrame(from_node.rows())})[
    ["target", "probability", "masquerade"]]

# %% [markdown] slideshow={"slide_type": "fragment"}
# **What it shows:** four outcomes of 25 % each. Traffic from a pod keeps its source address — except
# when the pod happens to pick itself (hairpin), which the `KUBE-SEP` rule masquerades; traffic from the
# node itself is always masqueraded (it comes from outside the pod CIDR). On kind the same function
# runs on the rules `docker exec` read, so it checks the real node.

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Predicted split, measured split
#
# Now send 200 real requests from that node's host network and count where they went, next to the
# tracer's prediction for the same node.

# %% slideshow={"slide_type": "-"}
measured = h.requests("web", ns.name, count=200, client="node/endpoints-worker", timeout=0.2)
measured["went to"] = measured["endpoint"].where(measured["endpoint"] != "", "(no reply)")
pd.DataFrame({"predicted": pd.Series(from_node.endpoints),
              "measured": measured.groupby("went to").size() / len(measured),
              "outcome": measured.groupby("went to")["outcome"].agg(lambda o: ", ".join(sorted(set(o))))}
             ).fillna({"predicted": 0.0, "measured": 0.0}).round(3)

# %% [markdown] slideshow={"slide_type": "fragment"}
# **What it shows:** each endpoint gets about a quarter of the requests; with 200 requests a 25 % share
# varies by about 3 points (binomial: √(200 · 0.25 · 0.75) ≈ 6 requests). The three pods answer (`ok`);
# `192.0.2.50`, the address from the hand-made slice, is a quarter of the draws too, and nothing answers
# there: `timeout`. kube-proxy does not check that an endpoint exists. On the simulator the row carries
# the address the request was DNAT'ed to; on kind a client cannot see the DNAT, so requests that got no
# reply are counted under `(no reply)` instead.

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Which data plane carried those requests?
#
# On kind, real nodes did. The simulator has two data planes: the **model** (the default: each request
# walks the node's rules through the packet tracer) and, opt-in, the **kernel** (`ENDPOINTS_SIM_DATAPLANE=kernel`
# before the simulator starts, root on Linux): every node and pod is a Linux network namespace, each kube-proxy
# sync is loaded with the real `iptables-restore` or `nft -f`, and the pods' listeners are real sockets.

# %% slideshow={"slide_type": "-"}
plane = h.data_plane()
print(f"data plane: {plane['mode']}" + (f" — {plane['note']}" if plane["note"] else ""))
if plane["mode"] == "kernel":
    flows = h.conntrack("endpoints-worker")
    web_flows = flows[(flows["dst"] == web_ip) & (flows["dport"] == 80)]
    print(h.node_rules("endpoints-worker").splitlines()[0])  # the node's own iptables-save
    display(web_flows[["state", "src", "dst", "reply_src", "reply_sport", "flags"]].drop_duplicates(
        ["state", "reply_src", "flags"]))
    answered = set(measured.loc[measured["outcome"] == "ok", "endpoint"])
    done = web_flows[(web_flows["state"] == "TIME_WAIT") & (web_flows["flags"] == "[ASSURED]")]
    assert {f"{ip}:{port}" for ip, port in zip(done["reply_src"], done["reply_sport"], strict=True)} >= answered
    assert ((web_flows["reply_src"] == "192.0.2.50") & (web_flows["state"] == "SYN_SENT")
            & (web_flows["flags"] == "[UNREPLIED]")).any(), "no unanswered flow to 192.0.2.50"
else:
    assert plane["mode"] in ("model", "kind"), plane

# %% [markdown] slideshow={"slide_type": "fragment"}
# **What it shows:** which data plane this run used. With the kernel data plane it also shows the first line of
# the node's `iptables-save` (the machine's own iptables printed it) and one conntrack entry per endpoint and
# state from the node's kernel: the original direction goes from the node's address to the ClusterIP, the
# reply comes from the endpoint the request was DNAT'ed to — every endpoint that answered above has one
# (`TIME_WAIT`, `[ASSURED]`); `192.0.2.50` has `SYN_SENT` `[UNREPLIED]` entries, since nothing owns that
# address. With the model only the first line prints.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 4. nftables mode
#
# Since v1.33 kube-proxy's **nftables** mode is GA (KEP-3866). Instead of one `KUBE-SERVICES` rule per
# Service port and a probability cascade, it uses one `kube-proxy` table with **verdict maps**: one lookup
# in `service-ips` finds the Service's chain, and `numgen random mod N` picks the endpoint. iptables is
# still the default. On kind, create a cluster from `kind/kind-nftables.yaml` to see it live; here the
# model renders it from the same objects:

# %% slideshow={"slide_type": "-"}
worker = h.get("nodes", "endpoints-worker")
nft = dataplane.nft_ruleset([h.get("svc", "web", ns.name)], web_slices, worker, {"mode": "nftables"})
print("\n".join(line for line in nft.splitlines() if "web" in line or "numgen" in line))

# %% [markdown] slideshow={"slide_type": "fragment"}
# **What it shows:** one `service-ips` element per ClusterIP port, and a `service-…` chain whose one rule,
# `dnat ip to numgen random mod 4 map { 0 : ip . port, ... }`, picks the endpoint and rewrites the
# destination in one step (since v1.36; only ClientIP affinity still gets one `endpoint-…` chain per endpoint).
# Masquerading is a mark set where it is decided, plus a `hairpin-connections` set for a pod that reaches
# itself through its Service. **Why it matters:** the lookup cost
# no longer grows with the number of Services, and a sync changes only the map elements and chains of the
# Services that changed — there is no shared chain like `KUBE-SERVICES` to rewrite on every sync. The
# third mode, **IPVS**, is deprecated since v1.35 (KEP-5495, kubernetes/kubernetes#134539); use iptables
# or nftables for anything new.

# %% [markdown] slideshow={"slide_type": "notes"}
# > **Presenter note:** If the audience has a kind cluster: `make cluster KIND_CONFIG=kind/kind-nftables.yaml`, then
# > `h.node_rules(node, "nftables")` reads the live table.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 5. Rules that differ per node: `internalTrafficPolicy: Local`
#
# With `internalTrafficPolicy: Local`, a node sends Service traffic only to endpoints **on that node**.
# Compare the outcome on a node with `web` pods and on one without:

# %% slideshow={"slide_type": "-"}
h.apply(h.service("web-local", selector={"app": "web"}, internalTrafficPolicy="Local"), namespace=ns.name)
h.wait_for_slices(ns.name, "web-local", endpoints=3, ready=3)
local_ip = h.get("svc", "web-local", ns.name)["spec"]["clusterIP"]
pods_per_node = h.pods_table(ns.name, selector="app=web").groupby("node").size()
rows = {}
for node in h.nodes_table()["name"]:
    node_text = h.wait_for_rules(node, f"{ns.name}/web-local:http")
    outcomes = dataplane.trace_packet(client_ip, f"{local_ip}:80", rules=node_text).rows()
    rows[node] = {"web pods here": pods_per_node.get(node, 0),
                  "targets": ", ".join(f"{o['target']} ({o['probability']:.0%})" for o in outcomes)}
pd.DataFrame(rows).T

# %% [markdown] slideshow={"slide_type": "fragment"}
# **What it shows:** each node picks only among its own pods; a node with none **drops** the packet
# (`"… has no local endpoints" -j DROP` in the filter table) rather than sending it elsewhere.
# `externalTrafficPolicy: Local` does the same for traffic arriving from outside (NodePort, LoadBalancer
# and external IPs) only, preserving the client's source IP; pods calling those addresses still use
# cluster-wide endpoints. (KEP-2086; `pkg/proxy/topology.go` `CategorizeEndpoints`.)

# %% [markdown] slideshow={"slide_type": "notes"}
# > **Presenter note:** DROP, not REJECT: endpoints exist, just not here. That distinction is `hasAnyEndpoints` in CategorizeEndpoints.

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Terminating endpoints as a fallback
#
# Which endpoints does a node use when **none** is ready? `CategorizeEndpoints` falls back to endpoints that
# are still *serving* while *terminating* (KEP-1669, GA 1.28). The model answers for three cases:

# %% slideshow={"slide_type": "-"}
port = proxy.ServicePort(proxy.ServicePortName(ns.name, "web", "http"), web_ip, 80, "TCP")
cases = {
    "2 ready, 1 terminating": [proxy.Endpoint("10.244.1.2", 80), proxy.Endpoint("10.244.1.3", 80),
                               proxy.Endpoint("10.244.2.2", 80, ready=False, terminating=True)],
    "all terminating, serving": [proxy.Endpoint(ip, 80, ready=False, serving=True, terminating=True)
                                 for ip in ("10.244.1.2", "10.244.2.2")],
    "all terminating, not serving": [proxy.Endpoint(ip, 80, ready=False, serving=False, terminating=True)
                                     for ip in ("10.244.1.2", "10.244.2.2")],
}
pd.DataFrame({case: {"endpoints used": [e.ip for e in proxy.categorize_endpoints(eps, port, "endpoints-worker", "zone-a").cluster]}
              for case, eps in cases.items()}).T

# %% [markdown] slideshow={"slide_type": "fragment"}
# **What it shows:** ready endpoints win; only when none is ready do serving-but-terminating ones take
# traffic, and never endpoints that stopped serving. **Why it matters:** during a rolling update of the
# last pods, connections keep flowing instead of being rejected.

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### `externalTrafficPolicy: Local`: `KUBE-EXT`, the health-check node port, the client's address
#
# A LoadBalancer Service with `externalTrafficPolicy: Local` gets one more port from the API server,
# `spec.healthCheckNodePort`. Send a packet from an outside client (`203.0.113.7`) to each node's node
# port, and ask each node's health-check port what a load balancer would hear:

# %% slideshow={"slide_type": "-"}
h.apply(h.service("web-lb", selector={"app": "web"}, type="LoadBalancer", externalTrafficPolicy="Local"),
        namespace=ns.name)
h.wait_for_slices(ns.name, "web-lb", endpoints=3, ready=3)
lb = h.get("svc", "web-lb", ns.name)["spec"]
node_port, health_port = lb["ports"][0]["nodePort"], lb["healthCheckNodePort"]
nodes = h.nodes_table().set_index("name")
lb_rows = {}
for node in nodes.index:
    node_ip = nodes.loc[node, "internalIP"]
    node_text = h.wait_for_rules(node, f"{ns.name}/web-lb:http health check node port")
    outside = dataplane.trace_packet("203.0.113.7", f"{node_ip}:{node_port}", rules=node_text, node_ips=[node_ip]).rows()
    state = dataplane.build_proxy_state(h.list_objects("svc", ns.name), h.list_objects("endpointslices", ns.name),
                                        node, {"clusterCIDR": load_cluster_config().pod_subnet})
    status, body = dataplane.health_check_response(state, ns.name, "web-lb")
    lb_rows[node] = {"web pods here": pods_per_node.get(node, 0),
                     "203.0.113.7 -> node port": ", ".join(f"{o['target']} ({o['probability']:.0%})" for o in outside),
                     "masqueraded": any(o["masquerade"] for o in outside),
                     "health check": status, "localEndpoints": body["localEndpoints"]}
lb_table = pd.DataFrame(lb_rows).T
# what the prose below says, checked on this run
assert all((lb_table["health check"] == 200) == (lb_table["web pods here"] > 0)), lb_table
assert not lb_table["masqueraded"].any(), lb_table
assert all(lb_table.loc[lb_table["web pods here"] == 0, "203.0.113.7 -> node port"] == "DROP (100%)"), lb_table
print(f"nodePort {node_port}, healthCheckNodePort {health_port}")
lb_table

# %% [markdown] slideshow={"slide_type": "fragment"}
# **What it shows:** a node with `web` pods sends the outside packet only to its own pods and answers the
# health check with 200 and its count of local endpoints; a node without any drops the packet and answers
# 503, so a load balancer that probes `healthCheckNodePort` stops sending there. No outcome is
# masqueraded: the pod sees the client's own address. The rules that do it, on the last node above:

# %% slideshow={"slide_type": "-"}
print("\n".join(line for line in node_text.splitlines()
                if "health check node port" in line or line.startswith(("-A KUBE-EXT-", ":KUBE-EXT-"))))

# %% [markdown] slideshow={"slide_type": "fragment"}
# **What it shows:** the filter table `ACCEPT`s the health-check port; the node port jumps to `KUBE-EXT-…`,
# which sends pod traffic and the node's own traffic (masqueraded) to the cluster-wide `KUBE-SVC-…` and
# everything else — outside clients — to `KUBE-SVL-…`, the local endpoints only, without a masquerade mark
# (`pkg/proxy/iptables/proxier.go`, v1.36.1: `externalTrafficChain`; the health-check server is
# `pkg/proxy/healthcheck/service_health.go`; the port is allocated in
# `pkg/registry/core/service/storage/alloc.go`). With `Cluster` the outside packet could go to any node's
# pod, masqueraded so the reply comes back through this node, and the pod would see the node's address.

# %% [markdown] slideshow={"slide_type": "notes"}
# > **Presenter note:** Ask what a cloud load balancer without health checks would do here: it would keep sending a third of the traffic to a node that drops it.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 6. Topology: `trafficDistribution`
#
# `spec.trafficDistribution: PreferSameZone` (GA 1.35; `PreferClose` is its older alias) asks the
# EndpointSlice controller to put **zone hints** on endpoints, and kube-proxy to keep traffic in the
# client's zone when every ready endpoint carries a hint. The nodes are in `zone-a` and `zone-b`:

# %% slideshow={"slide_type": "-"}
h.apply(h.service("web-zonal", selector={"app": "web"}, trafficDistribution="PreferSameZone"), namespace=ns.name)
h.wait_for_slices(ns.name, "web-zonal", endpoints=3, ready=3)
display(h.slices_table(ns.name, service="web-zonal")[["address", "node", "zone", "hints"]])
zonal_ip = h.get("svc", "web-zonal", ns.name)["spec"]["clusterIP"]
nodes = h.nodes_table().set_index("name")
pd.DataFrame({node: {"zone": nodes.loc[node, "zone"],
                     "targets": sorted(dataplane.trace_packet(client_ip, f"{zonal_ip}:80",
                                                              rules=h.wait_for_rules(node, f"{ns.name}/web-zonal:http")).endpoints)}
              for node in nodes.index}).T

# %% [markdown] slideshow={"slide_type": "fragment"}
# **What it shows:** every endpoint has a hint for its own zone, and each node's `KUBE-SVC` chain lists only
# its zone's endpoints. Unlike `internalTrafficPolicy: Local`, this is a preference: with no hinted
# endpoint for a zone, or one endpoint without hints, kube-proxy uses all ready endpoints.

# %% [markdown] slideshow={"slide_type": "notes"}
# > **Presenter note:** Topology filtering narrows only the *cluster* set; the local set of iTP/eTP=Local is never filtered.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 7. Model vs node
#
# How do we know the model is right? Render what it predicts for a node from the cluster's Services,
# slices and Node, and diff it with the rules the node has. On kind this is the real `iptables-save`
# (kind's own Docker/kindnet chains are ignored); on the simulator both sides come from the model, so
# the check only shows the simulated kube-proxy has synced.

# %% slideshow={"slide_type": "-"}
worker_rules = h.wait_for_rules("endpoints-worker", f"{ns.name}/web-zonal:http")
pod_cidr = load_cluster_config().pod_subnet  # kube-proxy's clusterCIDR, as kind configures it
diff = dataplane.diff_node_rules(worker_rules, services=h.list_objects("svc"), node=worker,
                                 endpoint_slices=h.list_objects("endpointslices"), config={"clusterCIDR": pod_cidr})
print(diff.summary())

# %% [markdown] slideshow={"slide_type": "fragment"}
# **What it shows:** no differences when the node has synced. On kind, differences usually mean the node
# has not synced a very recent change yet — or a kube-proxy version whose rule format moved on.

# %% [markdown] slideshow={"slide_type": "notes"}
# > **Presenter note:** On kind this is the moment to show that the model is checked against real iptables-save output, not trusted.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Exercise 1: sticky sessions
#
# Give Service `web` `sessionAffinity: ClientIP`. Done when `endpoints-worker`'s rules for `web` use the
# `recent` match: kube-proxy remembers each client's endpoint for `sessionAffinityConfig.clientIP.timeoutSeconds`.
# Predict first: you set no timeout, so how many seconds will the rules remember a client (their
# `--seconds`)? Record a number in `prediction_seconds`.

# %% slideshow={"slide_type": "-"}
prediction_seconds = None  # your turn: a number of seconds
# ... then give web its affinity

# %% slideshow={"slide_type": "skip"} tags=["solution"] jupyter={"source_hidden": true}
# Solution: expand this cell to compare it with yours.
prediction_seconds = 10800  # the API server defaults timeoutSeconds to 3 hours
h.apply(h.service("web", sessionAffinity="ClientIP"), namespace=ns.name)
sticky = h.wait_for_rules("endpoints-worker", "--rcheck")

# %% slideshow={"slide_type": "-"} tags=["verify"]
affinity = h.get("svc", "web", ns.name)["spec"].get("sessionAffinity")
assert affinity == "ClientIP", (f"Service web has sessionAffinity={affinity!r}. Hint: "
                                "which field of the Service spec pins a client to one endpoint?")
lines = [line for line in h.wait_for_rules("endpoints-worker", "--rcheck").splitlines()
         if f"{ns.name}/web:http" in line and "recent" in line]
assert lines, "The Service has affinity but the node's rules show no `-m recent` for web yet; re-run this cell."
assert isinstance(prediction_seconds, int), "Record a number of seconds in `prediction_seconds` first."
remembered = {int(s) for line in lines for s in re.findall(r"--seconds (\d+)", line)}
print(f"You predicted {prediction_seconds} s; the rules remember a client for {sorted(remembered)} s"
      f"{' — right.' if remembered == {prediction_seconds} else ' — read the Service back: which default did it get?'}")
print(f"✓ {len(lines)} rules for web use -m recent, e.g.\n  {lines[0]}")

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Exercise 2: hand a Service back to kube-proxy
#
# `web-other` is ignored because of its `service.kubernetes.io/service-proxy-name` label. Make kube-proxy
# program it. Predict first: in the first sync that programs `web-other`, how many endpoints will its
# rules have (DNAT targets), given that `web` has 3 pods? Record a number in `prediction_endpoints`. Done
# when `endpoints-worker`'s rules contain `web-other`.

# %% slideshow={"slide_type": "-"}
prediction_endpoints = None  # your turn: a number of endpoints
# ... then hand web-other back to kube-proxy

# %% slideshow={"slide_type": "skip"} tags=["solution"] jupyter={"source_hidden": true}
# Solution: expand this cell to compare it with yours.
prediction_endpoints = 3  # its slices reached the node all along; only the Service was filtered out
unclaimed = h.label("svc", "web-other", {kube.LABEL_SERVICE_PROXY_NAME: None}, ns.name)

# %% slideshow={"slide_type": "-"} tags=["verify"]
labels = h.get("svc", "web-other", ns.name)["metadata"].get("labels") or {}
assert kube.LABEL_SERVICE_PROXY_NAME not in labels, (
    "web-other still carries service.kubernetes.io/service-proxy-name. Hint: "
    "h.label('svc', 'web-other', {'service.kubernetes.io/service-proxy-name': None}, ns.name).")
programmed = h.wait_for_rules("endpoints-worker", f"{ns.name}/web-other:http")
assert isinstance(prediction_endpoints, int), "Record a number of endpoints in `prediction_endpoints` first."
targets = {line.split("--to-destination ")[1] for line in programmed.splitlines()
           if f"{ns.name}/web-other:http" in line and "--to-destination" in line}
print(f"You predicted {prediction_endpoints}; web-other's rules DNAT to {len(targets)} endpoint(s)"
      f"{' — right.' if prediction_endpoints == len(targets) else ' — which objects did the node filter out?'}")
print(f"✓ endpoints-worker now programs web-other ({programmed.count(f'{ns.name}/web-other:http')} rule lines).")

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Exercise 3: which nodes does the load balancer use?
#
# Scale `web` to one replica. Before you look: which nodes will answer `web-lb`'s health check with 200,
# and where will `endpoints-control-plane` send an outside client's packet to the node port? Record your
# prediction, then make the change and verify.

# %% slideshow={"slide_type": "-"}
predicted_healthy = None  # your turn: the set of nodes you expect to answer 200, e.g. {"endpoints-worker"}
# ... then scale web

# %% slideshow={"slide_type": "skip"} tags=["solution"] jupyter={"source_hidden": true}
# Solution: expand this cell to compare it with yours.
h.apply(h.deployment("web", replicas=1), namespace=ns.name)
h.wait_for_slices(ns.name, "web-lb", endpoints=1, ready=1)
predicted_healthy = set(h.pods_table(ns.name, selector="app=web")["node"])

# %% slideshow={"slide_type": "-"} tags=["verify"]
assert isinstance(predicted_healthy, set), "Record the set of node names you expect in `predicted_healthy` first."
h.wait_for_slices(ns.name, "web-lb", endpoints=1, ready=1)
state_by_node = {node: dataplane.build_proxy_state(h.list_objects("svc", ns.name), h.list_objects("endpointslices", ns.name),
                                                   node, {"clusterCIDR": load_cluster_config().pod_subnet})
                 for node in nodes.index}
healthy = {node for node, state in state_by_node.items() if dataplane.health_check_response(state, ns.name, "web-lb")[0] == 200}
assert len(healthy) == 1, (f"{len(healthy)} nodes answer 200: {sorted(healthy)}. Hint: scale the Deployment `web` "
                           "to 1 replica and wait for web-lb's slice to list one endpoint.")
cp_ip = nodes.loc["endpoints-control-plane", "internalIP"]
cp_rules = h.wait_for_rules("endpoints-control-plane", f"{ns.name}/web-lb:http")
cp_outcome = dataplane.trace_packet("203.0.113.7", f"{cp_ip}:{node_port}", rules=cp_rules, node_ips=[cp_ip]).rows()
print(f"✓ only {sorted(healthy)} answers 200 (you predicted {sorted(predicted_healthy)}: "
      f"{'right' if predicted_healthy == healthy else 'compare'}); endpoints-control-plane: "
      f"{', '.join(o['target'] for o in cp_outcome)}")

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Cleanup

# %% slideshow={"slide_type": "-"} tags=["cleanup"]
ns.cleanup()

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Summary
#
# - kube-proxy programs every Service except headless ones and those claimed by another proxy
#   (`service.kubernetes.io/service-proxy-name`); a label selector keeps most of those objects off the node.
# - Its EndpointSliceCache merges every slice of a Service; duplicates collapse, and since v1.36 a
#   non-terminating copy wins.
# - iptables mode: `KUBE-SERVICES` → `KUBE-SVC` (1/n probability cascade, masquerade mark) → `KUBE-SEP`
#   (DNAT); nftables mode (GA 1.33) does the same with verdict maps and `numgen`; IPVS is deprecated (1.35).
# - `internalTrafficPolicy: Local`, the terminating fallback and `trafficDistribution` decide which endpoints
#   each node uses — so rules legitimately differ from node to node.

# %% [markdown] slideshow={"slide_type": "subslide"}
# ## What's next
#
# [08 · KPNG](08-kpng.ipynb): an attempt to compute all this once, centrally. Upstream reading:
# `pkg/proxy/iptables/proxier.go`, `pkg/proxy/topology.go`, KEP-3866 (nftables), KEP-1669 (terminating
# endpoints), KEP-4444 (trafficDistribution).
