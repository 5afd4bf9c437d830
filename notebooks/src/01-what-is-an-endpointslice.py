# %% [markdown] slideshow={"slide_type": "slide"}
# # 01 · What is an EndpointSlice?
#
# Create a Deployment and a Service, then open the two objects the control plane writes for it — the
# Endpoints object and the EndpointSlice — and compare them field by field.

# %% [markdown] slideshow={"slide_type": "notes"}
# > **Presenter note:** The running example for the next chapters starts here: a Deployment `web` and a Service `web`.

# %% [markdown] slideshow={"slide_type": "subslide"}
# ## Learning objectives
#
# After this chapter you can:
# 1. *find* a Service's Endpoints object (by name) and its EndpointSlices (by label);
# 2. *name* every part of a slice: `addressType`, `ports`, `endpoints` with `addresses`, `conditions`,
#    `nodeName`, `zone`, `targetRef`, and the metadata that ties it to its Service (labels, owner);
# 3. *map* each field to its place in the older Endpoints object, and say what Endpoints cannot express.

# %% [markdown] slideshow={"slide_type": "subslide"}
# ## Prerequisites
#
# | Concept | Importance | Notes |
# |---|---|---|
# | [00 · Tour of a fresh cluster](00-tour-of-a-fresh-cluster.ipynb) | Necessary | the three `kubectl get` views |
# | Deployments and ReplicaSets | Necessary | a Deployment keeps N pods running |
# | Owner references and garbage collection | Helpful | [Owners and dependents](https://kubernetes.io/docs/concepts/overview/working-with-objects/owners-dependents/) |
#
# **Time to complete:** about 15 minutes

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Which cluster am I on?
#
# | On kind | On the simulator |
# |---|---|
# | pods run agnhost `netexec` (loaded by `make cluster`), get IPs from kindnetd | the simulated kubelet assigns IPs from the same podCIDRs |
# | zones come from the node labels in `kind-cluster.yaml` | the same labels, booted from the same file |

# %% slideshow={"slide_type": "-"} tags=["cluster-check"]
import pandas as pd
from IPython.display import HTML, display

import helpers as h
from helpers import kube

cluster = h.connect()
ns = h.sandbox("ch01")
nodes = h.nodes_table()
assert nodes["ready"].all(), "Not every node is Ready: wait a minute (kind) or restart the simulator."
print(f"{len(nodes)} nodes, all Ready; sandbox namespace: {ns.name}")

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 1. A Deployment and a Service
#
# Three pods labelled `app=web`, and a Service `web` whose selector is `app=web`.

# %% slideshow={"slide_type": "-"}
h.apply(h.deployment("web", replicas=3, readiness_gate=False), h.service("web"), namespace=ns.name)
h.wait_for_slices(ns.name, "web", endpoints=3, ready=3)
h.pods_table(ns.name)

# %% [markdown] slideshow={"slide_type": "fragment"}
# **What it shows:** three Running, Ready pods, each with its own IP on a worker node. **Why it
# matters:** nobody told the Service about these IPs. Two controllers saw a Service with a selector,
# found the matching pods, and wrote the addresses down for us — that is what we look at next.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 2. The Endpoints object: same name as the Service

# %% slideshow={"slide_type": "-"}
h.kubectl("get", "endpoints", "web", "-n", ns.name, "-o", "yaml")

# %% [markdown] slideshow={"slide_type": "fragment"}
# **What it shows:** an object named `web` (like the Service), with `subsets`: a list of `addresses`
# (`ip`, `nodeName`, `targetRef` pointing at the pod) sharing one list of `ports`. Not-ready pods would
# go into a separate `notReadyAddresses` list. Note the deprecation warning again, and the label
# `endpoints.kubernetes.io/managed-by: endpoint-controller` (added in 1.33).
#
# **Why it matters:** everything about the Service's backends is one object. Any change to any pod
# rewrites all of it — fine for three pods, a problem for thousands (chapter 02).

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 3. The EndpointSlice: found by label

# %% slideshow={"slide_type": "-"}
h.kubectl("get", "endpointslices", "-n", ns.name, "-l", f"{kube.LABEL_SERVICE_NAME}=web", "-o", "yaml")

# %% [markdown] slideshow={"slide_type": "fragment"}
# **What it shows:** one slice named `web-xxxxx`. Reading it top to bottom:
#
# | Field | Meaning |
# |---|---|
# | `addressType` | `IPv4` here; a slice carries one family (`IPv4`, `IPv6`; `FQDN` is deprecated) |
# | `ports[]` | name (the Service port's name), `port` (the number *on the pod*), `protocol` |
# | `endpoints[].addresses` | the pod IP (a list, but the controller writes one address per endpoint) |
# | `endpoints[].conditions` | `ready`, `serving`, `terminating` — three booleans instead of two lists |
# | `endpoints[].nodeName` | the node running the pod |
# | `endpoints[].zone` | copied from the node's `topology.kubernetes.io/zone` label |
# | `endpoints[].targetRef` | the Pod (kind, namespace, name, uid) |
# | `metadata.labels` | `kubernetes.io/service-name=web` and `endpointslice.kubernetes.io/managed-by=endpointslice-controller.k8s.io` |
# | `metadata.ownerReferences` | the Service `web` (controller: true), so deleting the Service deletes its slices |
# | `metadata.annotations` | may hold `endpoints.kubernetes.io/last-change-trigger-time`, the time of the change behind the write; a write with no newer pod or Service change behind it removes it, so it is not always there (chapter 04) |
# | `metadata.generateName` | `web-`: the API server appended the random suffix |

# %% [markdown] slideshow={"slide_type": "notes"}
# > **Presenter note:** Point at `conditions`: that one field is why terminating pods can stay in slices while Endpoints has
# > to drop them (chapter 05).

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 4. Side by side
#
# The helpers flatten both objects into one row per address.

# %% slideshow={"slide_type": "-"}
endpoints_view = h.endpoints_table(ns.name, service="web")
slices_view = h.slices_table(ns.name, service="web")
display(HTML('<div style="display:flex;gap:2em;align-items:flex-start">'
             f"<div><b>Endpoints web</b>{endpoints_view.to_html(index=False)}</div>"
             f"<div><b>EndpointSlices of web</b>{slices_view.to_html(index=False)}</div></div>"))

# %% [markdown] slideshow={"slide_type": "fragment"}
# **What it shows:** the same three addresses. The slice rows add `serving`, `terminating` and `zone`;
# the Endpoints rows only know ready or not ready. **Why it matters:** newer Service features —
# the `serving`/`terminating` conditions behind graceful draining, topology-aware routing and
# `trafficDistribution`, dual-stack (one slice set per family) — exist only in the slice shape.

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### The metadata that ties a slice to its Service

# %% slideshow={"slide_type": "-"}
web_slice = h.list_objects("endpointslices", ns.name, selector=f"{kube.LABEL_SERVICE_NAME}=web")[0]
meta = web_slice["metadata"]
owner = meta["ownerReferences"][0]
pd.Series({**{f"labels[{key}]": value for key, value in meta["labels"].items()},
           **{f"ownerReferences[0].{key}": owner[key] for key in ("kind", "name", "controller", "blockOwnerDeletion")},
           **{f"annotations[{key}]": value for key, value in (meta.get("annotations") or {}).items()},
           "generateName": meta.get("generateName")}, name="value").to_frame()

# %% [markdown] slideshow={"slide_type": "fragment"}
# **What it shows:** the two labels the controller always sets (a third reserved label,
# `service.kubernetes.io/headless`, appears only on slices of headless Services) and the owner
# reference to Service `web`. **Why it matters:** consumers (kube-proxy, ingress controllers, meshes)
# select slices with `kubernetes.io/service-name`; the controller itself only touches slices whose `managed-by` is its
# own, so other writers can publish slices for the same Service without being overwritten.
# (Upstream: `staging/src/k8s.io/endpointslice/utils.go`, `newEndpointSlice` and
# `setEndpointSliceLabels`.)

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Exercise 1: one pod, two Services
#
# Create a second Service `web-alt` that selects the same pods (`selector={"app": "web"}`) on port
# 8080, forwarding to the pods' port 80. Predict first: which port number will `web-alt`'s slice list,
# 8080 or 80? Record it in `prediction_port`. Done when `web-alt` has its own slice with the 3 pods in it.

# %% slideshow={"slide_type": "-"}
prediction_port = None  # your turn: 8080 or 80
# ... then create the Service

# %% slideshow={"slide_type": "skip"} tags=["solution"] jupyter={"source_hidden": true}
# Solution: expand this cell to compare it with yours.
prediction_port = 80  # a slice's ports[].port is the number on the pod (the targetPort)
h.apply(h.service("web-alt", selector={"app": "web"}, ports=((8080, 80),)), namespace=ns.name)
slices = h.wait_for_slices(ns.name, "web-alt", endpoints=3, ready=3)

# %% slideshow={"slide_type": "-"} tags=["verify"]
alt = h.list_objects("endpointslices", ns.name, selector=f"{kube.LABEL_SERVICE_NAME}=web-alt")
count = sum(len(s.get("endpoints") or []) for s in alt)
assert count == 3, (f"web-alt's slices hold {count} endpoints, expected 3. Hint: "
                    "which pods does its selector match, and on which port do they listen?")
assert prediction_port in (8080, 80), "Record 8080 or 80 in `prediction_port` first."
slice_port = alt[0]["ports"][0]["port"]
print(f"You predicted {prediction_port}; web-alt's slice lists {slice_port}"
      f"{' — right.' if prediction_port == slice_port else ' — see the ports[] row of the table in section 2.'}")
print("✓ The same pods appear in a second slice, owned by web-alt. Its port is",
      slice_port, "— the pod's port, not the Service's 8080.")

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Exercise 2: grow the slice
#
# Scale `web` to 5 replicas. Predict: a new slice, or a bigger one? Record `"new"` or `"bigger"` in
# `prediction`. Done when the slices of `web` list 5 ready endpoints.

# %% slideshow={"slide_type": "-"}
prediction = None  # your turn: "new" or "bigger"
# ... then scale

# %% slideshow={"slide_type": "skip"} tags=["solution"] jupyter={"source_hidden": true}
# Solution: expand this cell to compare it with yours.
prediction = "bigger"  # far below 100 endpoints per slice
h.scale("web", 5, ns.name)
slices = h.wait_for_slices(ns.name, "web", endpoints=5, ready=5)

# %% slideshow={"slide_type": "-"} tags=["verify"]
grown = h.list_objects("endpointslices", ns.name, selector=f"{kube.LABEL_SERVICE_NAME}=web")
ready = sum(bool(e["conditions"].get("ready")) for s in grown for e in s.get("endpoints") or [])
assert ready == 5, f"{ready} ready endpoints, expected 5. Hint: which object owns the replica count?"
assert prediction in ("new", "bigger"), 'Record "new" or "bigger" in `prediction` first.'
outcome = "bigger" if len(grown) == 1 else "new"
print(f"✓ 5 ready endpoints in {len(grown)} slice(s): below 100 endpoints, the existing slice grows. "
      f"You predicted {prediction!r}: {'right' if prediction == outcome else 'not this time'}.")

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Cleanup

# %% slideshow={"slide_type": "-"} tags=["cleanup"]
ns.cleanup()

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Summary
#
# - For a Service with a selector, the control plane writes an Endpoints object named like the Service
#   and EndpointSlices named `<service>-xxxxx`, found by the label `kubernetes.io/service-name`.
# - A slice has one `addressType`, a list of `ports` (numbers on the pods), and `endpoints` with
#   `addresses`, `conditions` (ready, serving, terminating), `nodeName`, `zone` and a `targetRef`.
# - Slices are owned by their Service and marked `managed-by` their writer.
# - A pod can be an endpoint of several Services at once; each Service gets its own slices.

# %% [markdown] slideshow={"slide_type": "subslide"}
# ## What's next
#
# [02 · When are slices made?](02-when-slices-are-made.ipynb): selector vs selectorless Services,
# the empty placeholder slice, and what happens at 100 endpoints. Upstream: the API type in
# `staging/src/k8s.io/api/discovery/v1/types.go`.
