# %% [markdown] slideshow={"slide_type": "slide"}
# # 11 · Who else reads EndpointSlices, and operating them
#
# **The short answer:** kube-proxy is only the best-known reader. Cluster DNS, Ingress and Gateway
# controllers, service meshes and multi-cluster controllers all list and watch the same slices, and some
# of them write their own. Every reader trusts what a slice says, which is why writing one is a
# privilege, and every reader pays for every slice write, which is why operators watch a handful of
# metrics. This chapter shows who reads what, what a hand-written or imported slice does to the data
# plane, and how to watch the whole pipeline with the metrics kube-proxy exports.

# %% [markdown] slideshow={"slide_type": "notes"}
# > **Presenter note:** Open with the question "who else is watching?" and let the room list readers before showing the table.

# %% [markdown] slideshow={"slide_type": "subslide"}
# ## Learning objectives
#
# After this chapter you can:
# 1. *name* the readers of EndpointSlices besides kube-proxy and which slices each one selects;
# 2. *explain* why write access to EndpointSlices is not in the default `edit` role (CVE-2021-25740);
# 3. *predict* whether kube-proxy programs a slice from its labels (`kubernetes.io/service-name`);
# 4. *read* kube-proxy's network-programming latency from its `/metrics` page;
# 5. *plan* for the operational changes ahead: KEP-4974 and the kube-proxy mode roadmap.

# %% [markdown] slideshow={"slide_type": "subslide"}
# ## Prerequisites
#
# | Concept | Importance | Notes |
# |---|---|---|
# | [05 · Endpoint vs pod](05-endpoint-vs-pod.ipynb) | Necessary | hand-written slices for selectorless Services |
# | [07 · kube-proxy and EndpointSlices](07-kube-proxy-and-endpointslices.ipynb) | Necessary | what kube-proxy watches and programs |
# | [KEP-1645](https://github.com/kubernetes/enhancements/tree/master/keps/sig-multicluster/1645-multi-cluster-services-api) | Helpful | the Multi-Cluster Services API |
# | Prometheus text format | Helpful | `# HELP`, `# TYPE`, histogram buckets |
#
# **Time to complete:** about 15 minutes

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Which cluster am I on?
#
# The next cell connects to the project's kind cluster or, when none answers, to the built-in simulator,
# and prints which one it picked. It then creates this chapter's sandbox namespace.
#
# | On kind | On the simulator |
# |---|---|
# | kube-proxy's `/metrics` has every upstream series, for IPv4 and IPv6 | only the series the simulator records (network-programming latency, last sync), IPv4 |
# | CoreDNS, and whatever else you installed, reads the slices too | kube-proxy is the only modelled reader |

# %% slideshow={"slide_type": "-"} tags=["cluster-check"]
import pandas as pd

import helpers as h
from helpers import kube

cluster = h.connect()
ns = h.sandbox("ch11")
nodes = h.nodes_table()
assert nodes["ready"].all(), "Not every node is Ready: wait a minute (kind) or restart the simulator."
print(f"{len(nodes)} nodes, all Ready; sandbox namespace: {ns.name}")

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 1. The readers
#
# Each reader selects slices by label and merges them per Service, as kube-proxy does (chapter 07):

# %% slideshow={"slide_type": "-"}
readers = pd.DataFrame([
    ("kube-proxy", "every slice except those labelled service.kubernetes.io/headless",
     "node rules (iptables, nftables)", "cmd/kube-proxy/app/server.go"),
    ("CoreDNS (kubernetes plugin)", "every slice (it answers headless Services from their ready addresses)",
     "A/AAAA and SRV records", "coredns/coredns plugin/kubernetes"),
    ("Ingress and Gateway API controllers", "slices of the Services their routes name",
     "proxy upstreams (they skip the ClusterIP)", "e.g. ingress-nginx, Envoy Gateway"),
    ("service meshes", "slices of meshed Services", "sidecar or ambient proxy endpoints", "e.g. Istio, Linkerd"),
    ("Multi-Cluster Services controllers", "slices they import, labelled multicluster.kubernetes.io/service-name",
     "slices in other clusters", "KEP-1645"),
    ("CNI-based proxies", "the same selectors as kube-proxy", "eBPF maps or OVS flows", "chapter 10"),
], columns=["reader", "selects", "programs", "source"]).set_index("reader")
readers

# %% [markdown] slideshow={"slide_type": "fragment"}
# **What it shows:** six kinds of readers, one API. **Why it matters:** a change to a slice, for example
# one pod turning not-ready, is fanned out to each of them; and whatever a slice says is believed by all
# of them, which the next section turns into a security question.

# %% [markdown] slideshow={"slide_type": "notes"}
# > **Presenter note:** CoreDNS is the reader most people forget: headless Services are answered from slices, not from the
# > ClusterIP path, so `publishNotReadyAddresses` changes DNS answers, not kube-proxy rules.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 2. A slice is trusted: hand-written endpoints
#
# A selectorless Service `db` and a slice that you write yourself, pointing at `192.0.2.30`
# (a documentation address standing for anything outside your namespace):

# %% slideshow={"slide_type": "-"}
db = h.service("db", ports=((5432, 5432),))
del db["spec"]["selector"]
hand_written = {
    "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
    "metadata": {"name": "db-1", "labels": {kube.LABEL_SERVICE_NAME: "db", kube.LABEL_MANAGED_BY: "staff.example.com"}},
    "addressType": "IPv4",
    "ports": [{"name": "http", "port": 5432, "protocol": "TCP"}],
    "endpoints": [{"addresses": ["192.0.2.30"], "conditions": {"ready": True}}],
}
h.apply(db, hand_written, namespace=ns.name)
worker = "endpoints-worker"
rules = h.wait_for_rules(worker, "192.0.2.30")
print("\n".join(line for line in rules.splitlines() if "192.0.2.30" in line))

# %% [markdown] slideshow={"slide_type": "fragment"}
# **What it shows:** kube-proxy on `endpoints-worker` now DNATs the Service's traffic to `192.0.2.30`, an
# address no pod of yours owns. Nothing checks that an endpoint belongs to the Service's namespace, or to
# a pod at all. **Why it matters:** this is CVE-2021-25740 (kubernetes/kubernetes#103675): whoever may
# write Endpoints or EndpointSlices can steer a LoadBalancer or Ingress that trusts them towards backends
# they could not otherwise reach, around NetworkPolicy. Since 1.22 the aggregated `edit` and `admin`
# roles of new clusters no longer grant writes to Endpoints (PR #103704), and EndpointSlice writes were
# taken out before they were ever released (PR #103703). Grant them only to controllers you trust.

# %% [markdown] slideshow={"slide_type": "notes"}
# > **Presenter note:** Existing clusters upgraded to 1.22 kept the old aggregated role; the RBAC docs say how to remove it.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 3. Slices kube-proxy does not read: imported Multi-Cluster Services
#
# A Multi-Cluster Services controller (KEP-1645) writes the endpoints of a Service exported by another
# cluster as slices labelled `multicluster.kubernetes.io/service-name` (the ServiceImport) and
# `multicluster.kubernetes.io/source-cluster`, with its own `managed-by`. Such a slice, for `db`:

# %% slideshow={"slide_type": "-"}
imported = {
    "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
    "metadata": {"name": "db-imported", "labels": {
        "multicluster.kubernetes.io/service-name": "db", "multicluster.kubernetes.io/source-cluster": "east",
        kube.LABEL_MANAGED_BY: "mcs-controller.example.com"}},
    "addressType": "IPv4",
    "ports": [{"name": "http", "port": 5432, "protocol": "TCP"}],
    "endpoints": [{"addresses": ["192.0.2.31"], "conditions": {"ready": True}}],
}
h.apply(imported, namespace=ns.name)
h.slices_table(ns.name)

# %% [markdown] slideshow={"slide_type": "fragment"}
# Both slices are in the namespace. Which of them does kube-proxy program? The `kubernetes.io/service-name`
# label is how it files a slice under a Service (`EndpointSliceCache`, `pkg/proxy/endpointslicecache.go`);
# a slice without it is ignored with a log line. Exercise 1 asks you to check the rules.

# %% [markdown] slideshow={"slide_type": "notes"}
# > **Presenter note:** MCS implementations that want kube-proxy to route imported endpoints also create a "derived" Service
# > and point `kubernetes.io/service-name` at it; which one they do is implementation-specific.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Exercise 1: predict, then check
#
# Predict whether `endpoints-worker`'s rules mention `192.0.2.31` (the imported slice's address). Record
# your prediction as `True` or `False` in `prediction`, then read the rules into `worker_rules`.

# %% slideshow={"slide_type": "-"}
prediction = None  # your turn: True or False
# your turn: worker_rules = ...

# %% slideshow={"slide_type": "skip"} tags=["solution"] jupyter={"source_hidden": true}
# Solution: expand this cell to compare it with yours.
# kube-proxy files slices by kubernetes.io/service-name; the imported slice has none.
prediction = False
if cluster.is_sim:
    h.advance(2)  # past minSyncPeriod: every node has synced
worker_rules = h.node_rules(worker)

# %% slideshow={"slide_type": "-"} tags=["verify"]
assert prediction in (True, False), "Set `prediction` to True or False before you look at the rules."
assert "worker_rules" in dir(), "Read the node's rules first (see h.node_rules in chapter 07)."
programmed = "192.0.2.31" in worker_rules
assert "192.0.2.30" in worker_rules, "The hand-written slice's address should be in the rules; re-run section 2."
print(f"✓ kube-proxy {'programs' if programmed else 'does not program'} the imported slice; "
      f"you predicted {'it would' if prediction else 'it would not'}"
      f"{' — right.' if prediction == programmed else ' — look at its labels again.'}")

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 4. Watching the pipeline: kube-proxy's metrics
#
# kube-proxy measures, for every slice change it programs, the time from the slice's
# `endpoints.kubernetes.io/last-change-trigger-time` to the sync that programmed it: the
# `kubeproxy_network_programming_duration_seconds` histogram on its `/metrics` port (10249). SIG
# Scalability's network-programming-latency SLI is defined on it. Scale a Deployment and read it on one
# node:

# %% slideshow={"slide_type": "-"}
h.apply(h.deployment("web", replicas=3), h.service("web"), namespace=ns.name)
h.wait_for_slices(ns.name, "web", endpoints=3, ready=3)
h.wait_for_rules(worker, f"{ns.name}/web")
if cluster.is_sim:
    h.advance(2)  # past minSyncPeriod: the sync with all three endpoints has run
metrics = h.proxy_metrics(worker, prefix="kubeproxy_network_programming_duration_seconds")
ipv4 = metrics[metrics["labels"].map(lambda labels: labels.get("ip_family")) == "IPv4"]
observed = ipv4.loc[ipv4["metric"].str.endswith("_count"), "value"].sum()
buckets = ipv4[ipv4["metric"].str.endswith("_bucket")]
first_full = buckets.loc[buckets["value"] >= buckets["value"].max(), "labels"].iloc[0]["le"]
print(f"{observed:.0f} observations on {worker}; every one of them within le={first_full} s")

# %% [markdown] slideshow={"slide_type": "fragment"}
# **What it shows:** the number of programmed changes with a trigger time, and the smallest bucket that
# holds all of them. Both the pod start and kube-proxy's `minSyncPeriod` sit inside this number, which is
# why it reads in seconds, not milliseconds. **Why it matters:** it is the one number that covers the
# whole path of chapters 04 to 07. Next to it operators watch `kubeproxy_sync_proxy_rules_duration_seconds`
# (how long a sync takes: rules grow with Services and endpoints, chapter 07),
# `kubeproxy_sync_proxy_rules_last_timestamp_seconds` (a node that stopped syncing), and, on the
# controller side, kube-controller-manager's `endpoint_slice_controller_changes` (slice creates, updates and
# deletes; `k8s.io/endpointslice/metrics`) and `endpoint_slice_controller_syncs` (successful and failed
# Service syncs).

# %% [markdown] slideshow={"slide_type": "notes"}
# > **Presenter note:** On kind the page has dozens of kubeproxy_ series, for IPv4 and IPv6 (kind's kube-proxy runs a dual-stack
# > proxier); the simulator serves only the two series it records and says so in helpers/sim/proxymetrics.py.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Exercise 2: when did this node last sync?
#
# Read `kubeproxy_sync_proxy_rules_last_timestamp_seconds` (IPv4) of `endpoints-worker2` into
# `last_sync` (seconds since the epoch, a float). Predict first: has that node synced since `web`'s slice
# last changed in section 4 (its `endpoints.kubernetes.io/last-change-trigger-time`)? Record `True` or
# `False` in `prediction_synced`. Done when `last_sync` is no later than the cluster's clock.

# %% slideshow={"slide_type": "-"}
prediction_synced = None  # your turn: True or False
# your turn: last_sync = ...

# %% slideshow={"slide_type": "skip"} tags=["solution"] jupyter={"source_hidden": true}
# Solution: expand this cell to compare it with yours.
prediction_synced = True  # every node's kube-proxy syncs after each slice change, past minSyncPeriod
samples = h.proxy_metrics("endpoints-worker2", prefix="kubeproxy_sync_proxy_rules_last_timestamp_seconds")
last_sync = samples[samples["labels"].map(lambda labels: labels.get("ip_family")) == "IPv4"]["value"].item()

# %% slideshow={"slide_type": "-"} tags=["verify"]
assert "last_sync" in dir() and isinstance(last_sync, float), (
    "`last_sync` should be a float read from h.proxy_metrics('endpoints-worker2', prefix=...).")
lag = h.cluster_time().timestamp() - last_sync
assert lag >= 0, "That timestamp is in the future: is it the IPv4 sample of endpoints-worker2?"
assert prediction_synced in (True, False), "Record True or False in `prediction_synced` first."
web_slices = h.list_objects("endpointslices", ns.name, selector=f"{kube.LABEL_SERVICE_NAME}=web")
changed = max(kube.epoch(s["metadata"]["annotations"][kube.ANNOTATION_TRIGGER_TIME]) for s in web_slices)
synced = last_sync >= changed
print(f"You predicted {prediction_synced}; endpoints-worker2 {'has' if synced else 'has not'} synced since web's "
      f"slice changed{' — right.' if prediction_synced == synced else ' — every node watches every slice.'}")
print(f"✓ endpoints-worker2 last synced {lag:.1f} s ago (cluster clock).")

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 5. What is changing for operators
#
# | Change | What it means | Source |
# |---|---|---|
# | Endpoints deprecated (1.33) | every read or write of v1 Endpoints warns; readers should move to slices | KEP-4974 |
# | Endpoints and mirroring controllers can be turned off | kube-controller-manager `--controllers=*,-endpoints-controller,-endpointslice-mirroring-controller` once nothing reads or writes Endpoints | KEP-4974, `cmd/kube-controller-manager/names` |
# | nftables mode GA (1.33) | the successor of iptables mode; chapter 07 shows both rule sets | KEP-3866 |
# | IPVS mode deprecated | v1.36's kube-proxy warns at start and records an `IPVSDeprecation` Event: plan a move to nftables | `cmd/kube-proxy/app/server_linux.go` |
#
# **Why it matters:** the first two rows remove a second copy of every endpoint from etcd and from
# every watcher; the last two change what `h.node_rules` shows on your nodes.

# %% [markdown] slideshow={"slide_type": "notes"}
# > **Presenter note:** Ask who in the room still has tools that read v1 Endpoints: those block turning the controllers off.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Cleanup
#
# Delete the sandbox namespace; everything the chapter created lives in it.

# %% slideshow={"slide_type": "-"} tags=["cleanup"]
ns.cleanup()

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Summary
#
# - Besides kube-proxy, CoreDNS, Ingress and Gateway controllers, meshes, MCS controllers and CNI-based
#   proxies read EndpointSlices; each selects by label and merges per Service.
# - Every reader trusts a slice's addresses, so write access to slices steers traffic (CVE-2021-25740);
#   the default `edit` and `admin` roles do not grant it since 1.22.
# - kube-proxy programs a slice only if `kubernetes.io/service-name` names a Service it knows; imported
#   MCS slices carry `multicluster.kubernetes.io/service-name` instead.
# - `kubeproxy_network_programming_duration_seconds` measures the whole path from a pod change to a node's
#   rules; watch it with the sync duration and last-sync timestamp.
# - Endpoints is deprecated (KEP-4974); nftables is the proxy mode to move to.

# %% [markdown] slideshow={"slide_type": "subslide"}
# ## What's next
#
# This is the last chapter: back to the [chapter index](README.md). Upstream reading: KEP-1645 (MCS),
# KEP-4974 (deprecating Endpoints), `pkg/proxy/metrics/metrics.go`, and the RBAC page's note on
# Endpoints write access.
