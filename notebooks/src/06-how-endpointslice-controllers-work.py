# %% [markdown] slideshow={"slide_type": "slide"}
# # 06 · How do the EndpointSlice controllers work?
#
# Chapters 01–05 looked at what ends up in a slice. This chapter opens the box that writes them: the
# EndpointSlice controller's **reconciler**, which turns "these pods match this Service" into a handful of
# API writes, and tries hard to keep that handful small. We watch it decide, replay its packing rules on
# 300 pods, meet its sibling the **mirroring** controller, and reproduce a real bug: a node that vanishes
# while its pods remain (kubernetes/kubernetes#107927), then see how it splits a dual-stack Service by family.

# %% [markdown] slideshow={"slide_type": "notes"}
# > **Presenter note:** The one idea to leave the room with: the controller optimises for *few writes*, not for tidy slices.
# > Every write is broadcast to every node's kube-proxy, so a lopsided set of slices is the cheaper outcome.

# %% [markdown] slideshow={"slide_type": "subslide"}
# ## Learning objectives
#
# After this chapter you can:
# 1. *explain* what one reconciler sync does: desired endpoints, keep/replace/remove per slice, fill,
#    create, then creates → updates → deletes;
# 2. *predict* the writes of a change, including why 300 pods can sit in 4 slices and why a port change
#    repacks them for free;
# 3. *tell* the controllers apart by the `endpointslice.kubernetes.io/managed-by` label, and hand-write a
#    slice that no controller touches;
# 4. *reproduce* kubernetes/kubernetes#107927 and describe what changed in v1.25;
# 5. *explain* the guards against a stale cache (section 5), and why a dual-stack Service has one set of
#    slices and one placeholder per family while its Endpoints object carries only the primary family.

# %% [markdown] slideshow={"slide_type": "subslide"}
# ## Prerequisites
#
# | Concept | Importance | Notes |
# |---|---|---|
# | [02 · When are slices made?](02-when-slices-are-made.ipynb) | Necessary | placeholder slice, `maxEndpointsPerSlice` |
# | [05 · Endpoint vs Pod](05-endpoint-vs-pod.ipynb) | Necessary | endpoint conditions, mirrored Endpoints |
# | Controllers and reconciliation | Helpful | [Controllers](https://kubernetes.io/docs/concepts/architecture/controller/) |
# | EndpointSlice docs | Helpful | [Distribution of EndpointSlices](https://kubernetes.io/docs/concepts/services-networking/endpoint-slices/#distribution-of-endpointslices) |
#
# **Time to complete:** about 30 minutes

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Which cluster am I on?
#
# | On kind | On the simulator |
# |---|---|
# | kube-controller-manager runs the real controller; its reasoning is only in its code | the simulated controller records an explanation for every sync (`h.reconciler_decisions`) |
# | the controller is v1.25+, so only the fixed #107927 behaviour exists | the pre-1.25 behaviour can be switched on for one section, then back |
# | single-stack IPv4 (kind's default): `RequireDualStack` is refused | single-stack IPv4 too; section 6 prints whether its API server refuses `RequireDualStack` |
#
# The reconciler itself is also available as a pure function (`reconcile(...)` in
# `helpers/controlplane/endpointslice/reconciler.py`, a port of upstream's
# `staging/src/k8s.io/endpointslice/reconciler.go`). It takes plain dicts and writes nothing, so the
# sections that use it work the same on both backends.

# %% slideshow={"slide_type": "-"} tags=["cluster-check"]
import itertools
import json

import pandas as pd
from IPython.display import display

import helpers as h
from helpers import kube
from helpers.controlplane.endpoint import plan_endpoints
from helpers.controlplane.endpointslice.reconciler import reconcile

cluster = h.connect()
ns = h.sandbox("ch06")
nodes = h.nodes_table()
assert nodes["ready"].all(), "Not every node is Ready: wait a minute (kind) or restart the simulator."
print(f"{len(nodes)} nodes, all Ready; sandbox namespace: {ns.name}")

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 1. One sync, explained
#
# The controller handles one Service at a time ("sync"). It lists the pods matching the selector, the
# slices labelled `kubernetes.io/service-name=<svc>` **and** managed by itself, and the Nodes (for zones),
# then computes the writes. Start a Service with three pods:

# %% slideshow={"slide_type": "-"}
h.apply(h.deployment("web", replicas=3), h.service("web"), namespace=ns.name)
h.wait_for_slices(ns.name, "web", endpoints=3, ready=3)
h.kubectl("get", "endpointslices", "-n", ns.name, "--show-labels")

# %% [markdown] slideshow={"slide_type": "fragment"}
# **What it shows:** one slice with the labels the controller looks it up by: `service-name=web` and
# `endpointslice.kubernetes.io/managed-by=endpointslice-controller.k8s.io`.
#
# Now ask the reconciler what it would do **right now**, with the cluster's own objects as input:

# %% slideshow={"slide_type": "-"}
def inputs(service_name):
    """What the controller lists for one sync: Service, matching pods, its own slices, Nodes."""
    svc = h.get("svc", service_name, ns.name)
    selector = ",".join(f"{k}={v}" for k, v in svc["spec"]["selector"].items())
    own = f"kubernetes.io/service-name={service_name},endpointslice.kubernetes.io/managed-by=endpointslice-controller.k8s.io"
    return {"service": svc, "pods": h.list_objects("pods", ns.name, selector=selector),
            "existing_slices": h.list_objects("endpointslices", ns.name, selector=own),
            "nodes": h.list_objects("nodes")}


now = inputs("web")
result = reconcile(**now)
result.writes, result.explanations

# %% [markdown] slideshow={"slide_type": "fragment"}
# **What it shows:** zero writes — the slice already matches. A sync that finds nothing to do makes no
# API write, which is why informer resyncs are harmless. Now hand it a world where one pod became unready
# and a fourth pod appeared (we edit the dicts, not the cluster):

# %% slideshow={"slide_type": "-"}
pods = [json.loads(json.dumps(p)) for p in now["pods"]]
for cond in pods[0]["status"]["conditions"]:
    if cond["type"] == "Ready":
        cond["status"] = "False"
newcomer = json.loads(json.dumps(pods[1]))
newcomer["metadata"].update(name="web-newcomer", uid="uid-newcomer")
newcomer["status"]["podIP"] = newcomer["status"]["podIPs"][0]["ip"] = "10.244.1.250"
result = reconcile(**{**now, "pods": pods + [newcomer]})
print(result.writes)
print("\n".join(result.explanations))

# %% [markdown] slideshow={"slide_type": "fragment"}
# **What it shows:** both changes land in **one update** of the existing slice: the unready pod is
# replaced in place (an endpoint's identity is its addresses, hostname and pod — conditions are not part
# of it), and the newcomer goes into the slice that is being written anyway.
#
# **Why it matters:** every slice write is sent to every kube-proxy in the cluster. Upstream's reconciler
# (`reconcileByPortMapping` in `staging/src/k8s.io/endpointslice/reconciler.go`) is built around this cost.

# %% [markdown] slideshow={"slide_type": "notes"}
# > **Presenter note:** Walk the steps: (1) keep/replace/remove per existing slice, (2) top up slices already marked for
# > update, fullest first, (3) one unchanged slice that can take *all* the rest, else new slices, (4)
# > recycle creates into deletes, then write creates → updates → deletes.

# %% [markdown] slideshow={"slide_type": "subslide"}
# On the simulator the controller records the same explanations for every real sync of `web`:

# %% slideshow={"slide_type": "-"}
if cluster.is_sim:
    decisions = h.reconciler_decisions(ns.name, "web")
    display(decisions.assign(explanations=decisions["explanations"].str.join(" / "))[["time", "writes", "explanations"]])
    writes = decisions["writes"].tolist()
    updates = sum(w["update"] for w in writes)
    turned_ready = decisions["explanations"].str.join(" ").str.contains("became ready").sum()
    print(f"{writes[0]['create']} create (the placeholder), then {updates} update(s) for 3 pods; "
          f"syncs that turned an existing endpoint ready: {turned_ready}")
    assert writes[0]["create"] == 1 and 1 <= updates <= 3 and turned_ready == 0, decisions
else:
    print("kind: the real controller keeps no decision log; h.Trace shows its writes, section 1's "
          "reconcile(...) shows its reasoning.")

# %% [markdown] slideshow={"slide_type": "fragment"}
# **What it shows:** the first sync created the slice as a placeholder (no pod had an IP yet); each later
# sync added endpoints that were **already ready**, and none turned an endpoint ready: the kubelet reports
# a pod's IP in the same status write as `Ready` (chapter 04), so the controller never saw these pods
# with an IP but not ready. There is at most one update per pod, fewer when pods became ready close
# enough together to share a sync. With the default `--endpointslice-updates-batch-period` of 0 each
# sync publishes what the pods looked like when it ran; a longer batch period folds the pod changes that
# arrive within it into one sync and one write. Pods with a readiness probe or gate would add a second
# round of updates: first the endpoint as not ready, then ready.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 2. Churn minimisation: 300 pods in 4 slices
#
# Packing rules show up at scale. Rather than start 300 pods, feed the pure reconciler 300 pod dicts
# (`maxEndpointsPerSlice` 100) and apply each result the way the API would. The two helpers below are
# only glue: a pod dict with the fields the controller reads, and "apply the writes".

# %% slideshow={"slide_type": "-"}
demo_svc = h.service("demo", ipFamilies=["IPv4"], clusterIP="10.96.200.1")
demo_svc["metadata"].update(namespace="demo", uid="uid-demo")
demo_nodes = [{"metadata": {"name": "node-1", "labels": {kube.LABEL_ZONE: "zone-a"}}}]


def fake_pods(numbers, ready=True):
    """Running pods pod<n> on node-1 with an IP, as the API serves them."""
    return [{"metadata": {"name": f"pod{n}", "namespace": "demo", "uid": f"uid-{n}", "labels": {"app": "demo"}},
             "spec": {"nodeName": "node-1", "containers": [{"name": "c"}]},
             "status": {"phase": "Running", "podIP": f"10.0.{n // 200}.{n % 200 + 1}",
                        "conditions": [{"type": "Ready", "status": str(ready)}]}} for n in numbers]


slice_names = itertools.count(1)


def sync(service, pods, slices, endpoints_obj):
    """One reconcile of slices and of the Endpoints object; returns the new state and a row of costs."""
    result = reconcile(service=service, pods=pods, nodes=demo_nodes, existing_slices=slices)
    for s in result.creates:
        s["metadata"]["name"] = f"demo-{next(slice_names)}"
    after = {s["metadata"]["name"]: s for s in slices}
    after.update({s["metadata"]["name"]: s for s in result.creates + result.updates})
    for s in result.deletes:
        after.pop(s["metadata"]["name"])
    plan = plan_endpoints(service, pods, endpoints_obj)
    row = {"slice_writes": sum(result.writes.values()), **result.writes,
           "slice_bytes": sum(len(json.dumps(s)) for s in result.creates + result.updates),
           "endpoints_writes": int(plan.action is not None),
           "endpoints_bytes": len(json.dumps(plan.endpoints)) if plan.action else 0,
           "sizes": sorted(len(s["endpoints"]) for s in after.values()),
           "desired_slices": result.desired_slices}
    return list(after.values()), plan.endpoints, row


rows = []
slices, ep_obj, row = sync(demo_svc, fake_pods(range(300)), [], None)
rows.append({"change": "300 pods appear", **row})
pd.DataFrame(rows).set_index("change")

# %% [markdown] slideshow={"slide_type": "fragment"}
# **What it shows:** 3 creates of 100 each, the obvious packing. Now scale down to 148 pods — the pods
# that go happen to be 26 from the first slice, 26 from the second and all of the third — and back up to 300:

# %% slideshow={"slide_type": "-"}
members = [[ep["targetRef"]["name"] for ep in s["endpoints"]] for s in slices]
leaving = set(members[0][:26] + members[1][:26] + members[2])
remaining = [p for p in fake_pods(range(300)) if p["metadata"]["name"] not in leaving]
slices, ep_obj, row = sync(demo_svc, remaining, slices, ep_obj)
rows.append({"change": "scale down to 148", **row})
grown = remaining + fake_pods(range(300, 452))
slices, ep_obj, row = sync(demo_svc, grown, slices, ep_obj)
rows.append({"change": "scale up to 300", **row})
pd.DataFrame(rows).set_index("change")

# %% [markdown] slideshow={"slide_type": "fragment"}
# **What it shows:** after the way back up the Service has **4 slices of 74/74/100/52** although 3 would
# do (`desired_slices` 3). Of the 152 newcomers, 100 filled a new slice; the other 52 fit in neither
# 74-endpoint slice (an untouched slice is only used if it can take *all* the remaining endpoints), so they
# got a second new slice. That is **2 writes, where a tidy 100/100/100 would have cost 3** (two updates
# topping up the 74s, plus one create). This is upstream's
# `TestReconcileEndpointSlicesSomePreexistingWorseAllocation`. The controller **never rebalances** on its own.

# %% [markdown] slideshow={"slide_type": "notes"}
# > **Presenter note:** Ask the room to predict the next two rows before running them: one pod flips unready (1 update),
# > then a targetPort change (every slice must be rewritten anyway, so it repacks them: 3 updates, 1 delete).

# %% [markdown] slideshow={"slide_type": "subslide"}
# Two more changes: one pod becomes unready, then the Service's `targetPort` changes from 80 to 8080.

# %% slideshow={"slide_type": "-"}
unready = fake_pods([451], ready=False) + [p for p in grown if p["metadata"]["name"] != "pod451"]
slices, ep_obj, row = sync(demo_svc, unready, slices, ep_obj)
rows.append({"change": "1 pod unready", **row})
new_port = json.loads(json.dumps(demo_svc))
new_port["spec"]["ports"][0]["targetPort"] = 8080
slices, ep_obj, row = sync(new_port, unready, slices, ep_obj)
rows.append({"change": "targetPort 80→8080", **row})
churn = pd.DataFrame(rows).set_index("change")
churn

# %% [markdown] slideshow={"slide_type": "fragment"}
# **What it shows:** a readiness flip is one update of the slice that holds the pod, a fraction of the
# bytes of the Endpoints object, which carries all 300 addresses every time. A port change puts every
# endpoint in a new port group, so all slices must be rewritten anyway — and that is the one moment the
# controller **repacks for free**: pending creates are recycled into updates of slices about to be
# deleted, leaving 3 full slices with 3 updates and 1 delete (upstream `TestReconcileEndpointSlicesRecycling`).

# %% slideshow={"slide_type": "subslide"}
h.plot_writes_per_change(churn.reset_index())

# %% [markdown] slideshow={"slide_type": "fragment"}
# **Why it matters:** the Endpoints controller rewrites its single object — all 300 addresses — on every
# change; the slice controller rewrites only the slices that changed, each capped at 100 endpoints. Compare
# the byte columns above: for a one-pod change (`1 pod unready`) the slice write is about a third of the
# Endpoints write, and that gap grows with the Service. Changes that touch every endpoint (creation, the port
# change) cost slices as many bytes or more, because a slice endpoint carries more fields. The per-change
# gap, multiplied by the number of nodes watching, is the KEP-752 argument from chapter 02.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 3. Who manages a slice? The mirroring controller and `managed-by`
#
# Three producers write EndpointSlices: the EndpointSlice controller (selector Services), the
# **EndpointSliceMirroring** controller (selectorless Services whose Endpoints object someone wrote by
# hand), and anyone else. They keep out of each other's way with one label,
# `endpointslice.kubernetes.io/managed-by`. A selectorless Service with a hand-written Endpoints object:

# %% slideshow={"slide_type": "-"}
legacy_svc = h.service("legacy")
del legacy_svc["spec"]["selector"]  # selectorless: no controller computes its endpoints
legacy_endpoints = {"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "legacy"},
                    "subsets": [{"addresses": [{"ip": "192.0.2.10"}, {"ip": "192.0.2.11"}],
                                 "ports": [{"name": "http", "port": 80}]}]}
h.apply(legacy_svc, legacy_endpoints, namespace=ns.name)
h.wait_for_slices(ns.name, "legacy", endpoints=2)
h.kubectl("get", "endpointslices", "-n", ns.name, "-L", kube.LABEL_MANAGED_BY)

# %% [markdown] slideshow={"slide_type": "fragment"}
# **What it shows:** the `legacy` slice says `endpointslicemirroring-controller.k8s.io`; `web`'s says
# `endpointslice-controller.k8s.io`. The mirroring controller maps each subset to one slice per address
# family (at most 1000 addresses per subset by default), creates no placeholder, and packs nothing
# (upstream `pkg/controller/endpointslicemirroring`). Chapter 05 met it;
# here is how to switch it off for one object — the label `endpointslice.kubernetes.io/skip-mirror`:

# %% slideshow={"slide_type": "-"}
h.label("endpoints", "legacy", {kube.LABEL_SKIP_MIRROR: "true"}, ns.name)
h.wait_for("endpointslices", lambda slices: not slices, namespace=ns.name,
           selector=f"{kube.LABEL_SERVICE_NAME}=legacy", what="the mirrored slice to go")
h.kubectl("get", "endpointslices", "-n", ns.name, "-L", kube.LABEL_MANAGED_BY)

# %% [markdown] slideshow={"slide_type": "fragment"}
# **What it shows:** the mirrored slice is deleted; the Endpoints object stays. The same happens when the
# Service gains a selector — then the EndpointSlice controller takes over.
#
# **Why it matters:** each controller lists only slices with *its* managed-by value, so a slice with any
# other value — your own, or a service mesh's — is never adopted, rewritten or deleted. Exercise 1 uses that.

# %% [markdown] slideshow={"slide_type": "notes"}
# > **Presenter note:** Endpoints is deprecated since 1.33 (the API server warns on every access) — the mirroring controller is
# > the bridge that keeps old hand-written Endpoints objects working for consumers that only read slices.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 4. A node disappears while its pods remain (kubernetes/kubernetes#107927)
#
# The controller reads each pod's Node only to copy its zone into the endpoint. Before v1.25 a failed
# Node lookup was fatal for the **whole Service**: one pod whose Node was gone (deleted, or not yet seen)
# froze every slice of that Service — new pods were not published, dead ones not removed — while the
# Service cycled through backoff. PR #110639 (v1.25) leaves such a pod out, writes the rest, and retries
# (a Service with `publishNotReadyAddresses: true` keeps the pod, without a zone, and raises no error).
#
# First the pure reconciler, both behaviours side by side: a pod on `endpoints-gone`, which is not in the
# Node list.

# %% slideshow={"slide_type": "-"}
now = inputs("web")
orphan = json.loads(json.dumps(now["pods"][0]))
orphan["metadata"].update(name="orphan", uid="uid-orphan")
orphan["spec"]["nodeName"] = "endpoints-gone"
orphan["status"]["podIP"] = orphan["status"]["podIPs"][0]["ip"] = "10.244.9.9"
extra = json.loads(json.dumps(now["pods"][1]))
extra["metadata"].update(name="web-new", uid="uid-web-new")
extra["status"]["podIP"] = extra["status"]["podIPs"][0]["ip"] = "10.244.1.251"
pd.DataFrame([{"behaviour": behaviour, **r.writes, "error": r.error, "explanation": " / ".join(r.explanations)}
              for behaviour in ("pre-1.25", "current")
              for r in [reconcile(**{**now, "pods": now["pods"] + [orphan, extra]}, missing_node_behavior=behaviour)]])

# %% [markdown] slideshow={"slide_type": "fragment"}
# **What it shows:** pre-1.25, no writes at all — `web-new` stays unpublished — because the sync failed
# with `node "endpoints-gone" not found`. Since v1.25 the slice is updated with `web-new`, the orphan is
# skipped, and the error remains so the Service is requeued until every pod's Node exists.

# %% [markdown] slideshow={"slide_type": "subslide"}
# Now on the cluster. An orphan is a pod bound to a Node that does not exist; we make one by binding a pod
# to `endpoints-gone` and writing its status ourselves (no kubelet will, and PodGC deletes such pods after
# a 40 s quarantine — on kind it may vanish during this section). On the **simulator** we first switch the
# controller to the pre-1.25 behaviour and scale `web` up:

# %% slideshow={"slide_type": "-"}
if cluster.is_sim:
    h.set_missing_node_behavior("pre-1.25")
h.apply({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "orphan", "labels": {"app": "web"}},
         "spec": {"nodeName": "endpoints-gone", "containers": [{"name": "c", "image": "registry.k8s.io/pause:3.10"}]}},
        namespace=ns.name)
h.patch_status("pods", "orphan", ns.name, {"status": {"phase": "Running", "podIP": "10.244.9.9", "podIPs": [{"ip": "10.244.9.9"}],
                                                  "conditions": [{"type": "Ready", "status": "True"}]}})
if cluster.is_sim:
    h.scale("web", 4, ns.name)
    h.wait_for_ready(ns.name, "app=web", count=5)
    h.advance(2)  # let the controller retry once
    display(h.slices_table(ns.name, service="web")[["address", "ready", "node", "targetRef"]])
    print(h.kubectl("get", "events", "-n", ns.name, "--field-selector", "reason=FailedToUpdateEndpointSlices"))
else:
    print("kind runs a v1.25+ controller: the pre-1.25 freeze cannot be shown here (see the reconcile table above).")

# %% [markdown] slideshow={"slide_type": "fragment"}
# **What it shows (simulator):** 5 Ready pods match `web`, the slice still lists the first 3 — frozen —
# and the Service collects `FailedToUpdateEndpointSlices` warnings. Switch to the fixed behaviour:

# %% slideshow={"slide_type": "subslide"}
if cluster.is_sim:
    h.set_missing_node_behavior("current")
    h.advance(30)  # the next backoff retry runs the fixed code
h.scale("web", 4, ns.name)
h.wait_for_slices(ns.name, "web", endpoints=4, ready=4)
display(h.slices_table(ns.name, service="web")[["address", "ready", "node", "targetRef"]])
h.kubectl("get", "events", "-n", ns.name, "--field-selector", "reason=FailedToUpdateEndpointSlices")

# %% [markdown] slideshow={"slide_type": "fragment"}
# **What it shows:** the four `web` pods are published; the orphan is left out, and the newest warning
# reads `skipping Pod orphan ... Node endpoints-gone Not Found`: the controller keeps retrying in case the
# Node appears. **Why it matters:** a Node deleted before its pods (autoscalers, `kubectl delete node`) used
# to stall a whole Service for minutes; since v1.25 it costs only the orphaned endpoints.

# %% [markdown] slideshow={"slide_type": "notes"}
# > **Presenter note:** Stress the asymmetry: an *unreachable* node (chapter 09) keeps its Node object, so it never triggers
# > this bug — its endpoints just go not-ready. Only a *deleted* Node with surviving pods does.

# %% slideshow={"slide_type": "-"}
h.kubectl("delete", "pod", "orphan", "-n", ns.name, "--grace-period=0", "--force", "--ignore-not-found")

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Exercise 1: a slice no controller touches
#
# Publish an extra endpoint `192.0.2.50` for Service `web` with a hand-written EndpointSlice named
# `web-external`: label it `kubernetes.io/service-name: web` and give it your own
# `endpointslice.kubernetes.io/managed-by` value (e.g. `staff.example.com`). Done when the slice exists
# next to the controller's, and the controller has left it alone. (In a shared cluster, writing slices
# is a privilege for this reason: any address you publish is trusted by every reader, CVE-2021-25740;
# chapter 11.) Predict first: will kube-proxy on `endpoints-worker` send `web`'s traffic to `192.0.2.50`
# too? Record `True` or `False` in `prediction_routed`.

# %% slideshow={"slide_type": "-"}
prediction_routed = None  # your turn: True or False
# ... then apply your slice

# %% slideshow={"slide_type": "skip"} tags=["solution"] jupyter={"source_hidden": true}
# Solution: expand this cell to compare it with yours.
prediction_routed = True  # kube-proxy merges every slice labelled with the Service's name, whoever manages it
external = h.apply({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "addressType": "IPv4",
         "metadata": {"name": "web-external", "labels": {kube.LABEL_SERVICE_NAME: "web",
                                                          kube.LABEL_MANAGED_BY: "staff.example.com"}},
         "ports": [{"name": "http", "port": 80, "protocol": "TCP"}],
         "endpoints": [{"addresses": ["192.0.2.50"], "conditions": {"ready": True}}]}, namespace=ns.name)

# %% slideshow={"slide_type": "-"} tags=["verify"]
web_slices = h.list_objects("endpointslices", ns.name, selector=f"{kube.LABEL_SERVICE_NAME}=web")
managers = {s["metadata"]["name"]: s["metadata"]["labels"].get(kube.LABEL_MANAGED_BY) for s in web_slices}
mine = [s for s in web_slices if managers[s["metadata"]["name"]] not in ("endpointslice-controller.k8s.io", None)]
assert mine, ("No slice for `web` with your own managed-by value yet. Hint: apply an EndpointSlice with labels "
              "kubernetes.io/service-name=web and endpointslice.kubernetes.io/managed-by=staff.example.com.")
assert any("192.0.2.50" in ep["addresses"] for s in mine for ep in s.get("endpoints") or []), (
    "Your slice does not list 192.0.2.50. Hint: look at the endpoints list of your slice.")
assert "endpointslice-controller.k8s.io" in managers.values(), "The controller's own slice for `web` is gone?"
assert prediction_routed in (True, False), "Record True or False in `prediction_routed` first."
routed = "--to-destination 192.0.2.50:80" in h.wait_for_rules("endpoints-worker", "192.0.2.50")
print(f"You predicted {prediction_routed}; endpoints-worker {'routes' if routed else 'does not route'} web's traffic "
      f"to 192.0.2.50{' — right.' if prediction_routed == routed else ' — kube-proxy reads slices by Service name only.'}")
print(f"✓ {len(web_slices)} slices for web: {managers}. The controller ignored yours; kube-proxy merged both.")

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Exercise 2: a port change, in place
#
# Change Service `web` so that its port 80 targets container port **8080**. Predict first: how many
# controller-managed slices will `web` have afterwards, and will their names change? Record a number in
# `prediction_count` and `True` (same names) or `False` in `prediction_same_names`. Done when the
# controller's slices for `web` carry port 8080.

# %% slideshow={"slide_type": "-"}
OWN_WEB = f"{kube.LABEL_SERVICE_NAME}=web,{kube.LABEL_MANAGED_BY}=endpointslice-controller.k8s.io"
names_before = {s["metadata"]["name"] for s in h.list_objects("endpointslices", ns.name, selector=OWN_WEB)}
prediction_count = None  # your turn: a number of slices
prediction_same_names = None  # your turn: True or False
# ... then change the port

# %% slideshow={"slide_type": "skip"} tags=["solution"] jupyter={"source_hidden": true}
# Solution: expand this cell to compare it with yours.
prediction_count, prediction_same_names = 1, True  # a port change recycles the create into an update
h.apply(h.service("web", ports=((80, 8080),)), namespace=ns.name)
found = h.wait_for("endpointslices", lambda slices: slices and all(p["port"] == 8080 for s in slices for p in s.get("ports") or []),
                   namespace=ns.name, selector="kubernetes.io/service-name=web,endpointslice.kubernetes.io/managed-by=endpointslice-controller.k8s.io",
                   what="web's slices on port 8080")

# %% slideshow={"slide_type": "-"} tags=["verify"]
own = h.list_objects("endpointslices", ns.name, selector="kubernetes.io/service-name=web,"
                     "endpointslice.kubernetes.io/managed-by=endpointslice-controller.k8s.io")
ports = {p["port"] for s in own for p in s.get("ports") or []}
assert ports == {8080}, (f"web's controller-managed slices carry ports {ports}. Hint: apply "
                         "h.service('web', ports=((80, 8080),)) in the sandbox; the controller rewrites the slice.")
assert isinstance(prediction_count, int) and prediction_same_names in (True, False), (
    "Record a number in `prediction_count` and True or False in `prediction_same_names` first.")
names_after = {s["metadata"]["name"] for s in own}
same_names = names_after == names_before
print(f"You predicted {prediction_count} slice(s) with {'the same' if prediction_same_names else 'new'} names; "
      f"web has {len(own)} with {'the same' if same_names else 'new'} names"
      f"{' — right.' if (prediction_count, prediction_same_names) == (len(own), same_names) else '.'}")
print(f"✓ {len(own)} slice(s) now on port 8080: {', '.join(sorted(names_after))} (before: {', '.join(sorted(names_before))})."
      + (" The create was recycled into an update of the old slice, so the name stays." if same_names else ""))

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 5. Keeping a stale cache from writing: the consistency machinery
#
# The controller computes its writes from **informer caches**, which trail the API server by however
# long the watch takes. A sync that runs before the cache holds the controller's own last write works
# from an old picture, and then creates a slice that already exists or updates an old version. Upstream
# guards against that and related races in several places (v1.36.1):
#
# | Guard | What it does | Where, since |
# |---|---|---|
# | `EndpointSliceTracker.ShouldSync` / `HandleDeletion` | remembers the generation of every slice the controller wrote and the deletions it asked for; watch events of its own writes queue no sync, anyone else's change does (after 1 s) | `staging/src/k8s.io/endpointslice/util/endpointslice_tracker.go` |
# | `StaleSlices` | before reconciling, checks the cache against the tracker: a slice older than written, a slice it deleted, or a slice it wrote that is missing means the cache is out of date. The sync fails with `EndpointSlice informer cache is out of date` and is retried | `syncService` in `pkg/controller/endpointslice/endpointslice_controller.go`, PR #99345 (v1.21), fixing #92928 / #100033 |
# | `dropEndpointSlicesPendingDeletion` | slices with a `deletionTimestamp` (held by a finalizer) are left out, so they can no longer wedge the Service's syncs | same file, PR #109624 (kubernetes/kubernetes#108779) |
# | owner check | a listed slice owned by an older Service of the same name (rapid delete and recreate) is deleted and replaced, not adopted | `reconcileByAddressType` in `staging/src/k8s.io/endpointslice/reconciler.go`, PR #94730 (a 1.19 regression) |
# | work queue | a failed sync is retried after 1 s, 2 s, 4 s … at most 1000 s apart; after 15 retries the key is dropped until the next event | `handleErr`, `maxRetries = 15` |
#
# After v1.36 a further fix forgets the tracked generations when the Service's UID changes (PR #141593).
#
# On the simulator we can slow the controller's EndpointSlice informer down (`h.set_slice_informer`) and
# switch `StaleSlices` off, reproducing the duplicate-slice bug of kubernetes/kubernetes#100033. Two pods
# first, ready, with no Service yet:

# %% slideshow={"slide_type": "subslide"}
h.apply(h.deployment("dup", replicas=2, readiness_gate=True), namespace=ns.name)
h.wait_for("pods", lambda pods: len(pods) == 2 and all(p["status"].get("podIP") for p in pods),
           namespace=ns.name, selector="app=dup", what="dup's two pods with IPs")
dup_pods = h.list_objects("pods", ns.name, selector="app=dup")
h.set_ready(dup_pods, True, ns.name)
h.wait_for_ready(ns.name, "app=dup", count=2)


def copies(service):
    """How many of the Service's slices list each pod (1 everywhere when there are no duplicates)."""
    table = h.slices_table(ns.name, service=service).dropna(subset=["address"])
    return table.groupby("targetRef").agg(slices=("slice", "nunique"), ready=("ready", lambda r: sorted(set(r))))


LAG_S = 10
if cluster.is_sim:
    print(h.set_slice_informer(LAG_S, stale_check=False))
    h.apply(h.service("dup"), namespace=ns.name)  # sync 1 creates a slice; its cache sees it 10 s later
    h.set_ready(dup_pods[0], False, ns.name)  # sync 2 runs at once, on a cache without that slice
    h.wait_for("endpointslices", lambda slices: len(slices) == 2, namespace=ns.name,
               selector=f"{kube.LABEL_SERVICE_NAME}=dup", what="a second slice for dup")
    h.advance(2 * LAG_S)  # long after the cache caught up
    duplicated = copies("dup")
    assert (duplicated["slices"] == 2).all(), duplicated
    display(duplicated)
    display(h.reconciler_decisions(ns.name, "dup")[["time", "writes", "error"]])
else:
    print("kind: a real controller's StaleSlices check is always on; the simulator shows what it prevents.")

# %% [markdown] slideshow={"slide_type": "fragment"}
# **What it shows (simulator):** `dup` has **two** slices, and each pod is listed in both, once ready and
# once not ready for the first pod. Both syncs succeeded and each created a slice: the second sync's
# cache held no slice yet, so it created the "missing" one. The duplicate **stays** after the cache
# caught up, because the tracker recognises both slices as the controller's own writes and queues no
# sync for them. Consumers see an endpoint twice with conflicting conditions until the next pod or
# Service event. (Consumers must merge all of a Service's slices and tolerate duplicates anyway: the
# docs' "Duplicate endpoints" section.) Now switch the check back on and repeat with a second Service
# over the same pods:

# %% slideshow={"slide_type": "subslide"}
if cluster.is_sim:
    h.set_slice_informer(LAG_S, stale_check=True)
    h.apply(h.service("guarded", selector={"app": "dup"}), namespace=ns.name)
    h.set_ready(dup_pods[0], True, ns.name)
    h.wait_for_slices(ns.name, "guarded", endpoints=2, ready=2, timeout=120)
    h.advance(2 * LAG_S)
    guarded = h.reconciler_decisions(ns.name, "guarded")
    guarded["after_s"] = pd.to_datetime(guarded["time"]).diff().dt.total_seconds().round(1)
    display(guarded[["time", "after_s", "writes", "error"]])
    assert (copies("guarded")["slices"] == 1).all() and sum(w["create"] for w in guarded["writes"]) == 1
    stale_retries = guarded["after_s"][guarded["error"].shift() == "EndpointSlice informer cache is out of date"]
    delays = list(stale_retries)
    assert delays and all(later >= 1.5 * earlier for earlier, later in itertools.pairwise(delays)), delays
    print("retry delays after a stale sync:", delays)
    h.set_slice_informer(0)  # back to a prompt informer; dup is repaired by its next sync
    h.set_ready(dup_pods[0], True, ns.name)
    h.wait_for("endpointslices", lambda slices: len(slices) == 1, namespace=ns.name,
               selector=f"{kube.LABEL_SERVICE_NAME}=dup", what="dup back to one slice")
    display(copies("dup"))

# %% [markdown] slideshow={"slide_type": "fragment"}
# **What it shows (simulator):** `guarded` has one slice. The sync after its creation found the tracker
# expecting a slice the cache did not hold yet, so it wrote nothing and failed with `EndpointSlice
# informer cache is out of date` (upstream counts these as `endpoint_slice_controller_syncs{result="stale"}`,
# and records no Event). The work queue retried it after growing delays (`after_s`, roughly doubling),
# until a retry found the cache caught up and made the one update. The last cell also gave `dup` another
# sync: its reconciler kept each endpoint in the first slice that listed it and deleted the emptied
# second slice. **Why it matters:** a slow watch costs only a delay now. Before v1.21 it cost duplicate
# slices, and failed updates of old versions (409 Conflict, `FailedToUpdateEndpointSlices`).

# %% [markdown] slideshow={"slide_type": "notes"}
# > **Presenter note:** The tracker has two jobs that pull in opposite directions: ignore the echoes of its own writes (or every
# > write would cause a second sync), yet refuse to act until those echoes have arrived. The duplicate in `dup` survives
# > precisely because of the first job.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Exercise 3: delete and recreate a Service at once
#
# Delete Service `dup` and create it again straight away (same name, same selector). Predict first:
# will the new Service's slices keep the old slice names? Record `True` or `False` in `prediction`.
# Done when `dup` has slices again, and they are owned by the new Service.

# %% slideshow={"slide_type": "-"}
old_dup = {"uid": h.get("svc", "dup", ns.name)["metadata"]["uid"],
           "slices": {s["metadata"]["name"] for s in h.list_objects("endpointslices", ns.name,
                                                                   selector=f"{kube.LABEL_SERVICE_NAME}=dup")}}
prediction = None  # your turn: True (same names) or False
# ... then delete and recreate the Service

# %% slideshow={"slide_type": "skip"} tags=["solution"] jupyter={"source_hidden": true}
# Solution: expand this cell to compare it with yours.
prediction = False  # the old slices are owned by the old UID: garbage-collected, and new ones created
h.delete("svc", "dup", ns.name)
recreated = h.apply(h.service("dup"), namespace=ns.name)

# %% slideshow={"slide_type": "-"} tags=["verify"]
assert prediction in (True, False), "Set `prediction` to True or False first."
svc_now = h.get("svc", "dup", ns.name)
assert svc_now["metadata"]["uid"] != old_dup["uid"], "Service dup is still the old one. Hint: h.delete it, then apply it again."
new_slices = h.wait_for("endpointslices", lambda slices: bool(slices) and all(
    ref["uid"] == svc_now["metadata"]["uid"] for s in slices for ref in s["metadata"].get("ownerReferences") or []),
    namespace=ns.name, selector=f"{kube.LABEL_SERVICE_NAME}=dup", timeout=60,
    what="dup's slices, all owned by the new Service")
names = {s["metadata"]["name"] for s in new_slices}
kept = bool(names & old_dup["slices"])
assert not kept, f"the new Service kept an old slice: {names & old_dup['slices']}"
print(f"✓ new slices {sorted(names)} (old: {sorted(old_dup['slices'])}); you predicted "
      f"{'the same' if prediction else 'new'} names. A slice owned by the old UID is never adopted.")

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 6. Two address families: dual-stack
#
# A Service lists its IP families in `spec.ipFamilies`, primary first, and says how many it wants in
# `spec.ipFamilyPolicy`: `SingleStack`, `PreferDualStack` (both if the cluster has both) or
# `RequireDualStack` (both, or refuse). That is KEP-563, dual-stack, GA in 1.23. The EndpointSlice
# controller reconciles each family on its own: `getAddressTypesForService` maps `ipFamilies` to slice
# address types, and `reconcileByAddressType` runs the whole sync once per type
# (`staging/src/k8s.io/endpointslice/utils.go` and `reconciler.go` at v1.37.0, which
# `pkg/controller/endpointslice` calls). An EndpointSlice's `addressType` cannot change, so a slice
# never holds two families. First, what this cluster does with both policies:

# %% slideshow={"slide_type": "subslide"}
h.apply(h.service("web-prefer", selector={"app": "web"}, ipFamilyPolicy="PreferDualStack"), namespace=ns.name)
prefer = h.get("svc", "web-prefer", ns.name)["spec"]
prefer_slices = h.wait_for("endpointslices", lambda slices: {s["addressType"] for s in slices} == set(prefer["ipFamilies"]),
                           namespace=ns.name, selector=f"{kube.LABEL_SERVICE_NAME}=web-prefer",
                           what="one slice per family of web-prefer")
single_stack = len(prefer["ipFamilies"]) == 1
print("web-prefer:", {k: prefer[k] for k in ("ipFamilyPolicy", "ipFamilies", "clusterIPs")})
print("its slices' addressTypes:", sorted(s["addressType"] for s in prefer_slices))
print("so this cluster is", "single-stack" if single_stack else "dual-stack")
assert len(prefer["clusterIPs"]) == len(prefer["ipFamilies"]), prefer

# %% slideshow={"slide_type": "subslide"}
try:
    h.apply(h.service("web-require", selector={"app": "web"}, ipFamilyPolicy="RequireDualStack"), namespace=ns.name)
    require, refusal = h.get("svc", "web-require", ns.name)["spec"], None
    print("web-require: accepted, with ipFamilies", require["ipFamilies"], "and clusterIPs", require["clusterIPs"])
except h.ApiError as err:
    require, refusal = None, err
    print(f"web-require: refused ({refusal.code} {refusal.reason}):", refusal.status["message"])
# A single-stack cluster refuses RequireDualStack; a dual-stack one gives it both families.
if single_stack:
    assert refusal and "this cluster is not configured for dual-stack services" in refusal.status["message"], require
else:
    assert refusal is None and len(require["ipFamilies"]) == 2, refusal

# %% [markdown] slideshow={"slide_type": "fragment"}
# **What it shows:** this cluster is single-stack (kind's default; kind builds a dual-stack one with
# `networking.ipFamily: dual`). `PreferDualStack` settles for what the cluster has: one family in
# `ipFamilies`, one cluster IP, and slices of that one `addressType`. `RequireDualStack` is
# refused, and the cell prints kube-apiserver's message: `Service "web-require" is invalid:
# spec.ipFamilyPolicy: Invalid value: "RequireDualStack": this cluster is not configured for dual-stack
# services` (`initIPFamilyFields` in `pkg/registry/core/service/storage/alloc.go`, v1.37.0); the
# simulator's API server makes the same check.

# %% [markdown] slideshow={"slide_type": "subslide"}
# A single-stack cluster cannot show two families, so feed the pure reconciler (section 2) a Service and
# pods as a dual-stack cluster serves them: `ipFamilies: [IPv4, IPv6]`, two cluster IPs, and an IP of
# each family per pod. First with no pods, then with three:

# %% slideshow={"slide_type": "-"}
ds_svc = h.service("ds", selector={"app": "demo"}, ipFamilyPolicy="RequireDualStack", ipFamilies=["IPv4", "IPv6"],
                   clusterIP="10.96.200.2", clusterIPs=["10.96.200.2", "fd00:10:96::2"])
ds_svc["metadata"].update(namespace="demo", uid="uid-ds")
ds_pods = fake_pods(range(3))
for n, ds_pod in enumerate(ds_pods):
    ds_pod["status"]["podIPs"] = [{"ip": ds_pod["status"]["podIP"]}, {"ip": f"fd00:10:244::{n + 1:x}"}]
empty = reconcile(service=ds_svc, pods=[], nodes=demo_nodes, existing_slices=[])
for placeholder in empty.creates:
    placeholder["metadata"]["name"] = f"ds-{placeholder['addressType'].lower()}"
filled = reconcile(service=ds_svc, pods=ds_pods, nodes=demo_nodes, existing_slices=empty.creates)
ds_endpoints = plan_endpoints(ds_svc, ds_pods, None).endpoints
pd.DataFrame([{"step": step, "write": write, "slice": s["metadata"]["name"], "addressType": s["addressType"],
               "addresses": [a for ep in s["endpoints"] for a in ep["addresses"]]}
              for step, result in (("no pods", empty), ("3 pods", filled))
              for write, written in (("create", result.creates), ("update", result.updates)) for s in written]
             + [{"step": "3 pods", "write": "Endpoints", "slice": "(Endpoints ds)", "addressType": "-",
                 "addresses": [a["ip"] for subset in ds_endpoints["subsets"] for a in subset["addresses"]]}])

# %% [markdown] slideshow={"slide_type": "fragment"}
# **What it shows:** with no pods the controller creates **two placeholders**, one per `addressType`
# (the placeholder rule holds per family). With three pods it updates both: the IPv4 slice lists each
# pod's IPv4 address, the IPv6 slice its IPv6 address, so every pod is an endpoint twice, once per
# family. The Endpoints object lists only the **primary** family, `ipFamilies[0]`: the Endpoints
# controller takes one IP per pod, of that family (`podToEndpointAddressForService` in
# `pkg/controller/endpoint/endpoints_controller.go`). **Why it matters:** a client that reads Endpoints
# never sees a dual-stack Service's second family; only the slices carry it.

# %% slideshow={"slide_type": "-"}
assert sorted(s["addressType"] for s in empty.creates) == ["IPv4", "IPv6"], empty.creates
assert all(not s["endpoints"] for s in empty.creates), "the two creates of an empty Service are placeholders"
assert sorted(s["addressType"] for s in filled.updates) == ["IPv4", "IPv6"] and not filled.creates, filled.writes
assert all(len(s["endpoints"]) == 3 for s in filled.updates), filled.updates
assert all(":" not in a["ip"] for subset in ds_endpoints["subsets"] for a in subset["addresses"]), ds_endpoints
print("✓ one slice set and one placeholder per family; Endpoints carries IPv4, the primary family, only")

# %% [markdown] slideshow={"slide_type": "notes"}
# > **Presenter note:** Ask where an IPv6-only client of the old Endpoints API would find this Service's IPv6 addresses
# > (nowhere): the primary family, `ipFamilies[0]`, decides what Endpoints carries, and the API server refuses to change it.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Exercise 4: IPv6 first
#
# Build `v6_first`: a copy of `ds_svc` whose `ipFamilies` and `clusterIPs` list IPv6 first, as on a
# dual-stack cluster whose primary family is IPv6. Predict first: for the three pods in `ds_pods`, how
# many slices will the controller create, and which family will the Endpoints object carry? Record a
# number in `prediction_slices` and `"IPv4"` or `"IPv6"` in `prediction_family`. The verify cell runs
# the reconciler and the Endpoints planner on your Service.

# %% slideshow={"slide_type": "-"}
prediction_slices = None  # your turn: a number of slices
prediction_family = None  # your turn: "IPv4" or "IPv6"
# ... then build v6_first

# %% slideshow={"slide_type": "skip"} tags=["solution"] jupyter={"source_hidden": true}
# Solution: expand this cell to compare it with yours.
prediction_slices, prediction_family = 2, "IPv6"  # one slice per family; Endpoints takes ipFamilies[0]
v6_first = json.loads(json.dumps(ds_svc))
v6_first["spec"].update(ipFamilies=["IPv6", "IPv4"], clusterIPs=["fd00:10:96::2", "10.96.200.2"],
                        clusterIP="fd00:10:96::2")

# %% slideshow={"slide_type": "-"} tags=["verify"]
assert "v6_first" in dir() and v6_first["spec"].get("ipFamilies", [None])[0] == "IPv6", (
    "`v6_first` should be a copy of ds_svc with ipFamilies ['IPv6', 'IPv4'] (and clusterIPs in the same order).")
assert isinstance(prediction_slices, int) and prediction_family in ("IPv4", "IPv6"), (
    'Record a number in `prediction_slices` and "IPv4" or "IPv6" in `prediction_family` first.')
v6_result = reconcile(service=v6_first, pods=ds_pods, nodes=demo_nodes, existing_slices=[])
v6_addresses = [a["ip"] for subset in plan_endpoints(v6_first, ds_pods, None).endpoints["subsets"]
                for a in subset["addresses"]]
endpoints_families = {"IPv6" if ":" in ip else "IPv4" for ip in v6_addresses}
assert sorted(s["addressType"] for s in v6_result.creates) == ["IPv4", "IPv6"], v6_result.writes
assert len(v6_addresses) == 3 and len(endpoints_families) == 1, v6_addresses
endpoints_family = endpoints_families.pop()
print(f"You predicted {prediction_slices} slice(s) and Endpoints in {prediction_family}; the controller creates "
      f"{len(v6_result.creates)} ({', '.join(s['addressType'] for s in v6_result.creates)}) and Endpoints lists "
      f"{endpoints_family}{' — right.' if (prediction_slices, prediction_family) == (len(v6_result.creates), endpoints_family) else '.'}")
print(f"✓ Endpoints ds lists {v6_addresses}: the primary family follows the order of ipFamilies.")

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Cleanup
#
# Delete the sandbox; on the simulator also make sure the controller runs the current behaviour.

# %% slideshow={"slide_type": "-"} tags=["cleanup"]
if cluster.is_sim:
    h.set_missing_node_behavior("current")
ns.cleanup()

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Summary
#
# - A sync compares desired endpoints with the controller's own slices: keep, replace in place, remove;
#   newcomers fill slices being written anyway, then one untouched slice that takes them all, else new slices.
# - Writes are minimised, not slices: 300 pods can end in 74/74/100/52, and only a change that rewrites
#   every slice (a port change) repacks them — for free, by recycling creates into updates.
# - `endpointslice.kubernetes.io/managed-by` separates the EndpointSlice controller, the mirroring
#   controller and everyone else; nobody touches another's slices.
# - PR #107927: before v1.25 one pod on a missing Node froze the whole Service; since v1.25 that pod is
#   skipped, the rest is written and the Service retried.
# - Dual-stack: each family in `ipFamilies` gets its own slices (and its own placeholder); the Endpoints
#   object carries only `ipFamilies[0]`. A single-stack cluster gives `PreferDualStack` one family and
#   refuses `RequireDualStack`.

# %% [markdown] slideshow={"slide_type": "subslide"}
# ## What's next
#
# [07 · kube-proxy and EndpointSlices](07-kube-proxy-and-endpointslices.ipynb): what every node does
# with these slices. Upstream reading: `staging/src/k8s.io/endpointslice/reconciler.go`, KEP-752
# (EndpointSlice API), KEP-563 (dual-stack), and the discussion in kubernetes/kubernetes#107927 and PR #110639.
