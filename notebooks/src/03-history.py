# %% [markdown] slideshow={"slide_type": "slide"}
# # 03 · History: from Endpoints to EndpointSlices
#
# Why does a 2026 cluster still write the endpoints of every selector Service twice? Because
# Kubernetes replaced a core API without breaking anyone, one release at a time. This chapter walks
# through those releases and then asks the cluster which of the APIs it serves today.

# %% [markdown] slideshow={"slide_type": "notes"}
# > **Presenter note:** Keep this short in a workshop: the timeline figure plus the discovery cell are the essentials.

# %% [markdown] slideshow={"slide_type": "subslide"}
# ## Learning objectives
#
# After this chapter you can:
# 1. *place* the milestones of the EndpointSlice API (alpha 1.16 → GA 1.21 → Endpoints deprecated 1.33);
# 2. *explain* why kube-proxy's switch (1.19) mattered more than the API's GA;
# 3. *ask* a cluster which discovery API versions it serves, and *recognise* a removed one.

# %% [markdown] slideshow={"slide_type": "subslide"}
# ## Prerequisites
#
# | Concept | Importance | Notes |
# |---|---|---|
# | [02 · When are slices made?](02-when-slices-are-made.ipynb) | Necessary | why slices exist |
# | API groups and versions (alpha, beta, GA) | Helpful | [API versioning](https://kubernetes.io/docs/reference/using-api/#api-versioning) |
# | Feature gates | Helpful | [Feature gates](https://kubernetes.io/docs/reference/command-line-tools-reference/feature-gates/) |
#
# **Time to complete:** about 10 minutes

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Which cluster am I on?
#
# | On kind | On the simulator |
# |---|---|
# | the node image's Kubernetes version (pinned in `kind-cluster.yaml`) | reports a `-sim` version and serves the same API groups a current cluster does |

# %% slideshow={"slide_type": "-"} tags=["cluster-check"]
import matplotlib.pyplot as plt
import pandas as pd

import helpers as h
from helpers import kube

cluster = h.connect()
ns = h.sandbox("ch03")
nodes = h.nodes_table()
assert nodes["ready"].all(), "Not every node is Ready: wait a minute (kind) or restart the simulator."
print(f"{len(nodes)} nodes, all Ready; sandbox namespace: {ns.name}")

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 1. The timeline
#
# | Release (≈ date) | What changed |
# |---|---|
# | 2019-01 | kubernetes/kubernetes#73324: a 10k-pod Service's Endpoints object grows past 1 MB; kube-proxy's watch drops it and etcd can reject the write ("request is too large") |
# | 1.16 (2019-09) | EndpointSlice **alpha** (`discovery.k8s.io/v1alpha1`, feature gate `EndpointSlice` off) — KEP-752; the same gate lets kube-proxy read slices (#81430) |
# | 1.17 (2019-12) | **beta** (`v1beta1`); the `managed-by` label; address type `IP` split into `IPv4`/`IPv6` |
# | 1.18 (2020-03) | the EndpointSlice **controller on by default**; kube-proxy's use of slices moves to its own alpha gate, `EndpointSliceProxying` (#86137) |
# | 1.19 (2020-08) | **kube-proxy on Linux reads slices by default**; the mirroring controller appears |
# | 1.20 (2020-12) | `nodeName` field; `serving`/`terminating` conditions alpha |
# | 1.21 (2021-04) | **GA**: `discovery.k8s.io/v1`, `zone` field; Topology Aware Hints alpha |
# | 1.22 (2021-08) | Endpoints truncated at 1000 addresses (`over-capacity: truncated`) |
# | 1.25 (2022-08) | `v1beta1` **no longer served**; fixes for #107927 (missing nodes) and placeholder churn |
# | 1.26 (2022-12) | `serving`/`terminating` conditions **GA** |
# | 1.23–1.24 | Topology Aware Hints beta (#106433), on by default from 1.24 |
# | 1.27 (2023-04) | renamed "Topology Aware Routing", annotation `service.kubernetes.io/topology-mode` (KEP-2433) |
# | 1.33 (2025-04) | Topology Aware Routing **GA** (the `TopologyAwareHints` gate; gone from 1.36's `pkg/features`) |
# | 1.30–1.33 | `spec.trafficDistribution`: alpha 1.30, beta 1.31, GA 1.33 |
# | 1.33 (2025-04) | **v1 Endpoints deprecated** (KEP-4974): the API server warns on every use |
#
# Sources: KEP-752 (`kubernetes/enhancements`, `keps/sig-network/0752-endpointslices`), the feature-gate
# pages on kubernetes.io, the 1.25 deprecation guide and the 2025-04-24 blog post on the transition.
# (That blog post says alpha came in 1.15; the KEP and the feature-gate docs say 1.16.)

# %% slideshow={"slide_type": "subslide"}
milestones = pd.DataFrame([
    ("2019-01", "#73324: Endpoints too big", "problem"), ("2019-09", "1.16 alpha", "api"),
    ("2019-12", "1.17 beta", "api"), ("2020-03", "1.18 controller on", "controller"),
    ("2020-08", "1.19 kube-proxy uses slices", "consumer"), ("2021-04", "1.21 GA (v1)", "api"),
    ("2021-08", "1.22 Endpoints truncated", "controller"), ("2022-08", "1.25 v1beta1 removed", "api"),
    ("2022-12", "1.26 terminating GA", "api"), ("2023-04", "1.27 topology-mode", "consumer"),
    ("2025-04", "1.33 Endpoints deprecated", "api"),
], columns=["date", "event", "kind"]).assign(date=lambda d: pd.to_datetime(d["date"]))
fig, ax = plt.subplots(figsize=(12, 3.6))
for i, row in milestones.iterrows():
    level = 1 + i % 4  # stagger the labels so neighbours do not overlap
    ax.plot([row.date, row.date], [0, level], color="lightgray", zorder=0)
    ax.annotate(row.event, (row.date, level), fontsize=8, ha="left", va="bottom")
for kind, group in milestones.groupby("kind"):
    ax.scatter(group["date"], [0] * len(group), label=kind, s=60, zorder=1)
ax.set(yticks=[], ylim=(-0.5, 5.2), xlim=(pd.Timestamp("2018-10"), pd.Timestamp("2026-10")),
       title="EndpointSlice milestones")
ax.legend(loc="upper left", fontsize=8, ncols=4)
fig.tight_layout()

# %% [markdown] slideshow={"slide_type": "fragment"}
# **What it shows:** more than six years from the problem (2019-01) to the deprecation (2025-04), with
# the consumer (kube-proxy, 1.19) switching about eight months *before* the API went GA. **Why it
# matters:** an API change this deep only works when both writers and readers move; in 1.18 every
# cluster wrote slices, but kube-proxy routed by them only with the alpha `EndpointSliceProxying` gate on.

# %% [markdown] slideshow={"slide_type": "notes"}
# > **Presenter note:** The "why both objects" answer from chapter 00 is historical: Endpoints must keep working for
# > existing tools, so both controllers still run. KEP-4974 proposes dropping the Endpoints controller
# > from conformance so that clusters may turn it off; the type itself will likely never be removed.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 2. What does this cluster serve?
#
# API discovery lists every group and version the API server serves.

# %% slideshow={"slide_type": "-"}
h.kubectl("version")

# %% slideshow={"slide_type": "-"}
h.kubectl("api-resources", "--api-group=discovery.k8s.io")

# %% slideshow={"slide_type": "-"}
group = cluster.request("GET", "/apis/discovery.k8s.io")
pd.DataFrame(group["versions"]).assign(preferred=lambda d: d["version"] == group["preferredVersion"]["version"])

# %% [markdown] slideshow={"slide_type": "fragment"}
# **What it shows:** the `discovery.k8s.io` group serves only `v1`, and its one resource is
# `endpointslices` (kind `EndpointSlice`, namespaced). `v1alpha1` and `v1beta1` are gone: kubectl
# rejects a manifest written for them, because the server no longer has that version (depending on
# which check fails first, the error says "the server could not find the requested resource" or
# "no matches for kind"). `endpoints` is still served from the core group `v1`, with the warning.
#
# **Why it matters:** old blog posts and Helm charts may still say `discovery.k8s.io/v1beta1`. On any
# cluster since 1.25, change them to `v1` (the fields are the same apart from `topology`: use `nodeName`
# and `zone` instead; v1 keeps the old map only as the read-only `deprecatedTopology`).

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Exercise 1: an old manifest
#
# The manifest below is written for the removed beta API. Try to apply it (expect an error), then fix
# its `apiVersion` and apply it again. Done when the slice `by-hand` exists in your sandbox.

# %% slideshow={"slide_type": "-"}
old_manifest = {
    "apiVersion": "discovery.k8s.io/v1beta1", "kind": "EndpointSlice",
    "metadata": {"name": "by-hand", "labels": {kube.LABEL_SERVICE_NAME: "legacy-db",
                                               kube.LABEL_MANAGED_BY: "staff.example.com"}},
    "addressType": "IPv4",
    "ports": [{"name": "sql", "port": 5432, "protocol": "TCP"}],
    "endpoints": [{"addresses": ["192.0.2.10"], "conditions": {"ready": True}}],
}
h.kubectl("apply", "-n", ns.name, "-f", "-", input=old_manifest, check=False)

# %% slideshow={"slide_type": "-"}
prediction = None  # your turn: the apiVersion the API server will report for your fixed slice
# ... then fix the manifest and apply it

# %% slideshow={"slide_type": "skip"} tags=["solution"] jupyter={"source_hidden": true}
# Solution: expand this cell to compare it with yours.
prediction = "discovery.k8s.io/v1"  # the only served version since 1.25
h.kubectl("apply", "-n", ns.name, "-f", "-", input={**old_manifest, "apiVersion": "discovery.k8s.io/v1"})

# %% slideshow={"slide_type": "-"} tags=["verify"]
mine = [s for s in h.list_objects("endpointslices", ns.name) if s["metadata"]["name"] == "by-hand"]
assert mine, ("No slice 'by-hand' in your sandbox. Hint: the only served version is discovery.k8s.io/v1; "
              "apply the manifest with that apiVersion and -n ns.name.")
assert prediction, "Record the apiVersion you expect in `prediction` first."
print("✓ by-hand exists; the API server stores it as", mine[0]["apiVersion"], f"(you predicted {prediction})")

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Exercise 2: who manages what (1.33 labels)
#
# Since 1.33 the Endpoints controller labels its objects `endpoints.kubernetes.io/managed-by:
# endpoint-controller`, next to the slices' `endpointslice.kubernetes.io/managed-by`. Create a
# Deployment and Service `legacy` (1 replica, `readiness_gate=False`). Predict first: will the two
# labels carry the same value? Record `True` or `False` in `prediction_same_manager`. Done when its
# Endpoints object and its slice both carry their managed-by label.

# %% slideshow={"slide_type": "-"}
prediction_same_manager = None  # your turn: True or False
# ... then create the Deployment and the Service

# %% slideshow={"slide_type": "skip"} tags=["solution"] jupyter={"source_hidden": true}
# Solution: expand this cell to compare it with yours.
prediction_same_manager = False  # two controllers, each naming itself
h.apply(h.deployment("legacy", replicas=1, readiness_gate=False), h.service("legacy"), namespace=ns.name)
h.wait_for_slices(ns.name, "legacy", endpoints=1, ready=1)
found = h.wait_for("endpoints", lambda eps: any(e["metadata"]["name"] == "legacy" and e.get("subsets") for e in eps),
                   namespace=ns.name, what="the Endpoints object legacy with an address")

# %% slideshow={"slide_type": "-"} tags=["verify"]
eps = [e for e in h.list_objects("endpoints", ns.name) if e["metadata"]["name"] == "legacy"]
legacy_slices = h.list_objects("endpointslices", ns.name, selector=f"{kube.LABEL_SERVICE_NAME}=legacy")
assert eps and legacy_slices, "Service legacy has no Endpoints or no slice yet. Hint: create it in ns.name."
print("Endpoints managed by:", eps[0]["metadata"].get("labels", {}).get(kube.LABEL_ENDPOINTS_MANAGED_BY))
print("slice managed by:    ", legacy_slices[0]["metadata"]["labels"][kube.LABEL_MANAGED_BY])
assert eps[0]["metadata"].get("labels", {}).get(kube.LABEL_ENDPOINTS_MANAGED_BY) == "endpoint-controller", (
    "The Endpoints object lacks endpoints.kubernetes.io/managed-by — is this cluster older than 1.33?")
assert prediction_same_manager in (True, False), "Record True or False in `prediction_same_manager` first."
same = (eps[0]["metadata"]["labels"][kube.LABEL_ENDPOINTS_MANAGED_BY]
        == legacy_slices[0]["metadata"]["labels"][kube.LABEL_MANAGED_BY])
print(f"You predicted {'the same' if prediction_same_manager else 'different'} values; they are "
      f"{'the same' if same else 'different'}{' — right.' if prediction_same_manager == same else '.'}")
print("✓ Two controllers, two labels, one Service.")

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Cleanup

# %% slideshow={"slide_type": "-"} tags=["cleanup"]
ns.cleanup()

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Summary
#
# - EndpointSlice: alpha 1.16, beta 1.17, controller on 1.18, kube-proxy on slices 1.19, GA (`v1`) 1.21,
#   `v1beta1` gone 1.25, terminating conditions GA 1.26.
# - Topology hints (alpha 1.21, renamed Topology Aware Routing in 1.27, GA 1.33) and `trafficDistribution`
#   (GA 1.33) were built on slices only.
# - v1 Endpoints is deprecated since 1.33 (KEP-4974); it still works and warns on every access.
# - API discovery tells you what a cluster serves: `discovery.k8s.io/v1` only.

# %% [markdown] slideshow={"slide_type": "subslide"}
# ## What's next
#
# [04 · What happens when an endpoint is created?](04-what-happens-when-an-endpoint-is-created.ipynb)
# traces one pod from `kubectl apply` to a ready endpoint on every node. Upstream: the kubernetes.io
# blog post "Kubernetes v1.33: Continuing the transition from Endpoints to EndpointSlices".
