# %% [markdown] slideshow={"slide_type": "slide"}
# # 02 · When are slices made, how are they configured, and why?
#
# A Service with a selector always has at least one EndpointSlice — even with no pods. As pods come
# and go, the controller adds, fills and empties slices of at most `maxEndpointsPerSlice` endpoints.
# This chapter watches that happen from 0 to 250 pods and back, changes the limit, and recomputes
# the numbers that made Kubernetes split endpoints into slices in the first place.

# %% [markdown] slideshow={"slide_type": "notes"}
# > **Presenter note:** The outline's questions: "When do EndpointSlices get made? How can we configure it? Why would we?"
# > Answer them in that order; the KEP-752 table at the end is the "why".

# %% [markdown] slideshow={"slide_type": "subslide"}
# ## Learning objectives
#
# After this chapter you can:
# 1. *predict* which Services get controller-made slices (selector) and which do not (selectorless);
# 2. *explain* the empty **placeholder** slice of a Service with no pods;
# 3. *predict* how many slices N endpoints need, and why scaling down leaves half-empty slices;
# 4. *configure* `--max-endpoints-per-slice` (default 100, range 1–1000) through `kind-cluster.yaml`;
# 5. *compute* the bytes a single endpoint change sends to every node, for Endpoints vs slices.

# %% [markdown] slideshow={"slide_type": "subslide"}
# ## Prerequisites
#
# | Concept | Importance | Notes |
# |---|---|---|
# | [01 · What is an EndpointSlice?](01-what-is-an-endpointslice.ipynb) | Necessary | the fields of a slice |
# | Scaling a Deployment | Necessary | `kubectl scale` |
# | Watches and the API server | Helpful | every kube-proxy watches the slices of every non-headless Service |
# | [KEP-752](https://github.com/kubernetes/enhancements/tree/master/keps/sig-network/0752-endpointslices) | Helpful | the design document |
#
# **Time to complete:** about 25 minutes

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Which cluster am I on?
#
# | On kind | On the simulator |
# |---|---|
# | 250 agnhost containers take a minute or two on a laptop | 250 simulated pods start in seconds |
# | a kubelet runs at most 110 pods, so the Deployment also tolerates the control-plane taint | the same scheduling rules |
# | changing `--max-endpoints-per-slice` means recreating the cluster (shown, not done for you) | section 5 restarts the simulator from another config file |

# %% slideshow={"slide_type": "-"} tags=["cluster-check"]
import json

import pandas as pd
import yaml

import helpers as h
from helpers import kube
from helpers.config import REPO_ROOT

cluster = h.connect()
ns = h.sandbox("ch02")
nodes = h.nodes_table()
assert nodes["ready"].all(), "Not every node is Ready: wait a minute (kind) or restart the simulator."
print(f"{len(nodes)} nodes, all Ready; sandbox namespace: {ns.name}")

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 1. Selector or no selector
#
# The EndpointSlice controller only manages Services that have a selector. A Service without one says
# "I will publish my endpoints myself" (chapter 05 does exactly that).

# %% slideshow={"slide_type": "-"}
manual = h.service("manual")
del manual["spec"]["selector"]  # a selectorless Service
h.apply(manual, h.service("empty", selector={"app": "nothing-matches"}), namespace=ns.name)
h.wait_for_slices(ns.name, "empty", endpoints=0)
h.kubectl("get", "services,endpointslices", "-n", ns.name, "-o", "wide")

# %% [markdown] slideshow={"slide_type": "fragment"}
# **What it shows:** two Services, but only `empty` got a slice. `manual` has none: no selector, no
# controller-made endpoints (`syncService` in `pkg/controller/endpointslice/endpointslice_controller.go`
# returns early for a nil selector, and for `type: ExternalName`).
#
# **Why it matters:** if a Service "has no endpoints", first check whether it has a selector at all.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 2. The placeholder slice

# %% slideshow={"slide_type": "-"}
h.kubectl("get", "endpointslices", "-n", ns.name, "-l", f"{kube.LABEL_SERVICE_NAME}=empty", "-o", "yaml")

# %% [markdown] slideshow={"slide_type": "fragment"}
# **What it shows:** a slice with **no endpoints and no ports** (`null`: the controller wrote empty lists,
# and the API server's storage reads them back as null; the table in the previous section printed `<unset>`
# for both), but with the usual labels and owner. The reconciler
# creates this *placeholder* whenever a selector Service has no usable pods, so that "zero endpoints"
# is stated explicitly rather than by absence.
#
# **Why it matters:** a consumer can tell "this Service has no backends" (an empty slice exists) from
# "the controller has not processed this Service yet" (no slice). Kubernetes 1.25 (and 1.24, by
# backport #110732) fixed a bug where placeholders were rewritten on every informer resync
# (kubernetes/kubernetes#108231, fix #110365).

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 3. From 0 to 250 pods and back
#
# A Deployment `big` starting at 0 replicas, and a Service for it. After every scale step we wait until
# the slices hold exactly the new number of endpoints, and record how many slices there are and how
# full each one is.

# %% slideshow={"slide_type": "-"}
big = h.deployment("big", replicas=0, readiness_gate=False)
# kind's kubelets run at most 110 pods each; let pods use the control-plane node too.
big["spec"]["template"]["spec"]["tolerations"] = [
    {"key": kube.LABEL_NODE_ROLE_CONTROL_PLANE, "operator": "Exists", "effect": "NoSchedule"}]
h.apply(big, h.service("big"), namespace=ns.name)

steps, sizes = [], {}


def record(replicas):
    """Scale `big`, wait until its slices hold `replicas` endpoints, and note slice count and fill."""
    h.scale("big", replicas, ns.name)
    slices = h.wait_for_slices(ns.name, "big", endpoints=replicas, ready=replicas, timeout=300)
    fill = sorted((len(s.get("endpoints") or []) for s in slices), reverse=True)
    steps.append({"replicas": replicas, "slices": len(slices), "max_per_slice": max(fill),
                  "mean_per_slice": sum(fill) / len(fill), "fill": fill})
    return slices


record(0)
sizes["placeholder slice"] = len(json.dumps(h.list_objects(
    "endpointslices", ns.name, selector=f"{kube.LABEL_SERVICE_NAME}=big")[0]))
sizes["Endpoints, 0 addresses"] = len(json.dumps(h.get("endpoints", "big", ns.name)))
pd.DataFrame(steps)

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Up to 250

# %% slideshow={"slide_type": "-"}
slices_250 = record(250)
full = max(slices_250, key=lambda s: len(s.get("endpoints") or []))
sizes["slice, 100 endpoints"] = len(json.dumps(full))
sizes["Endpoints, 250 addresses"] = len(json.dumps(h.get("endpoints", "big", ns.name)))
pd.DataFrame(steps)

# %% [markdown] slideshow={"slide_type": "fragment"}
# **What it shows:** 250 endpoints in 3 slices filled 100, 100 and 50 — the fewest slices possible.
# Upstream's `TestReconcileManyPods` expects exactly this when 250 pods arrive in one sync. When pods
# arrive over several syncs, the controller prefers creating one slice to updating several, so a real
# cluster can end up with a less tidy layout (chapter 06 shows 300 pods in 4 slices).
# **Why it matters:** one pod change now rewrites a slice of at most 100 endpoints, not a list of 250.

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Down to 120, then to 0

# %% slideshow={"slide_type": "-"}
record(120)
record(0)
history = pd.DataFrame(steps)
history

# %% [markdown] slideshow={"slide_type": "fragment"}
# **What it shows:** at 120 the Service usually keeps **3** slices, and their fill depends on which pods
# the ReplicaSet deleted — the controller removes endpoints where they are and **never rebalances**
# (moving an endpoint would cost writes, and every write is sent to every node). At 0 a single empty
# placeholder remains: the last slice is emptied in place rather than deleted and recreated.

# %% slideshow={"slide_type": "-"}
fill = pd.DataFrame(history["fill"].tolist(), index=[f"{r} pods" for r in history["replicas"]])
ax = fill.plot.bar(stacked=True, legend=False, rot=0, edgecolor="white", figsize=(7, 3),
                   title="Endpoints per slice after each step (one block per slice)")
limit = ax.axhline(100, linestyle=":", color="gray")

# %% [markdown] slideshow={"slide_type": "notes"}
# > **Presenter note:** Ask for predictions before running the 120 step. Most people expect 2 slices (100 + 20). The
# > reconciler's rules (kubernetes/kubernetes `staging/src/k8s.io/endpointslice/reconciler.go`,
# > `reconcileByPortMapping`): keep endpoints in place, fill slices that are being written anyway,
# > prefer one new slice over touching several unchanged ones. Chapter 06 shows each decision.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 4. Why slices? Bytes on the wire
#
# Every kube-proxy (one per node) watches every EndpointSlice except those labelled
# `service.kubernetes.io/headless` (chapter 07), and used to watch every Endpoints object.
# When one pod of a Service changes, the *whole object* that lists it is sent to every watcher. We
# measured our objects' JSON sizes above; from them we can recompute the table in KEP-752 for any
# cluster size.

# %% slideshow={"slide_type": "-"}
pd.Series(sizes, name="bytes (JSON)").to_frame()

# %% slideshow={"slide_type": "-"}
per_address = (sizes["Endpoints, 250 addresses"] - sizes["Endpoints, 0 addresses"]) / 250
per_endpoint = (sizes["slice, 100 endpoints"] - sizes["placeholder slice"]) / 100
print(f"per address in Endpoints: ~{per_address:.0f} bytes; per endpoint in a slice: ~{per_endpoint:.0f} bytes;"
      f" slice overhead: {sizes['placeholder slice']} bytes")
scenarios = [(20, 10), (1_000, 100), (5_000, 1_000), (20_000, 5_000)]  # (endpoints, nodes)
kep = pd.DataFrame([h.bytes_per_update(n, nodes, per_endpoint, sizes["placeholder slice"], per_slice=100,
                                        address_bytes=per_address,
                                        endpoints_overhead=sizes["Endpoints, 0 addresses"])
                    for n, nodes in scenarios])
pd.DataFrame({
    "endpoints": kep["endpoints"], "nodes": kep["nodes"],
    "Endpoints object (KB)": kep["endpoints_object_bytes"] / 1e3, "slice (KB)": kep["slice_object_bytes"] / 1e3,
    "one change: Endpoints (MB)": kep["endpoints_bytes"] / 1e6, "one change: slices (MB)": kep["slice_bytes"] / 1e6,
    "rolling update: Endpoints (GB)": kep["rolling_endpoints_bytes"] / 1e9,
    "rolling update: slices (GB)": kep["rolling_slice_bytes"] / 1e9,
}).round(1)

# %% [markdown] slideshow={"slide_type": "fragment"}
# **What it shows:** for one endpoint change, the bytes sent to all nodes. KEP-752's sample case is
# 20,000 endpoints on 5,000 nodes: a ~2 MB Endpoints object × 5,000 nodes ≈ **10 GB** per change, versus a
# ~10 KB slice × 5,000 ≈ **50 MB**; a rolling update (20,000 changes) is ~200 TB vs ~1 TB. Our JSON
# objects carry more per endpoint than the KEP's estimate (the API server stores and sends protobuf,
# which is smaller than JSON), so our absolute numbers are larger. Each object is sized with its own
# measurement: a slice's endpoint (conditions, zone, node, target) is larger than an Endpoints address,
# so the ratio is smaller than the KEP's single estimate gives (roughly 125× at 20,000 endpoints here,
# 200× in the KEP) — but the cost of a change stops growing with the Service's size. For 20 endpoints
# on 10 nodes the slice is even a little larger than the Endpoints object: slicing buys nothing for
# small Services. (A real 20,000-address Endpoints object would
# not even get this far: it is truncated at 1000 addresses, and etcd rejects objects above ~1.5 MB.)

# %% slideshow={"slide_type": "-"}
h.plot_bytes_per_update(kep)

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Hard limits that pushed the change
#
# - etcd rejects requests above **1.5 MB** by default; kubernetes/kubernetes#73324 (2019) showed a
#   10,000-pod Service whose Endpoints object no longer propagated to kube-proxy.
# - Since 1.22 the Endpoints controller **truncates** an Endpoints object at **1000 addresses** (ready ones
#   first) and annotates it `endpoints.kubernetes.io/over-capacity: truncated` (1.21 only warned).
#   Slices have no such ceiling per Service: a slice holds at most 1000 endpoints, a Service may have many.
# - Why 100 per slice: more than 99 % of Services had fewer than 100 endpoints, so most Services need
#   one slice, while very small slices would multiply writes (etcd write rate is a key limit).

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Exercise 1: give `manual` a selector
#
# The selectorless Service `manual` has no slices. Give it the selector `app=big` (re-apply it with
# `h.service("manual", selector={"app": "big"})`) and scale `big` to 3. Predict first: which
# `endpointslice.kubernetes.io/managed-by` value will `manual`'s slice carry? Record it in
# `prediction_manager`. Done when `manual` has a controller-made slice with 3 endpoints.

# %% slideshow={"slide_type": "-"}
prediction_manager = None  # your turn: the managed-by value, a string
# ... then give manual its selector and scale big

# %% slideshow={"slide_type": "skip"} tags=["solution"] jupyter={"source_hidden": true}
# Solution: expand this cell to compare it with yours.
prediction_manager = "endpointslice-controller.k8s.io"  # a selector hands the Service to the controller
h.apply(h.service("manual", selector={"app": "big"}), namespace=ns.name)
h.scale("big", 3, ns.name)
slices = h.wait_for_slices(ns.name, "manual", endpoints=3, ready=3)

# %% slideshow={"slide_type": "-"} tags=["verify"]
got = h.list_objects("endpointslices", ns.name, selector=f"{kube.LABEL_SERVICE_NAME}=manual")
count = sum(len(s.get("endpoints") or []) for s in got)
assert got and count == 3, (f"manual has {len(got)} slice(s) with {count} endpoints, expected 3 endpoints. "
                            "Hint: the selector and the replica count both matter.")
assert isinstance(prediction_manager, str), "Record the managed-by value you expect in `prediction_manager` first."
managers = {s["metadata"]["labels"][kube.LABEL_MANAGED_BY] for s in got}
print(f"You predicted {prediction_manager!r}; manual's slices are managed by {sorted(managers)}"
      f"{' — right.' if managers == {prediction_manager} else ' — which controller watches Services with a selector?'}")
print("✓ Setting a selector handed the Service to", managers.pop())

# %% slideshow={"slide_type": "-"}
ns.cleanup()

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 5. Configuring `maxEndpointsPerSlice`
#
# The limit is a kube-controller-manager flag, `--max-endpoints-per-slice`: default **100**, accepted
# range **1–1000** (`cmd/kube-controller-manager/app/options/endpointslicecontroller.go`). It applies to
# the whole cluster. On kind it is set through a kubeadm patch in `kind-cluster.yaml`:

# %% slideshow={"slide_type": "-"}
patch = yaml.safe_load((REPO_ROOT / "kind-cluster.yaml").read_text())["kubeadmConfigPatches"][0]
print("\n".join(line for line in patch.splitlines() if not line.strip().startswith("#")))

# %% [markdown] slideshow={"slide_type": "fragment"}
# The patch has no `apiVersion`: since kubernetes-sigs/kind#4173 (merged 2026-05) kind generates
# kubeadm's **v1beta4** config for Kubernetes ≥ 1.36, where `extraArgs` is a list of `{name, value}` pairs; kind
# translates an *unversioned* patch's map for you. A patch pinned to `kubeadm.k8s.io/v1beta3` would
# silently not apply. `kind/kind-slices5.yaml` is the same cluster with `max-endpoints-per-slice: "5"`.
#
# **On kind** the flag is read at start-up, so changing it means recreating the cluster (not done for
# you — it deletes everything):
# ```
# kind delete cluster --name endpoints
# kind create cluster --config kind/kind-slices5.yaml
# kubectl -n kube-system get pod kube-controller-manager-endpoints-control-plane -o yaml | grep max-endpoints
# ```
# To compare, first put 23 pods behind a Service `small` on the cluster as it is now:

# %% slideshow={"slide_type": "-"}


def deploy_small(namespace):
    """23 pods behind a Service `small`; returns how many endpoints each of its slices holds."""
    h.apply(h.deployment("small", replicas=23, readiness_gate=False), h.service("small"), namespace=namespace)
    slices = h.wait_for_slices(namespace, "small", endpoints=23, ready=23)
    return sorted((len(s.get("endpoints") or []) for s in slices), reverse=True)


with h.sandbox("ch02-default") as default_ns:
    comparison = {"kind-cluster.yaml": deploy_small(default_ns.name)}
comparison

# %% [markdown] slideshow={"slide_type": "fragment"}
# **On the simulator** the next cell restarts it from `kind/kind-slices5.yaml` (a fresh cluster; the
# last cell of this chapter restarts it from `kind-cluster.yaml` again — if you stop half-way,
# `make sim-stop sim` does the same).

# %% slideshow={"slide_type": "-"}
if cluster.is_sim:
    cluster = h.restart_simulator("kind/kind-slices5.yaml")
else:
    print("On kind: recreate the cluster with kind/kind-slices5.yaml (see above) to see 5 per slice;"
          " otherwise the next cells show the default of 100.")
small_ns = h.sandbox("ch02-small")

# %% slideshow={"slide_type": "-"}
comparison["kind/kind-slices5.yaml"] = deploy_small(small_ns.name)
h.kubectl("get", "endpointslices", "-n", small_ns.name)

# %% slideshow={"slide_type": "fragment"}
pd.DataFrame({"slices": {config: len(fill) for config, fill in comparison.items()},
              "endpoints per slice": comparison}).rename_axis("cluster created from")

# %% [markdown] slideshow={"slide_type": "fragment"}
# **What it shows:** the same 23 pods fit one slice under the default limit of 100, and need 5 slices
# (5, 5, 5, 5, 3) with a limit of 5. **Why it matters:**
# small limits make slicing visible with few pods — and show its price: more objects, more writes when
# the Service is created. Choose the limit for your largest Services' churn, not for demos.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Exercise 2: scale down and count
#
# Predict how many slices `small` keeps when you scale it from 23 to 12 replicas (remember: no
# rebalancing), and record the number in `prediction`. Then scale it. Done when its slices hold 12 endpoints.

# %% slideshow={"slide_type": "-"}
prediction = None  # your turn: how many slices will small keep?
# ... then scale

# %% slideshow={"slide_type": "skip"} tags=["solution"] jupyter={"source_hidden": true}
# Solution: expand this cell to compare it with yours.
prediction = 5  # usually still 5: the 11 pods that go come from several slices, and none is refilled
h.scale("small", 12, small_ns.name)
slices = h.wait_for_slices(small_ns.name, "small", endpoints=12, ready=12)

# %% slideshow={"slide_type": "-"} tags=["verify"]
left = h.list_objects("endpointslices", small_ns.name, selector=f"{kube.LABEL_SERVICE_NAME}=small")
fill = sorted((len(s.get("endpoints") or []) for s in left), reverse=True)
assert sum(fill) == 12, f"The slices hold {sum(fill)} endpoints, expected 12. Hint: the slices follow the Deployment's replicas."
assert isinstance(prediction, int), "Record your prediction (a number of slices) in `prediction` first."
print(f"✓ 12 endpoints in {len(left)} slices, filled {fill}; you predicted {prediction} slices. A slice goes "
      "only when its last endpoint does, so which pods the ReplicaSet removes decides the count.")

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Cleanup
#
# Delete the sandbox and, on the simulator, restart it from the default `kind-cluster.yaml`.

# %% slideshow={"slide_type": "-"} tags=["cleanup"]
small_ns.cleanup()
if cluster.is_sim:
    cluster = h.restart_simulator()
else:
    print("If you recreated kind with kind/kind-slices5.yaml, recreate it with kind-cluster.yaml now.")

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Summary
#
# - Only Services **with a selector** get controller-made slices; a selectorless Service gets none.
# - A selector Service with no usable pods has exactly one empty **placeholder** slice (per IP family).
# - Slices fill up to `maxEndpointsPerSlice` (default 100, range 1–1000, a kube-controller-manager flag
#   set in kind through an unversioned kubeadm patch); scaling down empties slices in place, without
#   rebalancing.
# - Why: a change is sent to every node as a whole object. With slices its cost is bounded by the slice
#   size, not the Service size — about 50 MB instead of 10 GB per change in KEP-752's 20,000-endpoint,
#   5,000-node example. Endpoints also truncates at 1000 addresses.

# %% [markdown] slideshow={"slide_type": "subslide"}
# ## What's next
#
# [03 · History](03-history.ipynb): how Kubernetes moved from Endpoints to EndpointSlices, release by
# release. Upstream: [KEP-752](https://github.com/kubernetes/enhancements/tree/master/keps/sig-network/0752-endpointslices)
# ("Why slice?" and the scalability tables).
