# %% [markdown] slideshow={"slide_type": "slide"}
# # 09 · How do nodes respond to changing endpoints?
#
# An endpoint changes in one place — a slice — and then every node has to catch up. How fast, how often,
# at what cost as the cluster grows, and what happens when the thing that fails is a node itself? This
# chapter follows a change from a pod turning Ready to the rules on every node, then pulls the plug on a
# worker and watches NotReady, unready endpoints, eviction and recovery on one timeline. Last, it shows
# what the rules do not decide: connections that already exist, which the kernel's conntrack table keeps
# on their endpoint, and the UDP entries kube-proxy has to delete itself.

# %% [markdown] slideshow={"slide_type": "notes"}
# > **Presenter note:** Two clocks matter: kube-proxy's (minSyncPeriod 1 s, syncPeriod 30 s) and the node lifecycle controller's
# > (grace period, then 300 s tolerations). Keep them apart when explaining the timeline.

# %% [markdown] slideshow={"slide_type": "subslide"}
# ## Learning objectives
#
# After this chapter you can:
# 1. *trace* a readiness change from the pod to the rules of every node, and read kube-proxy's sync log;
# 2. *explain* `minSyncPeriod`, `syncPeriod`, and full vs partial syncs (KEP-3453);
# 3. *predict* how a node's rules and sync payload grow with the number of Services, in iptables and nftables mode;
# 4. *describe* what happens to endpoints when a node fails: NotReady, endpoints not ready, eviction,
#    terminating endpoints, recovery;
# 5. *predict* where an established connection goes when its endpoint leaves the rules, and which UDP
#    conntrack entries kube-proxy deletes (and which it leaves).
# 6. *compare* graceful node shutdown, a pulled plug and the out-of-service taint by what they do to endpoints;
# 7. *predict* which endpoints each node uses under `topology-mode: Auto` (CPU-proportional zone hints and
#    their safeguards) and `trafficDistribution` (`PreferSameZone`, `PreferSameNode`), and how the Local
#    traffic policies override both.

# %% [markdown] slideshow={"slide_type": "subslide"}
# ## Prerequisites
#
# | Concept | Importance | Notes |
# |---|---|---|
# | [04 · What happens when an endpoint is created?](04-what-happens-when-an-endpoint-is-created.ipynb) | Necessary | traces, trigger time |
# | [07 · kube-proxy and EndpointSlices](07-kube-proxy-and-endpointslices.ipynb) | Necessary | the rules a node programs |
# | Taints and tolerations | Helpful | [Taint based evictions](https://kubernetes.io/docs/concepts/scheduling-eviction/taint-and-toleration/#taint-based-evictions) |
#
# **Time to complete:** about 30 minutes (on kind, plus grace period + toleration seconds of waiting in section 4)

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Which cluster am I on?
#
# | On kind | On the simulator |
# |---|---|
# | a node failure is `docker stop`; the timeline takes real minutes (grace period, then tolerations) | `POST /sim/nodes/<node>/stop`; the virtual clock is fast-forwarded with `h.advance`, so minutes take seconds |
# | kube-proxy logs syncs only at `-v=2` | the simulated kube-proxies log every sync |
# | a held connection is `nc` in a terminal (`kubectl exec -it ... -- nc`) | `h.open_connection` holds one and `.send()` uses it |
#
# Timings come from `kind-cluster.yaml`: `node-monitor-grace-period` and the default toleration seconds.

# %% slideshow={"slide_type": "-"} tags=["cluster-check"]
import matplotlib.pyplot as plt
import pandas as pd
from IPython.display import display

import helpers as h
from helpers import kube
from helpers.config import load_cluster_config
from helpers.dataplane import stats

cluster = h.connect()
ns = h.sandbox("ch09")
nodes = h.nodes_table()
assert nodes["ready"].all(), "Not every node is Ready: wait a minute (kind) or restart the simulator."
print(f"{len(nodes)} nodes, all Ready; sandbox namespace: {ns.name}")
timing = load_cluster_config()


def let_time_pass(seconds):
    """Simulator: fast-forward the virtual clock. kind: nothing — the wait that follows lets real time pass."""
    if cluster.is_sim:
        h.advance(seconds)


# %% [markdown] slideshow={"slide_type": "slide"}
# ## 1. From pod Ready to rules on every node
#
# Four `web` pods behind a readiness gate, all Ready. Then make one unready and ready again while a trace
# records pods and slices; the trace also collects kube-proxy's syncs from its pods' logs.

# %% slideshow={"slide_type": "-"}
h.apply(h.deployment("web", replicas=4, readiness_gate=True), h.service("web"), namespace=ns.name)
h.wait_for_slices(ns.name, "web", endpoints=4)
h.set_ready(h.list_objects("pods", ns.name, selector="app=web"), True, ns.name)
h.wait_for_slices(ns.name, "web", endpoints=4, ready=4)
victim = h.list_objects("pods", ns.name, selector="app=web")[0]
victim_ip = victim["status"]["podIP"]
node_names = list(nodes["name"])
with h.Trace(kinds=["pods", "endpointslices"], namespace=ns.name, duration=60) as trace:
    h.set_ready(victim, False, ns.name)
    h.wait_for_slices(ns.name, "web", endpoints=4, ready=3)
    before = {node: f"-j DNAT --to-destination {victim_ip}:80" in h.wait_for_rules(node, f"{ns.name}/web:http") for node in node_names}
    h.set_ready(victim, True, ns.name)
    h.wait_for_slices(ns.name, "web", endpoints=4, ready=4)
    after = {node: f"-j DNAT --to-destination {victim_ip}:80" in h.wait_for_rules(node, victim_ip) for node in node_names}
    trace.wait_idle(quiet=1.0, timeout=20)
pd.DataFrame({"victim in rules while unready": before, "victim in rules after Ready": after})

# %% [markdown] slideshow={"slide_type": "fragment"}
# **What it shows:** while the pod is unready **no** node routes to it — not just its own node — and once
# Ready every node does. The trace puts the hops on one time axis:

# %% slideshow={"slide_type": "subslide"}
frame = trace.to_frame()
display(frame[frame["summary"] != ""][["t", "kind", "name", "summary", "actor"]].tail(12))
h.plot_propagation(frame)

# %% [markdown] slideshow={"slide_type": "fragment"}
# **What it shows:** each flip is a pod status change, a slice update and one kube-proxy sync per node,
# all within a fraction of a second on the cluster clock (on the simulator the rows carry the times the
# writes were committed; on kind, the times our watches received them, a few milliseconds late).
# **Why it matters:** the API server fans every slice write out to **every** node; each kube-proxy then
# batches what arrived into its next sync. That is the network-programming-latency path
# (`sig-scalability/slos/network_programming_latency.md`).

# %% [markdown] slideshow={"slide_type": "notes"}
# > **Presenter note:** Compare the kube-proxy rows with the slice write before them. At the same time: that node's last sync
# > ended more than minSyncPeriod (1 s) earlier, so the runner synced at once. Up to 1 s later:
# > minSyncPeriod held the sync back and it picked up everything that arrived meanwhile.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 2. Sync period, minimum interval, partial syncs
#
# kube-proxy's defaults (KubeProxyConfiguration v1alpha1):

# %% slideshow={"slide_type": "-"}
from helpers.dataplane.proxy import default_config

defaults = default_config()
pd.DataFrame({mode: {k: defaults[mode][k] for k in ("minSyncPeriod", "syncPeriod")} for mode in ("iptables", "nftables")})

# %% [markdown] slideshow={"slide_type": "fragment"}
# - **`minSyncPeriod` 1 s**: kube-proxy's `BoundedFrequencyRunner` leaves at least this long between syncs,
#   so a flurry of slice events collapses into one rule update. (Since v1.34, `pkg/proxy/runner` counts it
#   from the end of one sync to the start of the next, with no burst; v1.33 and earlier allowed a burst of 2.)
# - **`syncPeriod` 30 s**: despite its name, not a periodic sync: it is the retry interval after a failed
#   sync and how often the canary chains are checked. Full resyncs happen at start, after a failure, when
#   the canary shows the tables were flushed, and otherwise once an hour.
# - **Partial syncs** (KEP-3453, GA 1.28): otherwise only the chains of changed Services are rewritten.
#
# The node's kube-proxy log shows it (on kind only at `-v=2`):

# %% slideshow={"slide_type": "-"}
proxy_pod = next(p["metadata"]["name"] for p in h.list_objects("pods", "kube-system", selector="k8s-app=kube-proxy")
                 if p["spec"].get("nodeName") == "endpoints-worker")
log = h.kubectl("logs", "-n", "kube-system", proxy_pod).stdout.splitlines()
syncs = [line for line in log if "Syncing" in line or "Reloading" in line]
print("\n".join(syncs[:2] + ["..."] + syncs[-6:]) if syncs else "no sync lines: kube-proxy logs them at -v=2 and above")

# %% [markdown] slideshow={"slide_type": "fragment"}
# **What it shows:** the first sync after start is `fullSync=true`; the later ones are `fullSync=false`.
# The `bytes=` field is the simulator's addition: each partial payload is a few kilobytes — the changed
# Services' chains plus the chains rewritten on every sync (`KUBE-SERVICES`, `KUBE-NODEPORTS`,
# `KUBE-EXTERNAL-SERVICES`, the filter table). Real kube-proxy's line has no `bytes=`; next to
# `numServices` and `numEndpoints` it logs `numFilterChains`, `numFilterRules`, `numNATChains` and `numNATRules`.

# %% [markdown] slideshow={"slide_type": "notes"}
# > **Presenter note:** On kind, raise kube-proxy's verbosity (-v=2) to see these lines; the defaults are the same.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 3. Rule growth with cluster size
#
# How big is one node's programme, and what does one sync write, as Services are added (10 endpoints each)?

# %% slideshow={"slide_type": "-"}
growth = pd.DataFrame(stats.scaling_rows([10, 100, 300], endpoints_per_service=10))
display(growth.pivot_table(index="services", columns="mode", values=["rules", "full_sync_bytes", "partial_sync_bytes"]))
h.plot_rules_vs_services(growth)

# %% [markdown] slideshow={"slide_type": "fragment"}
# **What it shows:** iptables rules grow linearly with Services × endpoints on **every** node — a node with
# no pods of a Service still carries its rules. nftables mode has one rule per Service chain (since v1.36 a
# Service's endpoints sit in the `numgen` map of its one DNAT rule), so its rule count grows with Services only,
# while its bytes still grow with Services × endpoints. A full iptables sync rewrites all of it; a partial sync (one
# endpoint changed) writes a small, nearly constant payload in nftables mode, and in iptables mode still
# rewrites the shared `KUBE-SERVICES` chain, which grows with the number of Services. **Why it matters:**
# this is why partial syncs and nftables mode cut network-programming latency on large clusters
# (KEP-3453 reports p50 from ~27 s to ~13 s on 5000 nodes).

# %% [markdown] slideshow={"slide_type": "notes"}
# > **Presenter note:** The render time per sync is not modelled faithfully (Python vs kernel); compare bytes and rule counts.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 4. A node fails
#
# Stop the worker that runs most `web` pods — the same as pulling its plug — follow `web`'s slice through
# the outage, then put the cluster's Events on one timeline. The node lifecycle controller waits
# `node-monitor-grace-period`, then sets the node's Ready condition to Unknown, marks its pods not ready
# and taints it `node.kubernetes.io/unreachable:NoExecute`; taint-based eviction (its own
# `taint-eviction-controller` since v1.29) deletes the pods once their toleration (`tolerationSeconds`)
# runs out.

# %% slideshow={"slide_type": "-"}
placement = h.pods_table(ns.name, selector="app=web").groupby("node").size()
failing = placement.idxmax()
grace, toleration = timing.node_monitor_grace_period, timing.default_unreachable_toleration_seconds
print(f"stopping {failing} (runs {placement.max()} of 4 web pods); grace {grace:g} s, toleration {toleration} s")


def healthy(nodes_):
    """A wait predicate: no node carries the node lifecycle controller's not-ready/unreachable taints."""
    return all(not t["key"].startswith("node.kubernetes.io/") for n in nodes_ for t in n["spec"].get("taints") or [])


def web_endpoints_on(node, **conditions):
    """A wait predicate: every web endpoint on `node` has the given conditions."""
    def check(slices):
        eps = [ep for s in slices for ep in s.get("endpoints") or [] if ep.get("nodeName") == node]
        return bool(eps) and all(ep["conditions"].get(k) == v for ep in eps for k, v in conditions.items())
    return check


stopped_at = h.cluster_time()
h.stop_node(failing)
let_time_pass(grace + 2 * timing.node_monitor_period)
h.wait_for("endpointslices", web_endpoints_on(failing, ready=False, terminating=False), namespace=ns.name,
           selector=f"{kube.LABEL_SERVICE_NAME}=web", timeout=grace + 60, what=f"web endpoints on {failing} not ready")
let_time_pass(toleration + timing.node_monitor_period)
h.wait_for("endpointslices", web_endpoints_on(failing, terminating=True), namespace=ns.name,
           selector=f"{kube.LABEL_SERVICE_NAME}=web", timeout=toleration + 60, what=f"web endpoints on {failing} terminating")
live = h.wait_for("pods", lambda pods: sum(not p["metadata"].get("deletionTimestamp") and bool(p["status"].get("podIP"))
                                           for p in pods) >= 4,
                  namespace=ns.name, selector="app=web", timeout=120, what="4 live web pods")
h.set_ready([p for p in live if not p["metadata"].get("deletionTimestamp")], True, ns.name)  # the replacements
h.wait_for_slices(ns.name, "web", ready=4, timeout=60)
started_at = h.cluster_time()
h.start_node(failing)
let_time_pass(timing.node_monitor_period)
h.wait_for("nodes", healthy, timeout=120, what=f"{failing} Ready and untainted")
h.wait_for("endpointslices", lambda slices: not web_endpoints_on(failing)(slices), namespace=ns.name,
           selector=f"{kube.LABEL_SERVICE_NAME}=web", timeout=60, what="the evicted pods gone")
h.slices_table(ns.name, service="web")[["address", "ready", "serving", "terminating", "node"]]

# %% [markdown] slideshow={"slide_type": "fragment"}
# **What it shows:** after recovery `web` has 4 ready endpoints, none on the node that failed (the
# evicted pods finished terminating when its kubelet came back). The cluster's own Events tell the
# story on the cluster's clock (virtual time on the simulator), counted from the moment the node stopped:

# %% slideshow={"slide_type": "subslide"}
NOISE = {"Pulled", "Created"}
events = [e for e in h.list_objects("events", ns.name) + h.list_objects("events", "default")
          if e["involvedObject"].get("namespace") == ns.name or e["involvedObject"]["name"] == failing]
timeline = pd.DataFrame([{"t": (pd.Timestamp(e.get("lastTimestamp") or e.get("eventTime")) - stopped_at).total_seconds(),
                          "object": f'{e["involvedObject"]["kind"]}/{e["involvedObject"]["name"]}',
                          "reason": e["reason"], "message": e.get("message", "")} for e in events])
timeline = timeline[(timeline["t"] >= -1) & ~timeline["reason"].isin(NOISE)].sort_values("t", kind="stable").round({"t": 1})
display(timeline.reset_index(drop=True))
figure, axes = plt.subplots(figsize=(8, 3), layout="constrained")
plt.close(figure)  # shown once, by returning it (as the helpers' plots are)
ax = timeline.plot.scatter(x="t", y="reason", ax=axes, title=f"{failing} fails and comes back")
ax.axvline(0, color="red", linestyle="--", label="node stopped")
ax.axvline((started_at - stopped_at).total_seconds(), color="green", linestyle="--", label="node started")
ax.set_xlabel("seconds since the node stopped (cluster clock)")
ax.legend(loc="upper left")
figure

# %% [markdown] slideshow={"slide_type": "fragment"}
# **What it shows**, in order: the node's Ready condition turns Unknown (`NodeNotReady`) about `grace`
# seconds after the stop — here a little before, because the grace period counts from the node's last
# heartbeat (its lease is renewed every 10 s), not from the stop; its `web` endpoints become `ready=false` but **stay listed** (the waits in the previous cell
# checked this); `toleration` seconds after the taint the pods are marked for deletion
# (`TaintManagerEviction`) and their endpoints turn `terminating=true` — they cannot finish without a
# kubelet — while replacements start on healthy nodes; when the node returns, its taints go and the old
# pods finally stop (`Killing`) and disappear.
#
# **Why it matters:** for up to `grace` seconds after a failure (plus the controller's 5 s check interval
# and one sync), kube-proxy still sends traffic to the dead node's pods; afterwards they are out of
# rotation long before they are deleted. Only a *deleted* Node object would take the #107927 path of
# chapter 06.

# %% [markdown] slideshow={"slide_type": "notes"}
# > **Presenter note:** On kind the outage cell takes grace + toleration seconds of real time (20 s + 30 s with this project's
# > kind-cluster.yaml; upstream defaults are 50 s + 300 s).

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 5. A stopped node, seen from a client
#
# The same failure from a client's side. A Service `view` has two pods, one on each worker; send one
# request per second (cluster clock) to it from the control-plane node's host network while
# `endpoints-worker2` is stopped for 35 s, shorter than the toleration, so nothing is evicted.

# %% slideshow={"slide_type": "-"}
h.apply(*(h.deployment(f"view-{i}", replicas=1, labels={"group": "view"}, node_name=node, readiness_gate=False)
          for i, node in enumerate(["endpoints-worker", "endpoints-worker2"])),
        h.service("view", selector={"group": "view"}), namespace=ns.name)
h.wait_for_slices(ns.name, "view", ready=2)
for node in node_names:
    h.wait_for_rules(node, f"{ns.name}/view:http")
h.stop_node("endpoints-worker2")
seen = h.requests("view", ns.name, count=35, interval=1.0, timeout=0.5, client="node/endpoints-control-plane")
h.start_node("endpoints-worker2")
h.wait_for("nodes", healthy, timeout=120, what="endpoints-worker2 Ready and untainted")
h.wait_for_slices(ns.name, "view", ready=2, timeout=120)
seen["second"] = (seen["t"] - seen["t"].iloc[0]).round().astype(int)
seen["window"] = (seen["second"] // 5 * 5).map(lambda s: f"{s:2d}-{s + 4:2d} s")
seen.groupby(["window", "outcome"]).size().unstack(fill_value=0)

# %% [markdown] slideshow={"slide_type": "fragment"}
# **What it shows:** at first about half the requests time out: the rules still DNAT to the pod on the
# stopped node, whose packets go nowhere. Once the node lifecycle controller marks that pod not ready
# (about `grace` seconds after the node's last heartbeat) and kube-proxy syncs, every request is
# answered by the pod on `endpoints-worker`. **Why it matters:** for clients a dead node is not an
# error but a timeout, for up to the grace period; readiness of the endpoints is what ends it.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 6. Connections vs rules
#
# kube-proxy's rules pick an endpoint for a connection's **first** packet only. The kernel records that
# choice, the DNAT, in its connection tracking table (conntrack) on the client's node, and every later
# packet of the connection follows the entry, not the rules. `talk` has three pods behind a readiness gate,
# two of them ready. Hold one connection open (`h.open_connection`), then swap which pods are ready, so
# that the held connection's endpoint leaves the rules while its pod keeps running.

# %% slideshow={"slide_type": "-"}
h.apply(h.deployment("talk", replicas=3, readiness_gate=True), h.service("talk"), namespace=ns.name)
h.wait_for_slices(ns.name, "talk", endpoints=3)
talk_pods = sorted(h.list_objects("pods", ns.name, selector="app=talk"), key=lambda p: p["metadata"]["name"])
h.set_ready(talk_pods[:2], True, ns.name)
h.wait_for_slices(ns.name, "talk", endpoints=3, ready=2)
for node in node_names:
    for pod in talk_pods[:2]:
        h.wait_for_rules(node, f"--to-destination {pod['status']['podIP']}:80")
first = h.requests("talk", ns.name, count=20)  # also starts the helper's client pod
CLIENT = "traffic-client"  # that pod's name (docs/HELPERS.md, h.requests)
client_node = h.get("pods", CLIENT, ns.name)["spec"]["nodeName"]
if cluster.is_sim:
    conn = h.open_connection("talk", ns.name)
    held = conn.opened["pod"]
    spare = talk_pods[2]  # the one not ready so far
    h.set_ready(held, False, ns.name)  # out of the rules; the process keeps running
    h.set_ready(spare, True, ns.name)
    h.wait_for_slices(ns.name, "talk", endpoints=3, ready=2)
    h.wait_for_rules(client_node, f"--to-destination {spare['status']['podIP']}:80")  # that sync also dropped `held`
    later = h.requests("talk", ns.name, count=20)
    on_held = conn.send()
    ct = h.conntrack(client_node)
    display(pd.DataFrame({"the held connection": [conn.opened["pod"], on_held["pod"]],
                          "20 new connections": [", ".join(sorted(set(first["pod"]))), ", ".join(sorted(set(later["pod"])))]},
                         index=["answered by, before the swap", "answered by, after the swap"]))
    display(ct[(ct["protocol"] == "tcp") & (ct["state"] == "ESTABLISHED")])
    assert on_held["pod"] == held and on_held["outcome"] == "ok", on_held  # the prose below says so
    assert held not in set(later["pod"]) and set(later["outcome"]) == {"ok"}, later
    established = ct[(ct["state"] == "ESTABLISHED") & ((ct["reply_src"] + ":80") == conn.opened["endpoint"])]
    assert len(established) == 1 and established["expires_s"].iloc[0] > 431000, established
else:
    print("Held connections are modelled on the simulator only. On kind, hold one in a terminal with\n"
          f"  kubectl exec -n {ns.name} -it {CLIENT} -- nc talk 80\n"
          "type `GET /hostname HTTP/1.1` and two Enters to see which pod answers, swap the ready pods here, "
          f"and ask again; h.conntrack({client_node!r}) lists the entry as ESTABLISHED.")

# %% [markdown] slideshow={"slide_type": "fragment"}
# **What it shows:** after the swap, no new connection reaches the pod that left the rules, but the held
# connection is still answered by it: its conntrack entry (`ESTABLISHED`, `reply_src` = that pod's IP,
# an expiry of 432000 s, the kernel's five-day `nf_conntrack_tcp_timeout_established`) still carries the
# DNAT. **Why it matters:** removing an endpoint stops *new* connections only. Long-lived connections
# (HTTP keep-alive, gRPC, database pools) stay where they are until one side closes them, which is why
# graceful shutdown has to close them, not just wait for the endpoint to leave the rules.
#
# What if the pod goes away under the connection? Delete it:

# %% slideshow={"slide_type": "-"}
if cluster.is_sim:
    h.delete("pods", held, ns.name, wait=True)
    gone = conn.send()
    print(f"held connection after deleting {held}: {gone['outcome']} (endpoint {gone['endpoint']})")
    assert gone["outcome"] == "timeout" and gone["endpoint"] == conn.opened["endpoint"], gone
else:
    print(f"On kind: delete the pod behind your nc (kubectl delete pod -n {ns.name} <pod>) and type another request "
          "into nc.")

# %% [markdown] slideshow={"slide_type": "fragment"}
# **What it shows:** with the pod gone, the held connection's next request times out: its conntrack
# entry still sends it to the old address, and nothing has that address any more.

# %% [markdown] slideshow={"slide_type": "notes"}
# > **Presenter note:** Say it plainly: rules are for new connections, conntrack is for everything after. Ask how
# > many of the room's services hold connections for minutes (database pools, gRPC): those never notice an
# > endpoint leaving until the pod dies.

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### UDP: entries without a connection
#
# UDP has no connection to close, so conntrack keeps a UDP entry as long as packets keep coming (30 s
# after the last one, `nf_conntrack_udp_timeout`; 120 s once replies have flowed, `..._timeout_stream`).
# A client that keeps sending from the same source port keeps its entry, and so keeps its endpoint,
# forever. kube-proxy therefore deletes UDP entries itself: after a sync in which a UDP Service's endpoints
# changed, `CleanStaleEntries` (`pkg/proxy/conntrack/cleanup.go`, v1.37.0) removes every entry to the
# Service's IP and port whose DNAT target is not one of its **serving** endpoints; a Service with no
# serving endpoint loses all of them (v1.36 skipped such a Service, which left one-way flows on a deleted
# endpoint for good). `dns` has two netexec pods answering UDP on 8081 behind port 53;
# one is ready. Send datagrams on one flow while its endpoint becomes not ready, then while the other
# pod becomes ready.

# %% slideshow={"slide_type": "-"}
udp_port = {"port": 53, "targetPort": 8081, "protocol": "UDP", "name": "dns"}
h.apply(h.deployment("dns", replicas=2, readiness_gate=True), h.service("dns", ports=[udp_port]), namespace=ns.name)
h.wait_for_slices(ns.name, "dns", endpoints=2)
dns_pods = sorted(h.list_objects("pods", ns.name, selector="app=dns"), key=lambda p: p["metadata"]["name"])
old_dns, new_dns = dns_pods
h.set_ready(old_dns, True, ns.name)
h.wait_for_slices(ns.name, "dns", endpoints=2, ready=1)
h.wait_for_rules(client_node, f"--to-destination {old_dns['status']['podIP']}:8081")


def udp_entries():
    """The client node's UDP conntrack entries to dns's ClusterIP."""
    table = h.conntrack(client_node)
    cluster_ip = h.get("services", "dns", ns.name)["spec"]["clusterIP"]
    return table[(table["protocol"] == "udp") & (table["dst"] == cluster_ip)] if len(table) else table


if cluster.is_sim:
    entries = len(udp_entries())
    flow = h.open_connection("dns", ns.name)
    steps = [("first", entries, flow.opened)]
    h.set_ready(old_dns, False, ns.name)  # no serving endpoint left: kube-proxy REJECTs new flows
    h.wait_for_slices(ns.name, "dns", endpoints=2, ready=0)
    h.wait_for_rules(client_node, f'"{ns.name}/dns:dns has no endpoints"')
    entries = len(udp_entries())
    steps.append(("no dns pod ready", entries, flow.send()))
    h.set_ready(new_dns, True, ns.name)  # a serving endpoint again: the clean-up runs for dns
    h.wait_for_slices(ns.name, "dns", endpoints=2, ready=1)
    h.wait_for_rules(client_node, f"--to-destination {new_dns['status']['podIP']}:8081")
    entries = len(udp_entries())
    steps.append(("the other dns pod ready", entries, flow.send()))
    udp_story = pd.DataFrame([{"datagram": step, "UDP entries to dns when sent": n, "answered by": r["pod"],
                               "endpoint": r["endpoint"], "outcome": r["outcome"]} for step, n, r in steps])
    display(udp_story)
    assert list(udp_story["answered by"]) == [old_dns["metadata"]["name"], "", new_dns["metadata"]["name"]], udp_story
    assert list(udp_story["UDP entries to dns when sent"]) == [0, 0, 0], udp_story
    assert list(udp_story["outcome"]) == ["ok", "refused", "ok"], udp_story
else:
    print("Held flows are modelled on the simulator only. On kind, keep one open with\n"
          f"  kubectl exec -n {ns.name} -it {CLIENT} -- nc -u dns 53\n"
          f"(type `hostname` and Enter per datagram) and watch h.conntrack({client_node!r}) as the pods change.")

# %% [markdown] slideshow={"slide_type": "fragment"}
# **What it shows:** the first datagram made the flow's entry. When the last ready pod became not ready,
# the sync that took it out of the rules also ran the clean-up: the entry was gone (0 entries when the
# second datagram is sent), so that datagram started a new flow, which met the Service's REJECT rule
# (`has no endpoints`) and was refused (ICMP port unreachable). Once the other pod is ready, the third
# datagram starts a new flow again, which the rules send to that pod. Without the clean-up, the held
# entry would have kept carrying datagrams to the not-ready pod. kube-proxy logs each clean-up (at `-v=4`
# on kind; the simulated kube-proxy always):

# %% slideshow={"slide_type": "-"}
proxy_of_client = next(p["metadata"]["name"] for p in h.list_objects("pods", "kube-system", selector="k8s-app=kube-proxy")
                       if p["spec"].get("nodeName") == client_node)
cleanups = [line for line in h.kubectl("logs", "-n", "kube-system", proxy_of_client).stdout.splitlines()
            if "reconciling conntrack" in line]
print("\n".join(cleanups[-3:]) if cleanups else "no clean-up lines: kube-proxy logs them at -v=4")
if cluster.is_sim:
    assert any("entriesDeleted=1" in line for line in cleanups), cleanups

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Why DNS over UDP suffered
#
# Every name a pod looks up is such a flow. Ask from the client pod where `dns` is (`kubectl exec`):

# %% slideshow={"slide_type": "-"}
lookup = h.kubectl("exec", "-n", ns.name, CLIENT, "--", "nslookup", "dns").stdout
print(lookup)
kube_dns = h.get("services", "kube-dns", "kube-system")
dns_ports = sorted(f"{p['port']}/{p['protocol']}" for p in kube_dns["spec"]["ports"])
print(f"the nameserver is Service kube-system/kube-dns ({kube_dns['spec']['clusterIP']}), ports {', '.join(dns_ports)}")
assert f"Server:\t\t{kube_dns['spec']['clusterIP']}" in lookup and "53/UDP" in dns_ports
assert f"Address: {h.get('services', 'dns', ns.name)['spec']['clusterIP']}" in lookup

# %% [markdown] slideshow={"slide_type": "fragment"}
# **What it shows:** the pod's resolver asks `10.96.0.10`, the ClusterIP of the `kube-dns` Service, on
# port 53 over UDP: a UDP Service like `dns` above, DNAT'ed to a CoreDNS pod by the same rules, with a
# conntrack entry per query flow on the client's node. **Why it matters:** when a CoreDNS pod went away
# (a rollout, a failed node), a client that kept reusing its source port kept its entry, and its queries
# went on to an address with no CoreDNS behind it, time after time, until the entry was deleted. That is
# the stale entry above, and the reason kube-proxy deletes UDP entries itself. DNS over UDP had a second
# conntrack problem: two queries sent at once from one socket (A and AAAA) could race in conntrack's
# insertion and one was dropped, a 5 s resolver timeout (kubernetes/kubernetes#56903).

# %% [markdown] slideshow={"slide_type": "notes"}
# > **Presenter note:** The stale UDP entry is the classic "DNS broke after a CoreDNS rollout" report. Point at the
# > table: the datagrams kept reaching a pod that was not ready until the clean-up ran, and the clean-up only
# > runs when the Service has a serving endpoint again.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 7. Topology: which endpoints each node uses
#
# Every node has all of a Service's endpoints, but it does not have to use them all. Two mechanisms
# put **hints** on endpoints; each node's kube-proxy then keeps only the endpoints hinted for it:
#
# - **Topology Aware Routing**: the annotation `service.kubernetes.io/topology-mode: Auto` (since 1.27;
#   it replaced `service.kubernetes.io/topology-aware-hints`, which still wins if both are set). The
#   EndpointSlice controller hands out zone hints **in proportion to each zone's allocatable CPU**,
#   and only if every safeguard passes; otherwise it removes them and says why in an Event.
# - **`spec.trafficDistribution`**: `PreferSameZone` (`PreferClose` is its older name) hints every ready
#   endpoint to its own zone, and `PreferSameNode` also to its own node (`hints.forNodes`). There is no
#   capacity arithmetic. If both are set, the annotation wins.
#
# The CPU the controller counts, per zone (Ready nodes without the control-plane role):

# %% slideshow={"slide_type": "-"}
from helpers import dataplane
from helpers.controlplane.endpointslice import topologycache

node_objs = h.list_objects("nodes")
display(pd.DataFrame([{"node": n["metadata"]["name"], "zone": n["metadata"]["labels"].get(kube.LABEL_ZONE),
                       "allocatable cpu": n["status"]["allocatable"]["cpu"],
                       "control plane": kube.LABEL_NODE_ROLE_CONTROL_PLANE in n["metadata"]["labels"]} for n in node_objs]))
ratios = topologycache.cpu_ratios_by_zone(node_objs)
ratios

# %% [markdown] slideshow={"slide_type": "fragment"}
# **What it shows:** the control-plane node is left out, so each zone has one worker and half the CPU
# (`cpu_ratios_by_zone` is the port of upstream's `topologycache.go`). Now a Service `topo` with
# `topology-mode: Auto` over 3 pods on `endpoints-worker` (zone-a) and 1 on `endpoints-worker2` (zone-b):

# %% slideshow={"slide_type": "subslide"}
for dep, node, replicas in (("topo-a", "endpoints-worker", 3), ("topo-b", "endpoints-worker2", 1)):
    h.apply(h.deployment(dep, replicas=replicas, labels={"group": "topo"}, node_name=node, readiness_gate=False),
            namespace=ns.name)
topo_svc = h.service("topo", selector={"group": "topo"})
topo_svc["metadata"]["annotations"] = {kube.ANNOTATION_TOPOLOGY_MODE: "Auto"}
h.apply(topo_svc, namespace=ns.name)


def zone_hints(slices):
    return [z["name"] for s in slices for ep in s.get("endpoints") or [] for z in (ep.get("hints") or {}).get("forZones") or []]


h.wait_for("endpointslices", lambda slices: len(zone_hints(slices)) == 4, namespace=ns.name,
           selector=f"{kube.LABEL_SERVICE_NAME}=topo", what="4 hinted endpoints for topo")
pod_node = {p["status"]["podIP"]: p["spec"]["nodeName"] for p in h.list_objects("pods", ns.name) if p["status"].get("podIP")}


def targets(service):
    """Per node: the pods its kube-proxy sends new ClusterIP connections to (and their node), or its verdict."""
    ip = h.get("svc", service, ns.name)["spec"]["clusterIP"]
    out = {}
    for node in node_names:
        rules = h.wait_for_rules(node, f"{ns.name}/{service}:http")
        chosen = dataplane.trace_packet("node", f"{ip}:80", rules=rules).endpoints
        out[node] = sorted(f"{e.split(':')[0]} ({pod_node[e.split(':')[0]]})" if ":" in e else e for e in chosen)
    return out


def topology_events(service):
    """The Service's TopologyAwareHints* Events, by last occurrence (then write order): (reason, message, count)."""
    events = sorted(h.list_objects("events", ns.name),
                    key=lambda e: (e.get("lastTimestamp") or "", int(e["metadata"]["resourceVersion"])))
    return [(e["reason"], e["message"], e.get("count", 1)) for e in events
            if e["involvedObject"]["name"] == service and e["reason"].startswith("TopologyAwareHints")]


# %% slideshow={"slide_type": "subslide"}
topo_table = h.slices_table(ns.name, service="topo")[["address", "node", "zone", "hints"]]
display(topo_table)
auto_targets = targets("topo")
display(pd.DataFrame({"uses": auto_targets}))
donated = [row for _, row in topo_table.iterrows() if row["zone"] == "zone-a" and "zone-b" in str(row["hints"])]
assert len(donated) == 1 and len(auto_targets["endpoints-worker2"]) == 2, (topo_table, auto_targets)
enabled_events = topology_events("topo")
assert enabled_events[-1][0] == "TopologyAwareHintsEnabled", enabled_events
enabled_events

# %% [markdown] slideshow={"slide_type": "fragment"}
# **What it shows:** 4 ready endpoints and two zones with half the CPU each, so each zone should get 2.
# Zone-a has 3 pods, so the controller hints **one zone-a pod to zone-b**. `endpoints-worker2` then
# sends to its own pod and that donated one, while both zone-a nodes use the other two zone-a pods. The
# Service got a `TopologyAwareHintsEnabled` Event. **Why it matters:** hints follow capacity, not
# placement, so a zone with few pods is not flooded by its own clients.
#
# The Events also record the way there: every state the controller passed through while the pods
# turned Ready, each with its reason (an Event that recurs is counted, not repeated). With fewer ready
# endpoints than zones it refuses; with 3, each zone's share would be 1.5 and its minimum ⌈1.5 / 1.2⌉ = 2,
# and 2 + 2 > 3 exceeds the overload threshold (if the pods turned Ready one by one, that Event is there).
#
# The safeguards (`topologycache.go`, v1.36.1): fewer ready endpoints than zones; nodes ready in only one
# zone; a node without a zone label or allocatable CPU; an endpoint without a zone; and a zone whose minimum
# share (its CPU share, at most 20 % overloaded) cannot be met. Each removes **all** hints of the Service and
# records a `TopologyAwareHintsDisabled` Event with the reason. Scale zone-a's pods to 0, so 1 endpoint is
# left for 2 zones:

# %% slideshow={"slide_type": "subslide"}
h.scale("topo-a", 0, ns.name)
h.wait_for("endpointslices", lambda slices: sum(len(s.get("endpoints") or []) for s in slices) == 1
           and not zone_hints(slices), namespace=ns.name, selector=f"{kube.LABEL_SERVICE_NAME}=topo",
           what="topo down to 1 endpoint, without hints")
display(h.slices_table(ns.name, service="topo")[["address", "node", "zone", "hints"]])
disabled = topology_events("topo")
assert disabled[-1][0] == "TopologyAwareHintsDisabled", disabled
disabled

# %% [markdown] slideshow={"slide_type": "fragment"}
# **What it shows:** the remaining endpoint has no hints, and the newest Event says why
# (`TopologyAwareHintsDisabled`, insufficient number of endpoints). Without hints every node uses every
# ready endpoint again.

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### `trafficDistribution: PreferSameNode`, and the traffic policies
#
# One pod on each worker again, and two more Services over them: `near` with
# `trafficDistribution: PreferSameNode`, and `near-local` with `PreferSameZone` **and**
# `internalTrafficPolicy: Local`.

# %% slideshow={"slide_type": "-"}
h.scale("topo-a", 1, ns.name)
h.apply(h.service("near", selector={"group": "topo"}, trafficDistribution="PreferSameNode"),
        h.service("near-local", selector={"group": "topo"}, trafficDistribution="PreferSameZone",
                  internalTrafficPolicy="Local"), namespace=ns.name)
for svc in ("topo", "near", "near-local"):
    h.wait_for_slices(ns.name, svc, endpoints=2, ready=2)
pod_node = {p["status"]["podIP"]: p["spec"]["nodeName"] for p in h.list_objects("pods", ns.name) if p["status"].get("podIP")}
display(h.slices_table(ns.name, service="near")[["address", "node", "zone", "hints"]])
policy_targets = pd.DataFrame({svc: targets(svc) for svc in ("near", "near-local")})
assert policy_targets.loc["endpoints-control-plane", "near-local"] == ["DROP"], policy_targets
assert all(len(policy_targets.loc[n, "near"]) == 1 for n in node_names), policy_targets
policy_targets

# %% [markdown] slideshow={"slide_type": "fragment"}
# **What it shows:** with `PreferSameNode` every endpoint is hinted to its own zone **and** node
# (`forNodes`). Each worker uses only its own pod. The control-plane node has no endpoint hinted to it, so
# its kube-proxy falls back to the zone hints and uses the zone-a pod. (kube-proxy's `topologyModeFromHints`
# in `pkg/proxy/topology.go` is all-or-nothing: node hints only if every ready endpoint has one and one
# names this node, else zone hints by the same rule, else all endpoints.) With `internalTrafficPolicy: Local`
# the hints do not matter: each node uses only its own endpoints, and the control-plane node has none, so it
# drops the traffic. kube-proxy applies topology to the cluster-wide set only; the Local sets of
# `internalTrafficPolicy` and `externalTrafficPolicy` are never filtered by hints.

# %% [markdown] slideshow={"slide_type": "notes"}
# > **Presenter note:** Two different promises: `topology-mode: Auto` balances by CPU and gives up loudly (Events) when it cannot;
# > `trafficDistribution` just prefers what is close and falls back quietly. Neither ever overrides a Local traffic policy.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 8. Node failure variants: graceful and non-graceful shutdown
#
# Section 4 pulled the plug: the control plane noticed only after the grace period, and the pods stayed
# `Terminating` until the node came back. Two other ways a node goes away change that story.
#
# **Graceful node shutdown** (KEP-2000, beta and on by default since 1.21; `pkg/kubelet/nodeshutdown`): with
# `shutdownGracePeriod` set in its KubeletConfiguration, the kubelet holds a systemd inhibitor lock.
# When the node is told to power off, it reports `Ready=False` ("node is shutting down") and stops every
# pod itself, the regular pods within `shutdownGracePeriod - shutdownGracePeriodCriticalPods`, before
# letting the node go. kind's kubelets run with `shutdownGracePeriod: 0` (the feature is off), so this
# part runs on the simulator only. First the Deployments pinned to `endpoints-worker2` by `nodeName` go
# (a pinned replacement would go straight to the shutting-down kubelet and be rejected, again and again);
# then two `calm` pods, sent to that node by a node selector, which goes through the scheduler:

# %% slideshow={"slide_type": "subslide"}
for pinned in ("view-1", "topo-b"):
    h.scale(pinned, 0, ns.name)
    h.wait_for("pods", lambda pods: not pods, namespace=ns.name, selector=f"app={pinned}", timeout=60,
               what=f"{pinned}'s pods gone")
calm = h.deployment("calm", replicas=2, readiness_gate=False)
calm["spec"]["template"]["spec"]["nodeSelector"] = {kube.LABEL_HOSTNAME: "endpoints-worker2"}
h.apply(calm, h.service("calm"), namespace=ns.name)
h.wait_for_slices(ns.name, "calm", endpoints=2, ready=2)
on_worker2 = {p["metadata"]["name"] for p in h.list_objects("pods", ns.name, selector="app=calm")
              if p["spec"]["nodeName"] == "endpoints-worker2"}
print(f"calm pods on endpoints-worker2: {sorted(on_worker2)}")
if cluster.is_sim:
    shutdown_at = h.cluster_time()
    print(h.shutdown_node("endpoints-worker2", grace_period=20, critical_pods_grace_period=10))
    h.wait_for("endpointslices", lambda slices: len([ep for s in slices for ep in s.get("endpoints") or []
                                                      if ep["conditions"].get("ready")]) == 0
               and not web_endpoints_on("endpoints-worker2")(slices), namespace=ns.name,
               selector=f"{kube.LABEL_SERVICE_NAME}=calm", timeout=60, what="calm's endpoints on worker2 gone")
    stopped_pods = pd.DataFrame([{"pod": p["metadata"]["name"], "phase": p["status"].get("phase"),
                                  "reason": p["status"].get("reason"), "deleting": bool(p["metadata"].get("deletionTimestamp")),
                                  "DisruptionTarget": (kube.get_condition(p, "DisruptionTarget") or {}).get("reason")}
                                 for p in h.list_objects("pods", ns.name, selector="app=calm") if p["metadata"]["name"] in on_worker2])
    display(stopped_pods)
    display(h.slices_table(ns.name, service="calm")[["address", "ready", "terminating", "node"]])
    shut_events = [(round((pd.Timestamp(e.get("lastTimestamp") or e.get("eventTime")) - shutdown_at).total_seconds()),
                    e["involvedObject"]["name"], e["reason"], e.get("message", ""))
                   for e in h.list_objects("events", "default") + h.list_objects("events", ns.name)
                   if e["reason"] in ("NodeShutdown", "NodeNotReady") and e["involvedObject"]["name"] == "endpoints-worker2"]
    display(sorted(e for e in shut_events if e[0] >= -1))
    assert len(on_worker2) == 2 and (stopped_pods["phase"] == "Failed").all() and (stopped_pods["reason"] == "Terminated").all()
    assert not stopped_pods["deleting"].any()
    pending = [p["metadata"]["name"] for p in h.list_objects("pods", ns.name, selector="app=calm")
               if p["status"].get("phase") == "Pending"]
    print(f"replacements waiting for a node: {pending}")
    h.wait_for("pods", lambda pods: all(p["status"].get("phase") in ("Failed", "Succeeded") for p in pods
                                        if p["spec"].get("nodeName") == "endpoints-worker2"),
               namespace=ns.name, timeout=60, what="every ch09 pod on endpoints-worker2 stopped (then it powers off)")
    let_time_pass(1)
    h.start_node("endpoints-worker2")
    h.wait_for("nodes", healthy, timeout=120, what="endpoints-worker2 Ready and untainted")
    h.wait_for_slices(ns.name, "calm", endpoints=2, ready=2, timeout=120)
else:
    print("kind: graceful node shutdown needs the kubelet's shutdownGracePeriod, which kind leaves at 0.")

# %% [markdown] slideshow={"slide_type": "fragment"}
# **What it shows (simulator):** the pods that ran on `endpoints-worker2` are **not deleted**: they are
# in phase `Failed` with reason `Terminated` and a `DisruptionTarget` condition (`TerminationByKubelet`).
# A pod in a terminal phase is no endpoint, so the EndpointSlice controller removed them within seconds.
# The ReplicaSet created replacements at once, but they wait `Pending`: their node selector names only
# `endpoints-worker2`, which is tainted `node.kubernetes.io/not-ready:NoSchedule` since it reported
# `Ready=False` (a pod that reached the node meanwhile would be rejected, reason `NodeShutdown`). The node
# recorded `NodeShutdown`, then powered off as soon as its pods had stopped; when it booted again the
# replacements ran there. **Why it matters:** compare section 4, where traffic went
# to a dead node for the whole grace period: a graceful shutdown drains the endpoints *before* the node
# goes. Workloads see an ordinary SIGTERM with their own grace period, capped by the kubelet's.
#
# **Non-graceful shutdown** (KEP-2268, GA in 1.28): a node that died without that chance (section 4)
# leaves pods `Terminating` for as long as it is down. If you know it is gone for good, taint it
# `node.kubernetes.io/out-of-service=nodeshutdown:NoExecute`. PodGC (`gcTerminating` in
# `pkg/controller/podgc/gc_controller.go`, every 20 s) then force-deletes the terminating pods of a
# not-ready node with that taint, and the attach-detach controller detaches their volumes (not
# modelled here). A pod pinned to `endpoints-worker2`, scaled to 0 while the node is down:

# %% slideshow={"slide_type": "subslide"}
h.apply(h.deployment("stuck", replicas=1, node_name="endpoints-worker2", readiness_gate=False),
        h.service("stuck"), namespace=ns.name)
h.wait_for_slices(ns.name, "stuck", endpoints=1, ready=1)
h.stop_node("endpoints-worker2")
let_time_pass(grace + 2 * timing.node_monitor_period)
h.wait_for("nodes", lambda ns_: any(n["metadata"]["name"] == "endpoints-worker2" and not kube.condition_true(n, "Ready")
                                    for n in ns_), timeout=grace + 60, what="endpoints-worker2 NotReady")
h.scale("stuck", 0, ns.name)
let_time_pass(30)
stuck_before = h.wait_for("endpointslices", web_endpoints_on("endpoints-worker2", terminating=True), namespace=ns.name,
                          selector=f"{kube.LABEL_SERVICE_NAME}=stuck", timeout=60, what="stuck's endpoint terminating")
display(h.slices_table(ns.name, service="stuck")[["address", "ready", "serving", "terminating", "node"]])
print("taints:", h.set_out_of_service("endpoints-worker2"))
let_time_pass(25)  # one PodGC period (20 s)
h.wait_for("pods", lambda pods: not pods, namespace=ns.name, selector="app=stuck", timeout=90,
           what="stuck's pod force-deleted by PodGC")
gone = h.wait_for_slices(ns.name, "stuck", endpoints=0)
print(f"after the out-of-service taint: {sum(len(s.get('endpoints') or []) for s in gone)} endpoints for stuck")
h.set_out_of_service("endpoints-worker2", on=False)
h.start_node("endpoints-worker2")
recovered = h.wait_for("nodes", healthy, timeout=120, what="endpoints-worker2 Ready and untainted")

# %% [markdown] slideshow={"slide_type": "fragment"}
# **What it shows:** with the node down, the scaled-away pod cannot finish: its endpoint stays listed as
# `terminating` (and not serving, since the node lifecycle controller marked it not ready), 30 s after
# the scale-down. Once the node carries the out-of-service taint, PodGC force-deletes the pod at its next
# pass and the endpoint leaves the slice, without the node ever coming back. **Why it matters:** a
# StatefulSet pod on a dead node blocks its replacement (same name) until it is gone; the out-of-service
# taint is the operator's way of saying "this node is not coming back", and it is the only thing
# besides the node's return that ends `Terminating` there.

# %% [markdown] slideshow={"slide_type": "notes"}
# > **Presenter note:** Three ways to lose a node, three endpoint stories: pulled plug (endpoints serve nothing for the grace
# > period, then stay listed as terminating), graceful shutdown (endpoints drained first, pods left Failed), out-of-service
# > taint (the operator ends the terminating state by force).

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Exercise 1: scale and follow
#
# Scale `web` to 6 replicas and make the new pods Ready. Predict first: on how many of the cluster's
# nodes will the rules list all 6 endpoints, counting nodes that run none of `web`'s pods? Record a number
# in `prediction_nodes`. Done when `web`'s slices list 6 ready endpoints.

# %% slideshow={"slide_type": "-"}
prediction_nodes = None  # your turn: a number of nodes
# ... then scale web and make its pods Ready

# %% slideshow={"slide_type": "skip"} tags=["solution"] jupyter={"source_hidden": true}
# Solution: expand this cell to compare it with yours.
prediction_nodes = len(node_names)  # with the default traffic policies every node programs every endpoint
h.scale("web", 6, ns.name)
h.wait_for_slices(ns.name, "web", endpoints=6)
h.set_ready(h.list_objects("pods", ns.name, selector="app=web"), True, ns.name)
six = h.wait_for_slices(ns.name, "web", endpoints=6, ready=6)

# %% slideshow={"slide_type": "-"} tags=["verify"]
ready_ips = set(h.slices_table(ns.name, service="web").query("ready == True")["address"])
assert len(ready_ips) == 6, (f"web has {len(ready_ips)} ready endpoints. Hint: more replicas, "
                             "and every new pod's readiness gate passed.")
counts = {}
for node in node_names:
    text = h.wait_for_rules(node, max(ready_ips))
    counts[node] = sum(f"--to-destination {ip}:80" in text for ip in ready_ips)
assert set(counts.values()) == {6}, f"Endpoints of web in each node's rules: {counts}; re-run this cell in a second."
assert isinstance(prediction_nodes, int), "Record a number of nodes in `prediction_nodes` first."
with_six = sum(count == 6 for count in counts.values())
print(f"You predicted {prediction_nodes} node(s); {with_six} of {len(counts)} list all 6"
      f"{' — right.' if prediction_nodes == with_six else ' — every kube-proxy watches every Service it serves.'}")
print(f"✓ every node programs all 6 endpoints: {counts}")

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Exercise 2: take one endpoint out of rotation, everywhere
#
# Without deleting anything, make exactly one `web` pod receive no new connections from any node.
# Predict first: will its endpoint still be listed in `web`'s slices? Record `True` or `False` in
# `prediction_listed`. Done when no node's rules route to that pod and the other 5 stay ready.

# %% slideshow={"slide_type": "-"}
prediction_listed = None  # your turn: True or False
# ... then take the pod out of rotation

# %% slideshow={"slide_type": "skip"} tags=["solution"] jupyter={"source_hidden": true}
# Solution: expand this cell to compare it with yours.
prediction_listed = True  # a not-ready pod stays in the slice, with ready=false
drained = h.set_ready(h.list_objects("pods", ns.name, selector="app=web")[0], False, ns.name)
slices = h.wait_for_slices(ns.name, "web", endpoints=6, ready=5)

# %% slideshow={"slide_type": "-"} tags=["verify"]
table = h.slices_table(ns.name, service="web")
ready_ips = set(table.query("ready == True")["address"])
out_of_rotation = [p["status"].get("podIP") for p in h.list_objects("pods", ns.name, selector="app=web")
                   if p["status"].get("podIP") not in ready_ips]
assert len(ready_ips) == 5 and len(out_of_rotation) == 1, (
    f"web has {len(ready_ips)} ready endpoints and {len(out_of_rotation)} pods outside them. Hint: one pod's readiness "
    "gate should fail.")
drained_ip = out_of_rotation[0]
routed = {node: f"--to-destination {drained_ip}:80" in h.wait_for_rules(node, f"{ns.name}/web:http") for node in node_names}
assert not any(routed.values()), f"Some nodes still route to {drained_ip}: {routed}; re-run in a second."
assert prediction_listed in (True, False), "Record True or False in `prediction_listed` first."
listed = drained_ip in set(table["address"])
print(f"You predicted {prediction_listed}; {drained_ip} is {'still' if listed else 'no longer'} listed in web's slices"
      f"{' — right.' if prediction_listed == listed else ' — readiness changes a condition, not the membership.'}")
print(f"✓ {drained_ip} is out of rotation on every node" + (", yet still listed in the slice (ready=false)." if listed else "."))

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Exercise 3: predict the clean-up
#
# `dns` has one ready pod. Make its other pod ready too, send 20 UDP requests to `dns` from the client
# pod (each from a new source port, so 20 entries on the client's node), then swap: the pod that was
# ready first becomes not ready while the other stays ready. **Predict first:** after kube-proxy's next
# sync, how many of the UDP entries to the pod you made not ready are left on the client's node? Record
# your answer in `predicted_left`, then run the solution and the check.

# %% slideshow={"slide_type": "-"}
predicted_left = None  # your turn: the number of entries you expect to survive
# ... then make both pods ready, send the requests and swap

# %% slideshow={"slide_type": "skip"} tags=["solution"] jupyter={"source_hidden": true}
# Solution: expand this cell to compare it with yours.
predicted_left = 0  # the Service still has a serving endpoint, so kube-proxy deletes the stale entries at once
first_dns, second_dns = sorted(h.list_objects("pods", ns.name, selector="app=dns"), key=lambda p: p["metadata"]["name"])
h.set_ready([first_dns, second_dns], True, ns.name)
h.wait_for_slices(ns.name, "dns", endpoints=2, ready=2)
h.wait_for_rules(client_node, f"--to-destination {first_dns['status']['podIP']}:8081")
h.wait_for_rules(client_node, f"--to-destination {second_dns['status']['podIP']}:8081")
sent = h.requests("dns", ns.name, count=20, port="dns")
h.set_ready(first_dns, False, ns.name)  # the other pod stays ready, so the clean-up deletes right away
swapped = h.wait_for_slices(ns.name, "dns", endpoints=2, ready=1)

# %% slideshow={"slide_type": "-"} tags=["verify"]
slices = h.slices_table(ns.name, service="dns")
not_ready = list(slices.query("ready == False")["address"])
ready_now = list(slices.query("ready == True")["address"])
assert len(slices) == 2 and len(not_ready) == 1, (
    f"dns has {len(slices)} endpoints, {len(not_ready)} not ready. Hint: both pods ready, requests, then one pod not ready.")
h.wait_for_rules(client_node, f"--to-destination {ready_now[0]}:8081")
entries = udp_entries()
left = int((entries["reply_src"] == not_ready[0]).sum()) if len(entries) else 0
kept = int((entries["reply_src"] == ready_now[0]).sum()) if len(entries) else 0
assert kept > 0, ("No UDP entries to the ready pod on the client's node. Hint: send the requests "
                  "(h.requests('dns', ns.name, count=20, port='dns')) within 30 s before the swap.")
assert left == 0, f"{left} entries to {not_ready[0]} are left; re-run this cell after kube-proxy's next sync (1 s)."
assert isinstance(predicted_left, int), "Record a number of entries in `predicted_left` first."
print(f"You predicted {predicted_left}; {left} entries to {not_ready[0]} are left"
      f"{' — right.' if predicted_left == left else ' — the clean-up deletes every entry whose DNAT target is not a serving endpoint, as soon as the Service has one.'}")
print(f"✓ entries to the not-ready pod {not_ready[0]}: {left}; to the ready pod {ready_now[0]}: {kept}")

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Exercise 4: every pod in one zone
#
# Scale `topo-b` to 0 and `topo-a` to 2, so both endpoints of `topo` (`topology-mode: Auto`) run in
# zone-a. Predict first: how many of them will carry a **zone-b** hint? Record a number in `prediction`.
# Done when `topo` has 2 ready endpoints, both in zone-a.

# %% slideshow={"slide_type": "-"}
prediction = None  # your turn: 0, 1 or 2
# ... then scale

# %% slideshow={"slide_type": "skip"} tags=["solution"] jupyter={"source_hidden": true}
# Solution: expand this cell to compare it with yours.
prediction = 1  # 2 endpoints, 2 zones with half the CPU each: one each; minimum ⌈1 / 1.2⌉ = 1 fits
h.scale("topo-b", 0, ns.name)
h.scale("topo-a", 2, ns.name)
hinted = h.wait_for("endpointslices", lambda slices: len(zone_hints(slices)) == 2
                    and sum(len(s.get("endpoints") or []) for s in slices) == 2, namespace=ns.name,
                    selector=f"{kube.LABEL_SERVICE_NAME}=topo", what="topo's 2 endpoints, hinted")

# %% slideshow={"slide_type": "-"} tags=["verify"]
assert isinstance(prediction, int), "Set `prediction` to a number first."
topo_now = h.slices_table(ns.name, service="topo").dropna(subset=["address"])
assert len(topo_now) == 2 and set(topo_now["zone"]) == {"zone-a"} and topo_now["ready"].all(), (
    f"topo has {len(topo_now)} endpoints in zones {sorted(set(topo_now['zone']))}. Hint: scale topo-b to 0 and "
    "topo-a to 2, then wait for the pods to be Ready.")
to_b = sum("zone-b" in str(hints) for hints in topo_now["hints"])
print(f"✓ both endpoints in zone-a; {to_b} hinted to zone-b (you predicted {prediction}). The hints follow "
      "the zones' CPU, not where the pods run: zone-b's clients cross to zone-a, but only to their share.")

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Exercise 5: what is left of a gracefully stopped pod?
#
# Section 7's graceful shutdown left two `calm` pods in phase `Failed` on `endpoints-worker2`; later the
# node carried the out-of-service taint (`NoExecute`) for a PodGC pass. Predict first: do those two
# Failed pods still exist? Record `True` or `False` in `prediction`, then list `calm`'s pods in
# `calm_pods` (e.g. with `h.pods_table`) to check. (On kind, the graceful part did not run.)

# %% slideshow={"slide_type": "-"}
prediction = None  # your turn: True or False
calm_pods = None  # your turn

# %% slideshow={"slide_type": "skip"} tags=["solution"] jupyter={"source_hidden": true}
# Solution: expand this cell to compare it with yours.
prediction = False  # nothing deletes a Failed pod by itself, but a NoExecute taint evicts every pod that does not tolerate it
calm_pods = h.pods_table(ns.name, selector="app=calm")

# %% slideshow={"slide_type": "-"} tags=["verify"]
assert prediction in (True, False), "Set `prediction` to True or False first."
assert calm_pods is not None, "List calm's pods into `calm_pods` first, e.g. h.pods_table(ns.name, selector='app=calm')."
names = {p["metadata"]["name"] for p in h.list_objects("pods", ns.name, selector="app=calm")}
if cluster.is_sim:
    assert on_worker2 and not names & on_worker2, f"calm's pods {sorted(names)} still include {sorted(names & on_worker2)}"
    print(f"✓ gone: {sorted(on_worker2)} (you predicted {'they exist' if prediction else 'gone'}). A Failed pod stays "
          "until something deletes it; here the out-of-service taint's NoExecute effect evicted it, and PodGC "
          "force-deleted what could not finish on the stopped node.")
else:
    print("kind: no graceful shutdown ran, so there is nothing to find.")

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Cleanup
#
# Delete the sandbox, and make sure the stopped node runs again (harmless if it already does).

# %% slideshow={"slide_type": "-"} tags=["cleanup"]
h.start_node(failing)
h.wait_for("nodes", healthy, timeout=120, what="all nodes Ready and untainted")
ns.cleanup()

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Summary
#
# - A readiness change reaches every node: pod status → slice update → every kube-proxy's next sync,
#   at most one per `minSyncPeriod` (1 s).
# - Syncs are partial unless forced (start, failure, hourly); a partial sync rewrites only changed
#   Services' chains (plus the shared chains in iptables mode).
# - Rules (iptables) or map entries (nftables) grow with Services × endpoints on every node; nftables mode
#   keeps per-change work nearly constant.
# - A failed node: NotReady after the grace period, its endpoints not ready but listed, pods evicted after
#   the toleration (terminating endpoints), replacements elsewhere, cleanup when it returns.
# - Rules choose the endpoint of a connection's first packet; conntrack keeps it for the rest. A removed
#   endpoint keeps its established connections until they close or its process exits (then `reset`).
# - UDP entries live as long as packets keep coming; kube-proxy deletes those to non-serving endpoints after
#   a UDP Service's endpoints change, but not while the Service has no serving endpoint: the stale-entry
#   problem behind DNS failures after CoreDNS pods went away.
# - Hints narrow what each node uses: `topology-mode: Auto` shares endpoints out by zone CPU and removes
#   all hints (with an Event) when a safeguard fails; `trafficDistribution` hints each endpoint to its own
#   zone (and node); Local traffic policies ignore hints.
# - A graceful node shutdown drains endpoints before the node goes (pods left Failed); after a non-graceful
#   one, the `node.kubernetes.io/out-of-service` taint lets PodGC end the pods' Terminating state.

# %% [markdown] slideshow={"slide_type": "subslide"}
# ## What's next
#
# [10 · CNI providers, NetworkPolicies and CNI-based proxying](10-cni-networkpolicy-and-cni-proxying.ipynb).
# Upstream reading: KEP-3453 (minimize iptables-restore), `pkg/controller/nodelifecycle`, the SLO
# `network_programming_latency.md` in kubernetes/community, and `pkg/proxy/conntrack/cleanup.go`.
