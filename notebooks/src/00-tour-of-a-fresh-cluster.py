# %% [markdown] slideshow={"slide_type": "slide"}
# # 00 · Tour of a fresh cluster
#
# Before creating anything, look at what a brand-new cluster already contains. Every Service you list
# turns up twice more: once as an **Endpoints** object and once as one or more **EndpointSlices**.
# This chapter reads those three lists column by column and explains why a cluster keeps both.

# %% [markdown] slideshow={"slide_type": "notes"}
# > **Presenter note:** Open with the question from the series title: "what is an endpoint, anyway?" — the short answer is
# > "an address (usually a pod's) that a Service forwards to", and this chapter shows where they live.

# %% [markdown] slideshow={"slide_type": "subslide"}
# ## Learning objectives
#
# After this chapter you can:
# 1. *read* the columns of `kubectl get services`, `get endpoints` and `get endpointslices`;
# 2. *explain* why every Service with a selector has both an Endpoints object and EndpointSlices, and
#    who writes each of them;
# 3. *recognise* the deprecation warning on Endpoints and *find* a Service's slices by label;
# 4. *predict* that a Service selects pods only in its own namespace.

# %% [markdown] slideshow={"slide_type": "subslide"}
# ## Prerequisites
#
# | Concept | Importance | Notes |
# |---|---|---|
# | Pods, Deployments, Services | Necessary | [Service concept page](https://kubernetes.io/docs/concepts/services-networking/service/) |
# | `kubectl get` | Necessary | reading tabular output |
# | Labels and selectors | Helpful | [Labels and selectors](https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/) |
# | Python and pandas basics | Helpful | the chapters call short `helpers` functions |
#
# **Time to complete:** about 15 minutes

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Which cluster am I on?
#
# `h.connect()` picks the project's kind cluster (`kind-endpoints`) when it answers and otherwise the
# built-in simulator, and prints one line saying which. It never uses your kubeconfig's current context
# by accident. `h.sandbox("ch00")` then creates a fresh namespace for this chapter's exercises.
#
# | On kind | On the simulator |
# |---|---|
# | real control plane, kubelets, containers and kube-proxy in Docker | a simulated cluster (`helpers.sim`) that serves the Kubernetes API to the real kubectl and Python client; the banner says it is a simulation |
# | `AGE` columns count real time | `AGE` counts the simulator's virtual time |
# | CNI is kindnetd; pod IPs come from each node's podCIDR | the same podCIDRs, assigned by a model of host-local IPAM |

# %% slideshow={"slide_type": "-"} tags=["cluster-check"]
import helpers as h
from helpers import kube

cluster = h.connect()
ns = h.sandbox("ch00")
nodes = h.nodes_table()
assert nodes["ready"].all(), "Not every node is Ready: wait a minute (kind) or restart the simulator."
print(f"{len(nodes)} nodes, all Ready; sandbox namespace: {ns.name}")
nodes

# %% [markdown] slideshow={"slide_type": "fragment"}
# **What it shows:** the backend banner and the three nodes `kind-cluster.yaml` asks for (one control
# plane, two workers), each with a `podCIDR` — the range its pods' IPs come from — and a zone label.
# **Why it matters:** every endpoint you will meet is an address on one of these nodes.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 1. Services
#
# A Service is a stable name and virtual IP for a changing set of pods.

# %% slideshow={"slide_type": "-"}
h.kubectl("get", "services", "-A")

# %% [markdown] slideshow={"slide_type": "fragment"}
# **What it shows:** a fresh cluster has two Services.
# - `default/kubernetes` is the API server itself (port 443). The API server creates and maintains it.
# - `kube-system/kube-dns` fronts the CoreDNS pods on port 53 (UDP and TCP) plus 9153 for metrics.
#
# Columns: `TYPE` (ClusterIP: reachable inside the cluster only), `CLUSTER-IP` (the virtual IP, taken
# from the service subnet `10.96.0.0/16`), `EXTERNAL-IP` (a LoadBalancer's address, any `spec.externalIPs`,
# or an ExternalName Service's DNS name; `<none>` here), `PORT(S)` (port/protocol), `AGE`.
#
# **Why it matters:** a ClusterIP belongs to no machine. Something has to turn "10.96.0.10:53" into the
# address of a real pod, and that something needs a list of those addresses: the endpoints.

# %% [markdown] slideshow={"slide_type": "notes"}
# > **Presenter note:** Ask the room: which process answers when a pod sends a packet to 10.96.0.10? (Nobody "answers"; the
# > node's kube-proxy rules rewrite the destination — chapter 07.)

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 2. Endpoints (the original API)

# %% slideshow={"slide_type": "-"}
h.kubectl("get", "endpoints", "-A")

# %% [markdown] slideshow={"slide_type": "fragment"}
# **What it shows:** one Endpoints object per Service, with **the same name as the Service**. The
# `ENDPOINTS` column lists `ip:port` pairs: the control-plane node's address on 6443 for `kubernetes`,
# and each CoreDNS pod on every port for `kube-dns` (kubectl shortens long lists to `+ N more...`).
#
# Look at the `Warning:` line under the table (kubectl writes it to stderr, shown here after the
# output): `Warning: v1 Endpoints is deprecated in v1.33+; use discovery.k8s.io/v1 EndpointSlice`.
# Since Kubernetes 1.33 the API server sends it on every read and write of a v1 Endpoints object
# ([KEP-4974](https://github.com/kubernetes/enhancements/issues/4974); kubernetes.io blog, 2025-04-24,
# "Continuing the transition from Endpoints to EndpointSlices").
# The type is not going away soon, but new Service features (dual-stack, `trafficDistribution`) exist
# only in EndpointSlices, and kube-proxy no longer reads Endpoints at all.
#
# **Why it matters:** tutorials written before 2025 still teach `kubectl get endpoints`. It works,
# it warns, and it can hide information (chapter 05 shows what it leaves out).

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 3. EndpointSlices (what kube-proxy reads)

# %% slideshow={"slide_type": "-"}
h.kubectl("get", "endpointslices", "-A")

# %% [markdown] slideshow={"slide_type": "fragment"}
# **What it shows:** the same addresses again, in a different shape.
# - `NAME`: the API server's own slice is simply `kubernetes`; controller-made slices are named
#   `<service>-<5 random characters>` (for example `kube-dns-x7k2p`), because one Service may own
#   several slices.
# - `ADDRESSTYPE`: `IPv4` or `IPv6` — a slice holds one address family only.
# - `PORTS`: the port *numbers* the endpoints listen on, one entry per slice port — `53,53,9153` for
#   CoreDNS, because DNS is served on 53/UDP and 53/TCP; port names and protocols live inside the object.
# - `ENDPOINTS`: the addresses, each listed once no matter how many ports.
#
# **Why it matters:** since Kubernetes 1.19 (1.21 on Windows) kube-proxy builds its rules from
# EndpointSlices, not Endpoints. A slice is the object whose every change ends up on every node.

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Finding a Service's slices: by label, never by name
#
# The random suffix means you cannot guess a slice's name. Every slice carries the label
# `kubernetes.io/service-name=<service>`, and `endpointslice.kubernetes.io/managed-by` says who wrote it.

# %% slideshow={"slide_type": "-"}
h.kubectl("get", "endpointslices", "-A", "-L",
          f"{kube.LABEL_SERVICE_NAME},{kube.LABEL_MANAGED_BY}")

# %% [markdown] slideshow={"slide_type": "fragment"}
# **What it shows:** `kube-dns`'s slice is managed by `endpointslice-controller.k8s.io` (the
# EndpointSlice controller in kube-controller-manager). The `kubernetes` slice has no such value: the
# API server writes its own Service's Endpoints and EndpointSlice directly.
#
# **Why it matters:** `kubectl get endpointslices -l kubernetes.io/service-name=kube-dns -n kube-system`
# is the modern replacement for `kubectl get endpoints kube-dns -n kube-system`.

# %% slideshow={"slide_type": "fragment"}
h.kubectl("get", "endpointslices", "-n", "kube-system", "-l", f"{kube.LABEL_SERVICE_NAME}=kube-dns",
          "-o", "wide")

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 4. Why does every Service have both?
#
# Two independent controllers in kube-controller-manager watch the same Services and Pods:
#
# | | Endpoints controller | EndpointSlice controller |
# |---|---|---|
# | writes | one `Endpoints` per Service, same name | one or more `EndpointSlice`s per Service, `<service>-xxxxx` |
# | found by | name | label `kubernetes.io/service-name` |
# | since | the beginning (v1) | 1.16 alpha, on by default since 1.18, GA 1.21 |
# | limit | truncates above 1000 addresses | 100 endpoints per slice by default (1–1000) |
# | status | deprecated since 1.33, kept for compatibility | what kube-proxy and most tools read |
#
# Neither reads the other's output: they are two views computed from the same inputs. The rest of the
# series follows the slices; chapter 03 tells the story of how the cluster ended up with both.

# %% slideshow={"slide_type": "-"}
h.kubectl("get", "pods", "-n", "kube-system", "-o", "wide")

# %% [markdown] slideshow={"slide_type": "fragment"}
# **What it shows:** the system pods. Two CoreDNS pods (the `kube-dns` endpoints); a `kube-proxy` and a
# `kindnet` pod on every node — these use the node's own IP (`hostNetwork`), so their IP column equals
# the node's address, as do the control-plane pods (etcd, kube-apiserver, kube-controller-manager,
# kube-scheduler). **Why it matters:** each `kube-proxy` watches the cluster's EndpointSlices (all but
# those of headless Services, chapter 07); the cost of a slice update is multiplied by the number of
# nodes (chapter 02).

# %% [markdown] slideshow={"slide_type": "notes"}
# > **Presenter note:** Stress the two-controllers point: people often assume slices are derived from Endpoints. They are
# > not (only the *mirroring* controller copies hand-written Endpoints into slices — chapter 05).

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Exercise 1: your own Service, three views
#
# In your sandbox `ns.name`, create a Deployment `hello` with 2 replicas and a Service `hello` that
# selects it (`h.apply(h.deployment(...), h.service(...), namespace=ns.name)`; pass
# `readiness_gate=False` so the pods become ready on their own). Then list the Service, its Endpoints
# and its slices. Predict first: how many EndpointSlices will `hello` get? Record the number in
# `prediction_slices`. Done when the slices of `hello` list 2 ready endpoints.

# %% slideshow={"slide_type": "-"}
prediction_slices = None  # your turn: how many slices will hello get?
# ... then create the Deployment and the Service

# %% slideshow={"slide_type": "skip"} tags=["solution"] jupyter={"source_hidden": true}
# Solution: expand this cell to compare it with yours.
prediction_slices = 1  # 2 endpoints are far below the default of 100 per slice
h.apply(h.deployment("hello", replicas=2, readiness_gate=False), h.service("hello"), namespace=ns.name)
h.wait_for_slices(ns.name, "hello", endpoints=2, ready=2)
h.kubectl("get", "services,endpoints,endpointslices", "-n", ns.name)

# %% slideshow={"slide_type": "-"} tags=["verify"]
hello = h.slices_table(ns.name, service="hello")
ready = hello["ready"].eq(True).sum() if not hello.empty else 0
assert ready == 2, (
    f"{ready} ready endpoints in the slices of 'hello', expected 2. Hint: does the Service exist in "
    "ns.name? Then wait with h.wait_for_slices(ns.name, 'hello', endpoints=2, ready=2).")
assert isinstance(prediction_slices, int), "Record your prediction (a number of slices) in `prediction_slices` first."
slice_count = hello["slice"].nunique()
print(f"You predicted {prediction_slices} slice(s); hello has {slice_count}"
      f"{' — right.' if prediction_slices == slice_count else ' — compare with the limit of 100 per slice.'}")
print("✓ 'hello' has an Endpoints object named hello and a slice named", hello["slice"].iloc[0])

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Who answered?
#
# The pods run agnhost `netexec`, which replies to `/hostname` with the pod's name. `h.requests`
# sends 20 requests to the Service `hello` from a client pod in the sandbox (it creates one), each
# on a new connection: the client's node DNATs the Service IP to one endpoint of the slice, at
# random. On kind these are real `curl` calls run inside the client pod; on the simulator each one
# walks that node's kube-proxy rules and the modelled agnhost answers. Both show the same thing:
# the requests spread over the two endpoints, and `endpoint` is a pod IP from the slice above.

# %% slideshow={"slide_type": "-"}
answers = h.requests("hello", ns.name, count=20)
answers.groupby(["pod", "endpoint", "outcome"]).size().rename("requests").reset_index()

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Exercise 2: a selector only sees its own namespace
#
# Create a Service `dns-copy` in your sandbox with the **same selector as kube-dns**
# (`{"k8s-app": "kube-dns"}`, port 53). Predict first: how many endpoints will it get? Done when
# `dns-copy` has exactly one slice. Record your prediction in `prediction` first.

# %% slideshow={"slide_type": "-"}
prediction = None  # your turn: how many endpoints will dns-copy get?
# ... then create the Service

# %% slideshow={"slide_type": "skip"} tags=["solution"] jupyter={"source_hidden": true}
# Solution: expand this cell to compare it with yours.
prediction = 0  # a selector matches pods in the Service's own namespace only
h.apply(h.service("dns-copy", selector={"k8s-app": "kube-dns"}, ports=((53, 53),)), namespace=ns.name)
found = h.wait_for("endpointslices", lambda slices: len(slices) == 1, namespace=ns.name,
                   selector=f"{kube.LABEL_SERVICE_NAME}=dns-copy", what="a slice for dns-copy")

# %% slideshow={"slide_type": "-"} tags=["verify"]
copies = h.list_objects("endpointslices", ns.name, selector=f"{kube.LABEL_SERVICE_NAME}=dns-copy")
assert len(copies) == 1, "dns-copy should have exactly one slice. Hint: create the Service in ns.name."
assert not copies[0].get("endpoints"), "dns-copy should have no endpoints — did you create pods?"
assert isinstance(prediction, int), "Record your prediction (a number) in `prediction` first."
print(f"You predicted {prediction} endpoint(s); dns-copy has {len(copies[0].get('endpoints') or [])}.")
print("✓ Zero endpoints: the selector matched nothing, because CoreDNS runs in kube-system.")
print("  The one slice is an empty 'placeholder' — chapter 02 explains why it exists.")

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Cleanup
#
# Deleting the sandbox namespace deletes everything in it: the namespace controller removes the
# Deployment, the Services, their Endpoints and their EndpointSlices. (Deleting just a Service also
# cleans up: its slices go by garbage collection through their owner reference, while its Endpoints
# object, which has no owner reference, is deleted by the Endpoints controller.)

# %% slideshow={"slide_type": "-"} tags=["cleanup"]
ns.cleanup()

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Summary
#
# - A Service is a name and a virtual IP; its **endpoints** are the real addresses behind it.
# - Two controllers publish those addresses twice: an `Endpoints` object named like the Service, and
#   `EndpointSlice`s named `<service>-xxxxx`. The API server maintains `default/kubernetes` itself.
# - Endpoints is deprecated since 1.33 and every access prints a warning; find slices with
#   `-l kubernetes.io/service-name=<service>`.
# - A selector matches pods in the Service's own namespace only; with no match the Service still gets
#   one (empty) slice.

# %% [markdown] slideshow={"slide_type": "subslide"}
# ## What's next
#
# [01 · What is an EndpointSlice?](01-what-is-an-endpointslice.ipynb) opens one slice and one Endpoints
# object field by field. Upstream reading: the
# [EndpointSlices concept page](https://kubernetes.io/docs/concepts/services-networking/endpoint-slices/).
