# %% [markdown] slideshow={"slide_type": "slide"}
# # 08 · KPNG: a retired experiment, and what it taught
#
# Every kube-proxy watches every Service and EndpointSlice in the cluster, computes what its own node
# needs, and programs one backend — three jobs in one binary, repeated on every node. **KPNG** (Kubernetes
# Proxy Next Generation, KEP-2104 "kube-proxy v2", `kubernetes-sigs/kpng`) split those jobs: a *brain*
# watches once and computes each node's **local model**; *backends* only program. KPNG never replaced
# kube-proxy, and its repository was **archived in July 2024** (now `kubernetes-retired/kpng`). This
# chapter rebuilds its idea on your cluster's objects and measures what each node would receive.

# %% [markdown] slideshow={"slide_type": "notes"}
# > **Presenter note:** Present KPNG as history with a lesson: the numbers in section 3 explain both why it was attractive and
# > why upstream took the cheaper wins (partial syncs, nftables) instead.

# %% [markdown] slideshow={"slide_type": "subslide"}
# ## Learning objectives
#
# After this chapter you can:
# 1. *explain* KPNG's split into a brain (API → global store → per-node local state) and backends;
# 2. *read* a node-local model and the `OpItem` stream (`Reset`, `Set`, `Delete`, `Sync`) a backend receives;
# 3. *contrast* full-state and diff sinks;
# 4. *compare*, with measured bytes, what a node receives from the API as kube-proxy versus from a KPNG brain;
# 5. *name* what happened to KPNG and which of its ideas live on.

# %% [markdown] slideshow={"slide_type": "subslide"}
# ## Prerequisites
#
# | Concept | Importance | Notes |
# |---|---|---|
# | [07 · kube-proxy and EndpointSlices](07-kube-proxy-and-endpointslices.ipynb) | Necessary | what kube-proxy watches, `internalTrafficPolicy` |
# | gRPC streams, protobuf | Helpful | KPNG's API is a gRPC stream of protobuf messages |
# | KPNG blog post | Helpful | [Use KPNG to Write Specialized kube-proxiers](https://kubernetes.io/blog/2021/10/18/use-kpng-to-write-specialized-kube-proxiers/) |
#
# **Time to complete:** about 15 minutes

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Which cluster am I on?
#
# KPNG is not installed on either backend (it is retired); the brain and its backends are a model in
# `helpers.dataplane.kpng`, fed with the objects your cluster serves.
#
# | On kind | On the simulator |
# |---|---|
# | the model reads the real Services, EndpointSlices and Nodes | the same, from the simulated API |

# %% slideshow={"slide_type": "-"} tags=["cluster-check"]
import matplotlib.pyplot as plt
import pandas as pd

import helpers as h
from helpers import kube
from helpers.dataplane import kpng

cluster = h.connect()
ns = h.sandbox("ch08")
nodes = h.nodes_table()
assert nodes["ready"].all(), "Not every node is Ready: wait a minute (kind) or restart the simulator."
print(f"{len(nodes)} nodes, all Ready; sandbox namespace: {ns.name}")


def snapshot():
    """What a brain (or a kube-proxy) watches: every Service, EndpointSlice and Node."""
    return {"services": h.list_objects("svc"), "endpoint_slices": h.list_objects("endpointslices"),
            "nodes": h.list_objects("nodes")}

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 1. The brain and its per-node local model
#
# Two Services over the same two pods: `web` (cluster-wide) and `web-local` (`internalTrafficPolicy: Local`).

# %% slideshow={"slide_type": "-"}
h.apply(h.deployment("web", replicas=2, readiness_gate=True), h.service("web"),
        h.service("web-local", selector={"app": "web"}, internalTrafficPolicy="Local"), namespace=ns.name)
h.wait_for_slices(ns.name, "web", endpoints=2)
h.set_ready(h.list_objects("pods", ns.name, selector="app=web"), True, ns.name)
h.wait_for_slices(ns.name, "web", endpoints=2, ready=2)
h.wait_for_slices(ns.name, "web-local", endpoints=2, ready=2)
brain = kpng.Brain(**snapshot())
node_names = [n["metadata"]["name"] for n in h.list_objects("nodes")]
local = {node: brain.local_state(node) for node in node_names}
rows = []
for node, state in local.items():
    for row in kpng.table_backend(kpng.service_endpoints(state)):
        if row["service"].startswith(f"{ns.name}/"):
            rows.append({"node": node, **row})
pd.DataFrame(rows).set_index(["node", "service"])

# %% [markdown] slideshow={"slide_type": "fragment"}
# **What it shows:** the brain (`kube2store`, then `store2localdiff` per node) merged the slices once and
# hands each node only what it needs: for `web` every ready endpoint, for `web-local` only the node's own.
# A node without `web` pods gets `web-local` with **no endpoints**. **Why it matters:** the work kube-proxy
# repeats on every node moves into the brain: slices are merged once, and each node's categorising is
# done there instead of on the node.

# %% [markdown] slideshow={"slide_type": "notes"}
# > **Presenter note:** The model's local state uses today's kube-proxy rules (`CategorizeEndpoints`); KPNG itself kept ready
# > endpoints and applied the since-removed `topologyKeys`.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 2. What travels to a backend: `OpItem`s, full state and diffs
#
# A backend connects with `Watch(WatchReq{NodeName})` and receives a stream of `OpItem`s: `Reset`, then a
# `Set(Ref{Set, Path}, Bytes)` per service and endpoint, then `Sync`. Afterwards only changes arrive.

# %% slideshow={"slide_type": "-"}
worker_ops = kpng.full_ops(local["endpoints-worker"])
ours = [op for op in worker_ops if op.op != "Set" or op.path.startswith(f"{ns.name}/")]
pd.DataFrame([{"op": op.op, "set": op.set, "path": op.path, "bytes": op.size} for op in ours])

# %% [markdown] slideshow={"slide_type": "fragment"}
# **What it shows** (only our Services' `Set`s kept): services are keyed `ns/name`, endpoints
# `ns/name/<hash>`. The hash covers the whole `Endpoint` message (`Local` included; KPNG's
# `store2localdiff` uses xxhash), so a changed endpoint gets a new key and arrives as a `Set` plus a `Delete`.
#
# Now make one `web` pod unready (its readiness gate) and diff each node's local state before and after:

# %% slideshow={"slide_type": "subslide"}
h.set_ready(h.list_objects("pods", ns.name, selector="app=web")[0], False, ns.name)
h.wait_for_slices(ns.name, "web", endpoints=2, ready=1)
after_brain = kpng.Brain(**snapshot())
diffs = {node: kpng.diff_ops(local[node], after_brain.local_state(node)) for node in node_names}
pd.DataFrame([{"node": node, "op": op.op, "path": op.path, "bytes": op.size}
              for node, ops in diffs.items() for op in ops])

# %% [markdown] slideshow={"slide_type": "fragment"}
# **What it shows:** each node receives a `Delete` of one endpoint key for `web` and a `Sync`; only the node
# that runs the pod also loses it from `web-local`. Nothing else travels: no Service, no other endpoint.
# (The pod's own node deletes a different key than the others, because its copy has `Local` set.)
# Two ways a backend consumes the stream (`client/localsink`):

# %% [markdown] slideshow={"slide_type": "notes"}
# > **Presenter note:** Contrast with kube-proxy: every node would have received the whole updated slice here.

# %% slideshow={"slide_type": "-"}
received = {"full-state sink": [], "diff sink": []}
kpng.FullStateSink(received["full-state sink"].append).send(worker_ops)
kpng.DiffSink(received["diff sink"].append).send(worker_ops)
pd.DataFrame({sink: {"callbacks": len(calls), "items in the last callback": len(calls[-1]) if calls else 0}
              for sink, calls in received.items()}).T

# %% [markdown] slideshow={"slide_type": "fragment"}
# **What it shows:** both sinks were fed the worker's start-up stream, which ends in one `Sync`, so each
# callback ran once. The **full-state** sink is level-driven: after every `Sync` its callback gets the whole
# list of services (here 4) with their endpoints, and the backend recomputes everything (simple, like
# kube-proxy's full sync). The **diff** sink is event-driven: the backend gets just the `Set`/`Delete` items
# (here 11: the `Reset` and 10 `Set`s — 4 services, 6 endpoints — since everything is new) and programs
# only what changed. The model hands them over as one batch per `Sync`; KPNG's `decoder` sink calls
# `SetService`/`SetEndpoint`/`Delete…` once per item, then `Sync()`. The same local state can also be
# rendered by other backends:

# %% slideshow={"slide_type": "-"}
entries = [e for e in kpng.service_endpoints(local["endpoints-worker"]) if e["Service"]["Namespace"] == ns.name]
print(kpng.ipvs_backend(entries))

# %% [markdown] slideshow={"slide_type": "fragment"}
# An `ipvsadm -Ln`-style view of our Services from the worker's local model (KPNG shipped iptables, IPVS,
# nft, eBPF and Windows backends).

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 3. What each node receives: kube-proxy vs KPNG, measured
#
# kube-proxy lists every Service and EndpointSlice it watches on start, then receives every change as a
# whole object, on every node. A KPNG backend receives its node's local state, then its diffs. Sizes are
# JSON bytes on both sides (like for like). First your cluster:

# %% slideshow={"slide_type": "-"}
now = snapshot()
pd.DataFrame(kpng.initial_sync_cost(now)).set_index("design")

# %% [markdown] slideshow={"slide_type": "fragment"}
# Then a larger synthetic cluster (100 Services × 10 endpoints, 10 nodes), start-up and one endpoint
# turning unready:

# %% slideshow={"slide_type": "subslide"}
big = kpng.scale_cluster(100, 10, 10)
victim = big["endpoint_slices"][0]["endpoints"][-1]["addresses"][0]
cost = pd.concat({"start-up": pd.DataFrame(kpng.initial_sync_cost(big)),
                  "one endpoint unready": pd.DataFrame(kpng.change_cost(big, kpng.with_endpoint_ready(big, victim, False)))})
cost[["design", "nodes reached", "bytes per node (mean)", "bytes in total"]]

# %% [markdown] slideshow={"slide_type": "fragment"}
# **What it shows:** kube-proxy's start-up is every object in full; KPNG's is a trimmed local model. For one
# change, kube-proxy ships the whole slice (metadata, managed fields, every endpoint) to every node; a KPNG
# backend gets a `Delete` of one endpoint key — tens of bytes, about 100× less per node. KPNG's own figure
# measures something else: its proposal document (`kubernetes-retired/kpng`, `proposal.md`) counts, on an
# empty kind cluster, 513 API events in five minutes that changed the node-local model only twice
# (0.39 %) — API events that change nothing a node needs, filtered out, not bytes per real change.
# Growth with the cluster:

# %% slideshow={"slide_type": "subslide"}
growth = pd.DataFrame(kpng.scaling_rows(service_counts=(10, 100), node_counts=(3, 10)))
figure, axes = plt.subplots(figsize=(7, 3.5), layout="constrained")
plt.close(figure)  # shown once, by returning it (as the helpers' plots are)
ax = growth.pivot_table(index=["services", "nodes"], columns="design", values="change bytes, all nodes").plot.bar(
    logy=True, ax=axes, title="Bytes sent for one endpoint change, all nodes together")
ax.set_ylabel("bytes (log scale)")
ax.set_xlabel("(Services, nodes)")
figure

# %% [markdown] slideshow={"slide_type": "fragment"}
# One change costs the same whatever the number of Services — only the changed slice travels — but it is
# paid once per node: both bars grow with the node count, kube-proxy's about a hundred times higher.
#
# **Why it matters — and why it was not enough:** the savings are real, but the price is a new
# always-on central component, a new API (`localnetv1`), and a second implementation of every kube-proxy
# semantic. Upstream left the watch fan-out as it was and went after the cost that hurt most in practice,
# each node's rule-programming time, by cheaper routes (partial restores, nftables mode).

# %% [markdown] slideshow={"slide_type": "notes"}
# > **Presenter note:** Bytes are JSON on both sides. Real kube-proxy asks the API server for protobuf by default
# > (`clientConnection.contentType: application/vnd.kubernetes.protobuf`), and KPNG's `Set` values were
# > protobuf too, so both sides shrink.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 4. Retirement, and what lived on
#
# KEP-2104 never got past a work-in-progress draft, and KPNG was never merged in-tree: the tracking issue
# (kubernetes/enhancements#2104) was closed in August 2023 in favour of smaller, incremental kube-proxy
# refactoring. KEP-3786 (moving kube-proxy's shared code to staging so others could reuse it) was closed in
# 2023, and the `kpng` repository was archived in July 2024 (kubernetes/org#5054). Its ideas survive in
# other shapes:
#
# | KPNG idea | Where it lives now |
# |---|---|
# | specialised proxies claim Services | the `service.kubernetes.io/service-proxy-name` label (older than KPNG, which leaned on it) |
# | an nftables backend | kube-proxy's nftables mode, KEP-3866, GA in 1.33 |
# | program only what changed | partial iptables restores, KEP-3453, GA in 1.28 |
# | reuse the proxy logic elsewhere | Calico eBPF imports `pkg/proxy`; Antrea carries a copy |
# | a written spec of proxy semantics | `kpng/doc/service-proxy.md` (reject vs drop, hairpin SNAT, health checks) |

# %% [markdown] slideshow={"slide_type": "notes"}
# > **Presenter note:** If asked "should I run KPNG?": no — it is archived. The chapter exists because its split explains the
# > design space that nftables mode and the CNI-based proxies of chapter 10 now occupy.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Exercise 1: a Service only some nodes serve
#
# Create Deployment `api` (1 replica) and Service `api` with `internalTrafficPolicy: Local`. Done when the
# brain's local model gives `api` an endpoint on exactly one node, and none on the others. Predict
# first: on how many nodes will the brain's local state list an endpoint for `api`? Record it in `prediction`.

# %% slideshow={"slide_type": "-"}
prediction = None  # your turn: a number of nodes
# ... then create the Deployment and the Service

# %% slideshow={"slide_type": "skip"} tags=["solution"] jupyter={"source_hidden": true}
# Solution: expand this cell to compare it with yours.
prediction = 1  # internalTrafficPolicy: Local keeps each node's own endpoints only
h.apply(h.deployment("api", replicas=1), h.service("api", internalTrafficPolicy="Local"), namespace=ns.name)
api_slices = h.wait_for_slices(ns.name, "api", endpoints=1, ready=1)

# %% slideshow={"slide_type": "-"} tags=["verify"]
api = next((s for s in h.list_objects("svc", ns.name) if s["metadata"]["name"] == "api"), None)
assert api is not None, "There is no Service api in the sandbox. Hint: h.apply(h.deployment('api'), h.service('api', ...))."
assert api["spec"].get("internalTrafficPolicy") == "Local", "Service api is not internalTrafficPolicy: Local yet."
check_brain = kpng.Brain(**snapshot())
per_node = {node: sum(len(e["Endpoints"]) for e in kpng.service_endpoints(check_brain.local_state(node))
                      if (e["Service"]["Namespace"], e["Service"]["Name"]) == (ns.name, "api"))
            for node in node_names}
assert sorted(per_node.values()) == [0] * (len(node_names) - 1) + [1], (
    f"Endpoints of api per node: {per_node}. Hint: one Ready api pod is needed: h.wait_for_slices(ns.name, 'api', endpoints=1, ready=1).")
assert isinstance(prediction, int), "Record your prediction (a number of nodes) in `prediction` first."
print(f"You predicted {prediction} node(s); the brain gives api an endpoint on {sum(v > 0 for v in per_node.values())}.")
print(f"✓ api's local model per node: {per_node}")

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Exercise 2: claim a Service for another proxy
#
# A KPNG-based proxy (or any alternative) takes over a Service through the label
# `service.kubernetes.io/service-proxy-name`. Label Service `api` with `service.kubernetes.io/service-proxy-name=kpng`.
# Predict first: will `api` still have EndpointSlices afterwards? Record `True` or `False` in
# `prediction_slices`. Done when kube-proxy's watch would no longer deliver `api` or its slices.

# %% slideshow={"slide_type": "-"}
prediction_slices = None  # your turn: True or False
# ... then label the Service

# %% slideshow={"slide_type": "skip"} tags=["solution"] jupyter={"source_hidden": true}
# Solution: expand this cell to compare it with yours.
prediction_slices = True  # the label filters kube-proxy's informers; the EndpointSlice controller ignores it
claimed = h.label("svc", "api", {kube.LABEL_SERVICE_PROXY_NAME: "kpng"}, ns.name)

# %% slideshow={"slide_type": "-"} tags=["verify"]
api = h.get("svc", "api", ns.name)
assert not kpng.kube_proxy_watches(api), (
    "kube-proxy still watches Service api. Hint: h.label('svc', 'api', "
    "{'service.kubernetes.io/service-proxy-name': 'kpng'}, ns.name).")
assert prediction_slices in (True, False), "Record True or False in `prediction_slices` first."
has_slices = bool(h.list_objects("endpointslices", ns.name, selector=f"{kube.LABEL_SERVICE_NAME}=api"))
print(f"You predicted {prediction_slices}; api {'still has' if has_slices else 'has no'} EndpointSlices"
      f"{' — right.' if prediction_slices == has_slices else ' — which component reads the label?'}")
print("✓ kube-proxy's informer selector now filters api out; a proxy named 'kpng' would program it instead.")

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Cleanup

# %% slideshow={"slide_type": "-"} tags=["cleanup"]
ns.cleanup()

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Summary
#
# - KPNG split kube-proxy into a brain (watch once, compute each node's local model) and backends (program only).
# - Backends receive `OpItem`s — `Reset`, `Set`, `Delete`, `Sync` — through a full-state (level-driven) or a
#   diff (event-driven) sink.
# - Measured on JSON bytes, a node receives far less from a brain than kube-proxy receives from the API,
#   especially per change.
# - KPNG was archived in July 2024. Its ideas came back in other forms (nftables mode, partial restores),
#   and the `service-proxy-name` label it relied on (older than KPNG) still hands a Service to another proxy.

# %% [markdown] slideshow={"slide_type": "subslide"}
# ## What's next
#
# [09 · How nodes respond to changing endpoints](09-how-nodes-respond.ipynb): timing, syncs and node
# failure. Upstream reading: KEP-2104, `kubernetes-retired/kpng` (`doc/service-proxy.md`), KEP-3453.
