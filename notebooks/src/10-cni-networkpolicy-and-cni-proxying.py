# %% [markdown] slideshow={"slide_type": "slide"}
# # 10 · CNI providers, NetworkPolicies and CNI-based proxying
#
# The last layer under an endpoint: the network plugin that gave the pod its address in the first
# place. This chapter shows where pod IPs come from (the node's podCIDR, host-local IPAM, kindnet's
# routes), why ordinary CNI plugins never look at EndpointSlices, how NetworkPolicy interacts with
# Services — it selects pods, and sees traffic only after kube-proxy's DNAT — and how CNI-based proxies
# such as Cilium, Antrea and Calico eBPF take over kube-proxy's job.

# %% [markdown] slideshow={"slide_type": "notes"}
# > **Presenter note:** The one surprise to land: a NetworkPolicy never mentions a Service, and it judges the packet after the
# > ClusterIP has been rewritten to a pod IP and targetPort.

# %% [markdown] slideshow={"slide_type": "subslide"}
# ## Learning objectives
#
# After this chapter you can:
# 1. *explain* how a pod gets its IP on kind: podCIDR per node, host-local IPAM, kindnet's routes;
# 2. *state* which components consume EndpointSlices and which (plain CNI plugins) do not;
# 3. *predict* which backends of a Service a NetworkPolicy blocks, using the post-DNAT pod IP and targetPort;
# 4. *compare* kube-proxy with CNI-based service proxies, and try one on kind.

# %% [markdown] slideshow={"slide_type": "subslide"}
# ## Prerequisites
#
# | Concept | Importance | Notes |
# |---|---|---|
# | [07 · kube-proxy and EndpointSlices](07-kube-proxy-and-endpointslices.ipynb) | Necessary | DNAT, `service-proxy-name` |
# | NetworkPolicy | Helpful | [Network Policies](https://kubernetes.io/docs/concepts/services-networking/network-policies/) |
# | CNI | Helpful | [CNI specification](https://www.cni.dev/docs/spec/) |
#
# **Time to complete:** about 20 minutes

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Which cluster am I on?
#
# | On kind | On the simulator |
# |---|---|
# | kindnetd writes the CNI config and routes on each node (read them with `docker exec <node> cat /etc/cni/net.d/10-kindnet.conflist` and `ip route` — live-only) | the simulated kubelet allocates pod IPs with the same host-local rules; configs and routes come from the model in `helpers.dataplane.cni` |
# | recent kindnetd enforces NetworkPolicy; test with real traffic (`kubectl exec ... wget`) | nothing enforces policy; the model evaluates it (`helpers.dataplane.netpol`) |

# %% slideshow={"slide_type": "-"} tags=["cluster-check"]
import ipaddress
import json

import pandas as pd

import helpers as h
from helpers import kube
from helpers.dataplane import cni, ipam, netpol

cluster = h.connect()
ns = h.sandbox("ch10")
nodes = h.nodes_table()
assert nodes["ready"].all(), "Not every node is Ready: wait a minute (kind) or restart the simulator."
print(f"{len(nodes)} nodes, all Ready; sandbox namespace: {ns.name}")

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 1. How pods get IPs
#
# kube-controller-manager gives every node a slice of the cluster's pod subnet (`spec.podCIDR`, a /24 of
# `10.244.0.0/16` on kind). When the kubelet asks the container runtime for a pod sandbox, the runtime
# runs the CNI plugin chain from the network config in `/etc/cni/net.d/` (the first file in name order);
# its IPAM plugin picks an address from that range.

# %% slideshow={"slide_type": "-"}
h.apply(h.deployment("web", replicas=3, port=8080), h.service("web", ports=((80, 8080),)),
        h.deployment("client"), namespace=ns.name)
h.wait_for_slices(ns.name, "web", endpoints=3, ready=3)
h.wait_for_ready(ns.name, "app=client")
cidrs = h.nodes_table().set_index("name")["podCIDR"]
pods = h.pods_table(ns.name)
pods["node podCIDR"] = pods["node"].map(cidrs)
pods["IP inside it"] = [ipaddress.ip_address(ip) in ipaddress.ip_network(cidr)
                        for ip, cidr in zip(pods["podIP"], pods["node podCIDR"], strict=True)]
pods[["name", "node", "podIP", "node podCIDR", "IP inside it"]]

# %% [markdown] slideshow={"slide_type": "fragment"}
# **What it shows:** every pod's IP lies in its node's podCIDR, so the IP alone tells you the node.
# kind's CNI, **kindnetd**, writes this config on each node:

# %% slideshow={"slide_type": "-"}
worker = h.get("nodes", "endpoints-worker")
print(json.dumps(cni.kindnet_conflist(worker), indent=2))

# %% [markdown] slideshow={"slide_type": "fragment"}
# A `ptp` plugin (a veth pair per pod) with **host-local** IPAM on the node's podCIDR, then `portmap`
# for `hostPort`s. host-local reserves `.1` as the gateway, hands out `.2` onwards, and continues
# *after* the last address it gave out rather than reusing a just-freed one:

# %% slideshow={"slide_type": "-"}
allocator = ipam.HostLocalIPAM(worker["spec"]["podCIDR"])
steps = [("allocate", "pod-a"), ("allocate", "pod-b"), ("allocate", "pod-c"), ("release", "pod-b"), ("allocate", "pod-d")]
pd.DataFrame([{"step": f"{verb} {key}", "IP": getattr(allocator, verb)(key), "last reserved": allocator.last_reserved}
              for verb, key in steps])

# %% [markdown] slideshow={"slide_type": "fragment"}
# **What it shows:** `pod-d` does not get `pod-b`'s freed address; it gets the next one. (upstream:
# `containernetworking/plugins`, `plugins/ipam/host-local`.) **Why it matters:** a replacement pod almost
# always has a *new* IP, so its endpoint is a new entry in the slice, not an edit of the old one — and a
# client, cache or conntrack entry still holding the old address does not immediately reach a different
# pod. Addresses are reused only after the allocator wraps around the /24. That is host-local's rule, not
# every IPAM's: some (pool-based IPAMs of other CNIs) hand a freed address to the next pod soon after.

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Reaching pods on other nodes
#
# kindnetd also programs one route per other node: its podCIDR via its InternalIP. The worker's table:

# %% slideshow={"slide_type": "-"}
print("\n".join(cni.kindnet_routes(h.list_objects("nodes"), "endpoints-worker")))

# %% [markdown] slideshow={"slide_type": "fragment"}
# **What it shows:** plain routing — the nodes share one Docker network, so no tunnel is needed.
# **Why it matters:** nothing here mentions Services or endpoints. kindnetd, like bridge, ptp, flannel
# and most CNI plugins, provides *reachability* (recent kindnetd also enforces NetworkPolicy) and never
# reads Services or EndpointSlices; turning a ClusterIP into a pod IP is kube-proxy's job (or a
# CNI-based proxy's, section 3).

# %% [markdown] slideshow={"slide_type": "notes"}
# > **Presenter note:** Live check on kind: `docker exec endpoints-worker ip route` — compare with the model's lines.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 2. NetworkPolicy selects pods, after DNAT
#
# Block one `web` backend: label one pod `blocked=true` and apply a policy that selects it and allows no
# ingress. Then ask, for each backend the Service can DNAT to, whether `client` may reach it:

# %% slideshow={"slide_type": "-"}
web_pods = h.list_objects("pods", ns.name, selector="app=web")
blocked_pod = web_pods[0]["metadata"]["name"]
h.label("pod", blocked_pod, {"blocked": "true"}, ns.name)
deny = {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": "deny-blocked"},
        "spec": {"podSelector": {"matchLabels": {"app": "web", "blocked": "true"}}, "policyTypes": ["Ingress"]}}
h.apply(deny, namespace=ns.name)


def reachability(client_pod_or_ip):
    """One row per web backend: may the client reach it once kube-proxy has picked it?"""
    rows = netpol.service_backends_allowed(
        client_pod_or_ip, h.get("svc", "web", ns.name), h.list_objects("endpointslices", ns.name),
        h.list_objects("pods", ns.name), h.list_objects("namespaces"), h.list_objects("networkpolicies", ns.name))
    return pd.DataFrame(rows)[["clusterIP", "backend", "pod", "allowed", "reasons"]]


client = h.list_objects("pods", ns.name, selector="app=client")[0]
reachability(client)

# %% [markdown] slideshow={"slide_type": "fragment"}
# **What it shows:** the client dials one ClusterIP, but the verdict is per **backend**: the connection
# succeeds when kube-proxy picks an allowed pod and fails when it picks the blocked one — kube-proxy
# picks at random, so about 1 in 3 new connections time out. The policy never mentions the Service:
# policies select pods
# (`podSelector`/`namespaceSelector`/`ipBlock`), and this policy engine (the model of kindnet's and of
# most implementations) sees the packet **after** DNAT, with the backend's IP and its *targetPort* (8080),
# never the ClusterIP and port 80. That order is implementation behaviour: the NetworkPolicy
# documentation leaves it undefined whether an `ipBlock` matches a Service's ClusterIP before or after
# rewriting, so check your CNI's documentation before relying on it.
#
# **Why it matters:** "the Service works sometimes" is a classic symptom of a policy that covers only some
# backends — and a policy that allows `port: 80` for a Service whose targetPort is 8080 lets none of the
# Service's traffic through.

# %% [markdown] slideshow={"slide_type": "notes"}
# > **Presenter note:** Exercise 2 makes the port point concrete: the allow rule must name 8080, the targetPort.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 3. CNI-based service proxies
#
# Some CNI plugins also replace kube-proxy. They watch the same Services and EndpointSlices, merge them
# with largely the same semantics, and program their own datapath:

# %% slideshow={"slide_type": "-"}
comparison = pd.DataFrame(cni.proxy_comparison()).set_index("implementation")
comparison[["watches", "programs", "honours service-proxy-name"]]

# %% [markdown] slideshow={"slide_type": "fragment"}
# **What it shows:** Cilium (eBPF maps, socket-level load balancing at `connect()`), Antrea Proxy (Open
# vSwitch flows, built on a vendored copy of kube-proxy's change trackers) and Calico eBPF (which imports
# kube-proxy's `pkg/proxy` trackers) all start from EndpointSlices — the whole series applies to them.
# Their *semantics* still differ in the details: which topology hints, `trafficDistribution` values
# (`PreferSameNode`) and terminating-endpoint fallbacks each honours depends on its version; read each
# project's Service documentation rather than assuming kube-proxy's.
# The differences are *where* the rewrite happens (eBPF at the socket or at tc, OVS, iptables/nftables)
# and therefore what NetworkPolicy and observability tools see.
#
# **Try one on kind** (needs Docker and internet access, so it is not run here): `kind/kind-no-kube-proxy.yaml`
# describes a cluster `endpoints-cni` with neither kube-proxy nor the default CNI. Create it with
# `kind create cluster --config kind/kind-no-kube-proxy.yaml`, then install Cilium with
# `cilium install --set kubeProxyReplacement=true --set k8sServiceHost=endpoints-cni-control-plane --set k8sServicePort=6443`
# (with no kube-proxy, the `kubernetes` ClusterIP is not programmed until Cilium runs, so Cilium must be
# told where the API server is). Point the chapters at it with
# `ENDPOINTS_BACKEND=kind-endpoints-cni ENDPOINTS_ALLOW_ANY_CONTEXT=1`: the API-level chapters (00–03, 05,
# 06) behave the same, because the EndpointSlice controllers run in kube-controller-manager whatever
# proxies the traffic (chapter 00 then lists Cilium's pods where kube-proxy and kindnet were). The
# node-level cells do not: `h.node_rules` (chapters 04 and 07) and the node
# actions work only on the project's own kind cluster or the simulator, and several chapters (07–10)
# name nodes `endpoints-worker`, while this cluster's are `endpoints-cni-*`. There are no `KUBE-*` rules
# to read anyway; `kubectl -n kube-system exec ds/cilium -- cilium-dbg service list` lists the same
# frontends and backends instead. The simulator can boot the same file
# (`python -m helpers.sim start --config kind/kind-no-kube-proxy.yaml`) and shows the state *before* a CNI
# is installed, as kind does: every node NotReady (`cni plugin not initialized`), CoreDNS Pending. It cannot
# install a CNI, so it stops there.

# %% [markdown] slideshow={"slide_type": "notes"}
# > **Presenter note:** KPNG (chapter 08) tried to make this split official inside Kubernetes; the CNI projects did it
# > themselves, each reusing kube-proxy's semantics.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Exercise 1: unblock the backend
#
# Make all three `web` backends reachable from `client` again **without deleting** the `deny-blocked`
# policy. Predict first: afterwards, will `deny-blocked` still select any pod? Record `True` or `False` in
# `prediction`. Done when every backend is allowed.

# %% slideshow={"slide_type": "-"}
prediction = None  # your turn: True or False

# %% slideshow={"slide_type": "skip"} tags=["solution"] jupyter={"source_hidden": true}
# Solution: expand this cell to compare it with yours.
prediction = False  # without the label the policy's podSelector matches no pod; it stays, doing nothing
unblocked = h.label("pod", blocked_pod, {"blocked": None}, ns.name)

# %% slideshow={"slide_type": "-"} tags=["verify"]
assert any(p["metadata"]["name"] == "deny-blocked" for p in h.list_objects("networkpolicies", ns.name)), (
    "The deny-blocked policy is gone; the exercise asks to keep it. Re-apply it with h.apply(deny, namespace=ns.name).")
verdicts = reachability(h.list_objects("pods", ns.name, selector="app=client")[0])
assert len(verdicts) == 3 and verdicts["allowed"].all(), (
    f"{(~verdicts['allowed']).sum()} backend(s) still blocked. Hint: the policy selects pods by label; "
    "which label makes a web pod match it?")
assert prediction in (True, False), "Record True or False in `prediction` first."
print(f"✓ all three backends reachable; the policy still exists but selects no pod (you predicted {prediction}).")

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Exercise 2: allow only the client, on the right port
#
# Apply a NetworkPolicy `web-from-client` that selects all `web` pods and allows ingress **only** from pods
# labelled `app=client`, on the port the policy engine actually sees. Done when `client` reaches every
# backend and an outside address (`192.0.2.1`) reaches none. Predict first: which port number must the
# rule allow, the Service's 80 or the pods' 8080? Record it in `prediction_port`.

# %% slideshow={"slide_type": "-"}
prediction_port = None  # your turn: 80 or 8080
# ... then apply the policy

# %% slideshow={"slide_type": "skip"} tags=["solution"] jupyter={"source_hidden": true}
# Solution: expand this cell to compare it with yours.
prediction_port = 8080  # the policy engine sees the packet after DNAT, on the targetPort
allow = h.apply({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": "web-from-client"},
                 "spec": {"podSelector": {"matchLabels": {"app": "web"}}, "policyTypes": ["Ingress"],
                          "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": "client"}}}],
                                       "ports": [{"protocol": "TCP", "port": 8080}]}]}}, namespace=ns.name)

# %% slideshow={"slide_type": "-"} tags=["verify"]
names = {p["metadata"]["name"] for p in h.list_objects("networkpolicies", ns.name)}
assert "web-from-client" in names, "No NetworkPolicy web-from-client in the sandbox yet."
from_client = reachability(h.list_objects("pods", ns.name, selector="app=client")[0])
from_outside = reachability("192.0.2.1")
assert from_client["allowed"].all(), (
    f"client is denied on {(~from_client['allowed']).sum()} backend(s). Hint: after DNAT the destination port is "
    "the targetPort (8080), not the Service port (80) — and is any web pod still labelled blocked=true?")
assert not from_outside["allowed"].any(), "192.0.2.1 is still allowed somewhere. Hint: the rule needs a `from` peer."
assert prediction_port in (80, 8080), "Record 80 or 8080 in `prediction_port` first."
seen_port = h.list_objects("endpointslices", ns.name, selector=f"{kube.LABEL_SERVICE_NAME}=web")[0]["ports"][0]["port"]
print(f"You predicted {prediction_port}; after DNAT the packets reach port {seen_port} (web's slice port)"
      f"{' — right.' if prediction_port == seen_port else ' — DNAT rewrote the port before the policy saw it.'}")
print("✓ client reaches every backend on 8080; everything else is denied.")

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Cleanup

# %% slideshow={"slide_type": "-"} tags=["cleanup"]
ns.cleanup()

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Summary
#
# - On kind, each node owns a /24 podCIDR; kindnetd's `ptp` + host-local IPAM hands out addresses from it
#   (gateway `.1`, round-robin, no immediate reuse) and routes other nodes' podCIDRs via their IPs.
# - Plain CNI plugins give reachability and ignore Services and EndpointSlices.
# - NetworkPolicy selects pods, never Services; here (and in most implementations) it is evaluated after
#   DNAT: backend IP and targetPort. A policy on some backends makes a Service fail *sometimes*.
# - Cilium, Antrea Proxy and Calico eBPF replace kube-proxy by consuming the same EndpointSlices, with
#   mostly the same semantics (hints and `PreferSameNode` support vary), programming eBPF or OVS instead of
#   iptables/nftables.

# %% [markdown] slideshow={"slide_type": "subslide"}
# ## What's next
#
# [11 · Who else reads EndpointSlices, and operating them](11-who-else-reads-endpointslices.ipynb): the
# other consumers of slices, and the metrics that watch the whole path. Upstream reading: the CNI spec,
# `kubernetes-sigs/kube-network-policies`, Cilium's kube-proxy-free guide.
