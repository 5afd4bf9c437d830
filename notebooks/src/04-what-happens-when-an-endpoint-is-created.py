# %% [markdown] slideshow={"slide_type": "slide"}
# # 04 · What happens when an endpoint is created?
#
# You run `kubectl apply` on a Deployment whose pods match an existing Service. Some seconds later,
# every node forwards the Service's traffic to the new pod. In between, six components take turns,
# each reacting to the previous one's write through a watch. This chapter records those watch events
# on your own cluster and draws them as a sequence diagram with measured times.

# %% [markdown] slideshow={"slide_type": "notes"}
# > **Presenter note:** The outline asks for "a sequence diagram" here. The point to land: nobody calls anybody — every arrow
# > is "write to the API server, somebody else's watch fires".

# %% [markdown] slideshow={"slide_type": "subslide"}
# ## Learning objectives
#
# After this chapter you can:
# 1. *list* the components between `kubectl apply` and a ready endpoint, in order, and what each writes;
# 2. *record* a trace of watch events and *read* it as a sequence diagram;
# 3. *break down* the latency into scheduling, pod start-up, readiness and endpoint publication;
# 4. *explain* the `endpoints.kubernetes.io/last-change-trigger-time` annotation and the
#    network-programming latency it lets kube-proxy measure.

# %% [markdown] slideshow={"slide_type": "subslide"}
# ## Prerequisites
#
# | Concept | Importance | Notes |
# |---|---|---|
# | [01 · What is an EndpointSlice?](01-what-is-an-endpointslice.ipynb) | Necessary | slice fields and conditions |
# | Controllers and watches | Helpful | [Controllers](https://kubernetes.io/docs/concepts/architecture/controller/) |
# | Readiness | Helpful | [Pod readiness gates](https://kubernetes.io/docs/concepts/workloads/pods/pod-lifecycle/#pod-readiness-gate) |
#
# **Time to complete:** about 20 minutes

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Which cluster am I on?
#
# | On kind | On the simulator |
# |---|---|
# | real latencies: image pull, container start, your laptop's load | modelled latencies (seeded, so runs are similar), on a virtual clock |
# | kube-proxy logs its syncs only at `-v=2` or higher (kind runs it at the default level), so the diagram usually shows one arrow to "kube-proxy (each node; sync not observed)"; the rules check reads each node with `docker exec` | the simulated kube-proxies log every sync, so the diagram reaches every node |

# %% slideshow={"slide_type": "-"} tags=["cluster-check"]
import pandas as pd

import helpers as h
from helpers import kube

cluster = h.connect()
ns = h.sandbox("ch04")
nodes = h.nodes_table()
assert nodes["ready"].all(), "Not every node is Ready: wait a minute (kind) or restart the simulator."
print(f"{len(nodes)} nodes, all Ready; sandbox namespace: {ns.name}")

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 1. Record one Deployment
#
# First the Service (so its placeholder slice already exists), then a trace that watches Deployments,
# ReplicaSets, Pods, EndpointSlices, Endpoints, Events and Nodes at once, then the Deployment.

# %% slideshow={"slide_type": "-"}
h.apply(h.service("web"), namespace=ns.name)
h.wait_for_slices(ns.name, "web", endpoints=0)

trace = h.Trace(namespace=ns.name, duration=120)
h.apply(h.deployment("web", replicas=1, readiness_gate=False), namespace=ns.name)
h.wait_for_slices(ns.name, "web", endpoints=1, ready=1)
trace.wait_idle(quiet=1.0, timeout=30)
trace.stop()
events = trace.to_frame()
events.loc[events["summary"] != "", ["t", "kind", "type", "name", "summary", "actor"]]

# %% [markdown] slideshow={"slide_type": "fragment"}
# **What it shows:** every watch event the apply caused (plus your action, and kube-proxy's syncs read
# from its log), with `t` = seconds since the trace started on the cluster's clock (on the simulator a
# virtual clock, which skips idle gaps while a helper waits), what changed (`summary`) and which
# component most likely made the change (`actor`; the API does not record writers, so the helper
# infers it from the kind of change and the owner references).
#
# **Why it matters:** this *is* the mechanism. Each component watches the API server, reacts to one
# kind of change, and writes another; the next component's watch fires on that write.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 2. The sequence diagram

# %% slideshow={"slide_type": "-"}
diagram = h.sequence_diagram(trace, title="kubectl apply → ready endpoint")
diagram

# %% [markdown] slideshow={"slide_type": "fragment"}
# **What it shows**, top to bottom:
# 1. **you → API server**: the Deployment is stored;
# 2. **Deployment controller**: creates a ReplicaSet for the pod template;
# 3. **ReplicaSet controller**: creates the Pod (no node yet);
# 4. **scheduler**: sets `spec.nodeName` (a *binding*);
# 5. **kubelet** on that node: writes the pod's status twice. First `Pending` with no `podIP` (its first
#    sync reports status *before* the container runtime creates the pod's sandbox, so there is no IP
#    yet); then it creates the sandbox (which gets the IP), pulls the image, starts the container, and
#    at its next pod-cache refresh (the PLEG relist, every second) writes `podIP`, `Running` and
#    `Ready` **in one status update** — this pod has no readiness probe, so a running container is ready;
# 6. **EndpointSlice controller** (and, separately, the Endpoints controller): adds the address,
#    already ready — a pod without an IP is not an endpoint, and this one had none until it was ready;
# 7. **kube-proxy on every node**: receives the slice change through its watch and rewrites its rules.
#
# The cell below checks these claims against the trace.
# **Why it matters:** the endpoint is the *last* write on the path to traffic, and it is the one every
# node receives (the ReplicaSet and Deployment `readyReplicas` updates at the bottom are status
# bookkeeping that no packet waits for). The same diagram as Mermaid text, for docs and slides:

# %% slideshow={"slide_type": "subslide"}
pod_rows = events.loc[(events["kind"] == "Pod") & (events["actor"] == "kubelet") & (events["summary"] != "")]
ip_rows = pod_rows[pod_rows["summary"].str.contains("podIP=")]
slice_rows = events.loc[(events["kind"] == "EndpointSlice") & events["summary"].str.contains("endpoints 0→1")]
together = len(ip_rows) == 1 and "ready False→True" in ip_rows["summary"].iloc[0]
first_endpoint_ready = len(slice_rows) == 1 and "ready 0→1" in slice_rows["summary"].iloc[0]
proxy_rows = events.loc[events["actor"].str.startswith("kube-proxy")]
after_slice = proxy_rows[proxy_rows["t"] >= slice_rows["t"].min() - 0.01] if len(slice_rows) else proxy_rows
syncs_per_node = after_slice["actor"].value_counts()
print(f"kubelet status writes: {len(pod_rows)}; podIP and Ready in the same write: {together}")
print(f"the endpoint's first appearance in the slice was already ready: {first_endpoint_ready}")
print("kube-proxy syncs per node from that slice update on:",
      syncs_per_node.to_dict() or "(not observed: kind logs syncs at -v=2)")
print(f"kube-proxy syncs before it (the Service and its empty slice, made before the trace): {len(proxy_rows) - len(after_slice)}")
# Both backends run upstream's kubelet logic: only a container that fails to start (an image pull error)
# makes it report the sandbox's IP before the pod is ready.
assert together and first_endpoint_ready, pod_rows[["t", "summary"]]
if cluster.is_sim:  # kind logs no syncs at its default verbosity
    assert len(pod_rows) == 2 and syncs_per_node.eq(1).all(), (pod_rows[["t", "summary"]], syncs_per_node)

# %% [markdown] slideshow={"slide_type": "fragment"}
# **What it shows:** the kubelet's two writes, the IP arriving together with `Ready`, and one slice update
# that adds a ready endpoint, which each node's kube-proxy applies in **one** sync. On the simulator the
# trace also shows syncs *before* the pod had an IP: they apply the Service and its empty slice, created
# just before the trace started (`minSyncPeriod` held the second of those changes back), and route
# nothing to the pod.
#
# **When does a not-ready endpoint appear first?** Whenever the pod is running with an IP but not yet
# `Ready`: a **readiness probe** that has not passed yet (`initialDelaySeconds`, `periodSeconds` and
# `successThreshold` decide when it can), a **readiness gate** whose condition is not `True` yet
# (Exercise 2 below), or a container that is slow to become ready for any reason (a second container
# that is still starting, an init container that runs first). Then the endpoint is published with
# `ready: false` and kube-proxy routes nothing to it until a second slice update turns it ready.

# %% slideshow={"slide_type": "subslide"}
print(diagram.mermaid())

# %% [markdown] slideshow={"slide_type": "notes"}
# > **Presenter note:** The diagram is laid out by the helper itself, so it looks the same with or without
# > Graphviz; `diagram.dot()` and `diagram.mermaid()` give the source for other tools.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 3. Where does the time go?
#
# The first event of each step, read from the trace:

# %% slideshow={"slide_type": "-"}
steps = {  # step -> rows of the trace that mark it
    "kubectl apply": "kind == 'User'",
    "Deployment stored": "kind == 'Deployment' and type == 'ADDED'",
    "ReplicaSet created": "kind == 'ReplicaSet' and type == 'ADDED'",
    "Pod created": "kind == 'Pod' and type == 'ADDED'",
    "Pod scheduled": "kind == 'Pod' and summary.str.contains('nodeName=')",
    "Pod has an IP": "kind == 'Pod' and summary.str.contains('podIP=')",
    "Pod Ready": "kind == 'Pod' and summary.str.contains('ready .*→True', regex=True)",
    "slice: endpoint ready": "kind == 'EndpointSlice' and summary.str.contains('ready 0→1')",
    "Endpoints: address ready": "kind == 'Endpoints' and summary.str.contains('ready 0→1')",
}
breakdown = pd.DataFrame({"t": {step: events.query(rows, engine="python")["t"].min()
                                for step, rows in steps.items()}}).dropna()
# The first kube-proxy sync from the ready slice write on (kind logs syncs only at -v=2).
syncs = events.loc[events["actor"].str.startswith("kube-proxy"), "t"]
if "slice: endpoint ready" in breakdown.index:
    routed = syncs[syncs >= breakdown.loc["slice: endpoint ready", "t"] - 0.01]
    if len(routed):
        breakdown.loc["kube-proxy routes to it (first node)"] = routed.min()
breakdown = breakdown.sort_values("t")
breakdown["since previous step (s)"] = breakdown["t"].diff().round(3)
on_node = breakdown.loc["Pod Ready", "t"] - breakdown.loc["Pod scheduled", "t"]
print(f"on the node (scheduled → Ready): {on_node:.2f} s of {breakdown['t'].max() - breakdown['t'].min():.2f} s")
assert breakdown.loc["Pod has an IP", "t"] == breakdown.loc["Pod Ready", "t"], "IP and Ready: one write"
breakdown

# %% [markdown] slideshow={"slide_type": "subslide"}
# On the simulator each row's `t` is when the write was committed (it remembers; `Trace.stop()` asks),
# and kube-proxy rows come from its log, so the order is exact. On kind, `t` is when *our* watches
# received each event: a few milliseconds late, and separate watch streams can deliver writes made
# within the same millisecond in either order, so there read differences below ~0.01 s as "at the same
# time" (a kube-proxy row, stamped from its log, can even come before the write that caused it).
#
# **What it shows:** most of the time is spent on the node — creating the sandbox, pulling the image,
# starting the container, and waiting for the kubelet's next relist to report it. `Pod has an IP` and
# `Pod Ready` have the same `t`: they are one status write. The control-plane hops (controllers, scheduler,
# EndpointSlice controller) each take milliseconds. The last row is the first kube-proxy sync from
# `slice: endpoint ready` on (allowing ~0.01 s for kind's receive times): the one that sends traffic to the
# pod. It comes at once, or up to a second later when `minSyncPeriod` holds it back (see below).
#
# **Why it matters:** when an endpoint is "slow to appear", look at the pod first; the slice follows
# within a moment of `Ready`. Two delays in the path are deliberate. The controllers can batch pod
# changes (`--endpointslice-updates-batch-period` for slices, `--endpoint-updates-batch-period` for
# Endpoints, both 0 by default), trading latency for fewer writes. kube-proxy starts a sync no sooner
# than `minSyncPeriod` (1 s by default) after the previous one *finished*, so a change that arrives
# right after a sync waits up to a second.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 4. The trigger time
#
# The slice carries an annotation saying *when the change it publishes happened*:

# %% slideshow={"slide_type": "-"}
TRIGGER = kube.ANNOTATION_TRIGGER_TIME
web_slice = h.list_objects("endpointslices", ns.name, selector=f"{kube.LABEL_SERVICE_NAME}=web")[0]
pod = h.list_objects("pods", ns.name, selector="app=web")[0]
ready_condition = kube.get_condition(pod, "Ready")
pd.Series({
    "slice annotation last-change-trigger-time": (web_slice["metadata"].get("annotations") or {}).get(
        TRIGGER, "(absent)"),
    "pod Ready lastTransitionTime": ready_condition["lastTransitionTime"],
    "Service creationTimestamp": h.get("svc", "web", ns.name)["metadata"]["creationTimestamp"],
}).to_frame("value")

# %% [markdown] slideshow={"slide_type": "fragment"}
# **What it shows:** usually, the annotation equals the pod's `Ready` transition time. On each sync
# the controller stamps the slices it writes with the *earliest* pod change it is publishing — a pod
# whose `Ready` condition has a newer `lastTransitionTime` than last time — or, on a Service's first
# sync, the Service's creation time (`staging/src/k8s.io/endpointslice/util/trigger_time_tracker.go`).
#
# API timestamps have one-second resolution. If the pod turned Ready within the same second as its
# `Ready` condition's previous transition (to False, when the pod started), the controller cannot tell
# that anything is newer: it publishes the endpoint **without** a trigger time and removes the
# annotation. That is upstream behaviour, not a glitch of this cluster; a fast pod start on the
# simulator makes it easy to hit.
#
# **Why it matters:** kube-proxy subtracts the trigger time from the moment it has programmed the
# node's rules and exports the difference as `kubeproxy_network_programming_duration_seconds` — the
# *network programming latency* SLI, from "the pod's readiness changed" to "this node's rules reflect
# it" (a pod turning not ready is measured the same way). The annotation carries the start of the
# change along with the data, so every node measures its own delay; without the annotation, the node
# simply records no sample for that change.

# %% slideshow={"slide_type": "subslide"}
pod_ip = pod["status"]["podIP"]
rules = {node: pod_ip in h.node_rules(node) for node in h.nodes_table()["name"]}
pd.Series(rules, name=f"{pod_ip} in the node's kube-proxy rules").to_frame()

# %% [markdown] slideshow={"slide_type": "fragment"}
# **What it shows:** every node's rules now contain the pod's IP — including nodes that do not run the
# pod. On kind this runs `docker exec <node> iptables-save` (a live-only step: it needs Docker); on the
# simulator it reads the modelled kube-proxy's rules. Chapter 07 reads those rules line by line.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Exercise 1: a second pod, and where its trigger time comes from
#
# Scale `web` to 2. Predict first: which change will the slice's trigger time point at: `"new pod"`
# (the second pod becoming Ready), `"first pod"` or `"Service"` (its creation)? Record it in
# `prediction_trigger`. Done when the slice lists 2 ready endpoints; the verify cell compares the
# trigger time with each of those changes.

# %% slideshow={"slide_type": "-"}
prediction_trigger = None  # your turn: "new pod", "first pod" or "Service"
# ... then scale web

# %% slideshow={"slide_type": "skip"} tags=["solution"] jupyter={"source_hidden": true}
# Solution: expand this cell to compare it with yours.
prediction_trigger = "new pod"  # after the first sync, the earliest pod change the write publishes
h.scale("web", 2, ns.name)
slices = h.wait_for_slices(ns.name, "web", endpoints=2, ready=2)

# %% slideshow={"slide_type": "-"} tags=["verify"]
web_slices = h.list_objects("endpointslices", ns.name, selector=f"{kube.LABEL_SERVICE_NAME}=web")
ready = sum(bool(e["conditions"].get("ready")) for s in web_slices for e in s.get("endpoints") or [])
assert ready == 2, f"{ready} ready endpoints, expected 2. Hint: change the Deployment, then wait for the slice."
assert prediction_trigger in ("new pod", "first pod", "Service"), (
    'Record "new pod", "first pod" or "Service" in `prediction_trigger` first.')
changes = {"first pod" if p["metadata"]["name"] == pod["metadata"]["name"] else "new pod":
           kube.get_condition(p, "Ready")["lastTransitionTime"] for p in h.list_objects("pods", ns.name, selector="app=web")}
changes["Service"] = h.get("svc", "web", ns.name)["metadata"]["creationTimestamp"]
trigger = (web_slices[0]["metadata"].get("annotations") or {}).get(TRIGGER)
matching = [change for change, at in changes.items() if at == trigger]
assert trigger is None or matching, f"trigger time {trigger} matches no pod or Service change: {changes}"
print(f"You predicted {prediction_trigger!r}; the trigger time {trigger or '(absent)'} matches {matching or 'no change'}"
      f"{' — right.' if prediction_trigger in matching else ' — the controller stamps the earliest change it publishes.'}")
print("✓ 2 ready endpoints;", f"trigger time {trigger}" if trigger else
      "trigger time absent (the second pod became Ready within a second of its previous change)")

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Exercise 2: readiness you control
#
# Create a Deployment `gated` with 1 replica and `readiness_gate=True`, and a Service `gated`. Its pod
# runs but stays not ready until its readiness gate is set: call `h.set_ready(<pod>)`. Predict first:
# before you set the gate, is the pod's endpoint in the slice already, and if so with `ready` true or
# false? Record `True`, `False` or `None` (not listed yet) in `prediction_ready_before`, and keep the
# slices you saw before setting the gate in `before_gate` (what `h.wait_for_slices` returns). Done when
# the slice of `gated` lists 1 ready endpoint.

# %% slideshow={"slide_type": "-"}
prediction_ready_before = None  # your turn: True, False or None
# ... then create gated, keep before_gate = h.wait_for_slices(...), and set the gate

# %% slideshow={"slide_type": "skip"} tags=["solution"] jupyter={"source_hidden": true}
# Solution: expand this cell to compare it with yours.
prediction_ready_before = False  # the kubelet reports the IP once the container runs; the gate holds Ready back
h.apply(h.deployment("gated", replicas=1, readiness_gate=True), h.service("gated"), namespace=ns.name)
before_gate = h.wait_for_slices(ns.name, "gated", endpoints=1)
h.set_ready(h.list_objects("pods", ns.name, selector="app=gated"), True, ns.name)
slices = h.wait_for_slices(ns.name, "gated", endpoints=1, ready=1)

# %% slideshow={"slide_type": "-"} tags=["verify"]
gated = h.slices_table(ns.name, service="gated")
assert not gated.empty and gated["ready"].eq(True).sum() == 1, (
    "No ready endpoint for 'gated'. Hint: the pod's IP appears first as not ready; "
    "what does its readiness gate wait for?")
assert prediction_ready_before in (True, False, None), "Record True, False or None in `prediction_ready_before`."
assert "before_gate" in dir(), "Keep what h.wait_for_slices returned before you set the gate in `before_gate`."
listed = [e["conditions"].get("ready") for s in before_gate for e in s.get("endpoints") or []]
ready_before = listed[0] if listed else None
print(f"You predicted {prediction_ready_before}; before the gate the endpoint was "
      f"{'not listed' if ready_before is None else f'listed with ready={ready_before}'}"
      f"{' — right.' if prediction_ready_before == ready_before else ' — the IP comes with the running container.'}")
print("✓ The gate flipped the pod's Ready condition, and the controller published it.")

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Cleanup

# %% slideshow={"slide_type": "-"} tags=["cleanup"]
ns.cleanup()

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Summary
#
# - apply → Deployment controller → ReplicaSet controller → scheduler → kubelet → EndpointSlice
#   controller → kube-proxy on every node; each hop is a watch that fires on the previous write
#   (kube-proxy writes only its node's rules, not to the API server).
# - The kubelet reports the pod's IP with the status after its containers started, so a pod without
#   probes or readiness gates appears in the slice already ready; a readiness probe or gate that has not
#   passed yet makes it appear as not ready first.
# - Most of the latency is on the node (image, start, readiness); the control-plane hops are fast, and
#   kube-proxy's `minSyncPeriod` can add up to a second.
# - `endpoints.kubernetes.io/last-change-trigger-time` carries the time of the change to every node,
#   which measures its network programming latency from it.

# %% [markdown] slideshow={"slide_type": "subslide"}
# ## What's next
#
# [05 · Endpoint vs Pod](05-endpoint-vs-pod.ipynb): an endpoint is not the same thing as a pod —
# terminating pods, not-ready pods, host-network pods and endpoints that are not pods at all.
