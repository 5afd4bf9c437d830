# %% [markdown] slideshow={"slide_type": "slide"}
# # 05 · Endpoint vs Pod
#
# "An endpoint is a pod" is a good first approximation, and wrong in both directions: a pod can be
# listed but not receive traffic, stay listed while it shuts down, or share its address with other
# pods; and an endpoint need not be a pod at all. This chapter goes through each case on the cluster.

# %% [markdown] slideshow={"slide_type": "notes"}
# > **Presenter note:** The conditions truth table in section 1–2 is the part people get wrong most; give it time.

# %% [markdown] slideshow={"slide_type": "subslide"}
# ## Learning objectives
#
# After this chapter you can:
# 1. *explain* the three endpoint conditions `ready`, `serving` and `terminating`, and drive them through
#    readiness gates and graceful deletion;
# 2. *predict* where Endpoints and EndpointSlices differ: terminating pods stay in slices, leave Endpoints;
# 3. *use* `publishNotReadyAddresses`, and recognise host-network endpoints;
# 4. *publish* endpoints that are not pods: a hand-written slice, and a mirrored custom Endpoints object;
# 5. *predict* when named ports split a Service's endpoints into several slices, and when an endpoint
#    gets a `hostname`;
# 6. *time* a pod's exit end to end (slice update, kube-proxy syncs, SIGTERM) and explain how a `preStop`
#    sleep, `terminationGracePeriodSeconds` and the `externalTrafficPolicy: Local` health check drain it.

# %% [markdown] slideshow={"slide_type": "subslide"}
# ## Prerequisites
#
# | Concept | Importance | Notes |
# |---|---|---|
# | [01 · What is an EndpointSlice?](01-what-is-an-endpointslice.ipynb) | Necessary | slice fields |
# | [04 · What happens when an endpoint is created?](04-what-happens-when-an-endpoint-is-created.ipynb) | Necessary | readiness gates, traces |
# | Pod termination | Helpful | [Termination of Pods](https://kubernetes.io/docs/concepts/workloads/pods/pod-lifecycle/#pod-termination) |
# | Headless Services and DNS | Helpful | [DNS for Services and Pods](https://kubernetes.io/docs/concepts/services-networking/dns-pod-service/) |
#
# **Time to complete:** about 35 minutes

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Which cluster am I on?
#
# | On kind | On the simulator |
# |---|---|
# | agnhost `netexec` containers exit at once on SIGTERM, so "terminating" lasts well under a second | the simulated kubelet finishes a deletion after about a second |
# | readiness is flipped with the same readiness-gate status patch | same |

# %% slideshow={"slide_type": "-"} tags=["cluster-check"]
import pandas as pd

import helpers as h
from helpers import kube

cluster = h.connect()
ns = h.sandbox("ch05")
nodes = h.nodes_table()
assert nodes["ready"].all(), "Not every node is Ready: wait a minute (kind) or restart the simulator."
print(f"{len(nodes)} nodes, all Ready; sandbox namespace: {ns.name}")

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 1. Ready is a condition, not a list
#
# `web` runs 3 pods with a **readiness gate**: a pod is Ready only when its
# `endpoints-notebooks/ready` condition is True, which we set with `h.set_ready`.

# %% slideshow={"slide_type": "-"}
h.apply(h.deployment("web", replicas=3, readiness_gate=True), h.service("web"), namespace=ns.name)
h.wait_for_slices(ns.name, "web", endpoints=3)
h.slices_table(ns.name, service="web")[["address", "ready", "serving", "terminating", "node", "targetRef"]]

# %% [markdown] slideshow={"slide_type": "fragment"}
# **What it shows:** the pods are in the slice as soon as they have IPs — with `ready` and `serving`
# false. In the Endpoints object they sit in `notReadyAddresses`:

# %% slideshow={"slide_type": "-"}
h.endpoints_table(ns.name, service="web")

# %% slideshow={"slide_type": "subslide"}
h.set_ready(h.list_objects("pods", ns.name, selector="app=web"), True, ns.name)
h.wait_for_slices(ns.name, "web", endpoints=3, ready=3)
h.slices_table(ns.name, service="web")[["address", "ready", "serving", "terminating"]]

# %% [markdown] slideshow={"slide_type": "fragment"}
# **What it shows:** all three flipped to ready and serving. The controller derives the conditions
# from the pod (`podToEndpoint` in `staging/src/k8s.io/endpointslice/utils.go`); for a Service without
# `publishNotReadyAddresses`:
#
# | | ready | serving | terminating |
# |---|---|---|---|
# | pod Ready, not deleting | true | true | false |
# | pod not Ready, not deleting | false | false | false |
# | pod Ready, deleting | **false** | true | true |
# | pod not Ready, deleting | false | false | true |
#
# `serving` is the pod's readiness; `ready` is "serving and not terminating". **Why it matters:**
# kube-proxy sends new connections to ready endpoints, and falls back to serving-but-terminating ones
# only when none is ready (ProxyTerminatingEndpoints, GA in 1.28) — so a Service whose pods are all
# shutting down at once, or a node draining under `externalTrafficPolicy: Local`, keeps answering
# instead of dropping traffic.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 2. Graceful deletion: listed in slices, gone from Endpoints
#
# Delete one pod while a trace records slices, Endpoints and pods.

# %% slideshow={"slide_type": "-"}
victim = h.list_objects("pods", ns.name, selector="app=web")[0]["metadata"]["name"]
with h.Trace(kinds=["pods", "endpointslices", "endpoints"], namespace=ns.name, duration=60) as trace:
    h.delete("pod", victim, ns.name, wait=True)
    trace.wait_idle(quiet=1.0, timeout=20)
frame = trace.to_frame()
frame[(frame["kind"] != "Pod") | (frame["name"] == victim)].query("summary != ''")

# %% [markdown] slideshow={"slide_type": "fragment"}
# **What it shows:** when the pod gets its `deletionTimestamp`, the **Endpoints** object drops its
# address at once (ready 3→2), while the **slice** keeps the endpoint (ready 3→2, but the endpoint count
# stays). Meanwhile the ReplicaSet creates a replacement, which appears as a new, not-ready endpoint
# (`notReady 0→1` in Endpoints, `endpoints 3→4` in the slice). The victim leaves the slice
# (`endpoints 4→3`) only once it has actually stopped: when the kubelet reports the pod's terminal
# phase, a moment before the pod object is deleted. The slice's view of the victim while it was
# terminating:

# %% slideshow={"slide_type": "-"}
during = [e["object"] for e in trace.events if e["kind"] == "EndpointSlice" and e["object"]]
terminating = [ep for s in during for ep in s.get("endpoints") or []
               if (ep.get("targetRef") or {}).get("name") == victim and ep["conditions"].get("terminating")]
pd.DataFrame([ep["conditions"] for ep in terminating[:1]], index=[victim])

# %% [markdown] slideshow={"slide_type": "fragment"}
# **Why it matters:** the `terminating` condition (GA in 1.26) lets kube-proxy and load balancers drain a
# pod gracefully; the Endpoints API has no way to say "still serving, but leaving" — it can only
# remove the address (unless the Service sets `publishNotReadyAddresses`, next).

# %% slideshow={"slide_type": "-"}
h.set_ready(h.list_objects("pods", ns.name, selector="app=web"), True, ns.name)
slices = h.wait_for_slices(ns.name, "web", endpoints=3, ready=3)

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 3. `publishNotReadyAddresses`
#
# Some workloads need to find their peers before they are ready (databases forming a cluster,
# StatefulSets with peer discovery). A Service with `publishNotReadyAddresses: true` publishes every
# pod with an IP as ready. Make one pod not ready, and compare two Services over the same pods.

# %% slideshow={"slide_type": "-"}
h.apply(h.service("web-all", selector={"app": "web"}, publish_not_ready=True), namespace=ns.name)
h.wait_for_slices(ns.name, "web-all", endpoints=3, ready=3)
h.set_ready(h.list_objects("pods", ns.name, selector="app=web")[0], False, ns.name)
h.wait_for_slices(ns.name, "web", endpoints=3, ready=2)


def shows_not_serving(slices):
    return any(e["conditions"].get("serving") is False for s in slices for e in s.get("endpoints") or [])


found = h.wait_for("endpointslices", shows_not_serving, namespace=ns.name,
                   selector=f"{kube.LABEL_SERVICE_NAME}=web-all", what="web-all's slice to show the pod not serving")
pd.concat({svc: h.slices_table(ns.name, service=svc).set_index("address")[["ready", "serving"]]
           for svc in ("web", "web-all")}, axis=1)

# %% [markdown] slideshow={"slide_type": "fragment"}
# **What it shows:** for `web` one endpoint is not ready; for `web-all` the same pod is `ready: true`
# while `serving` still tells the truth. **Why it matters:** `publishNotReadyAddresses` overrides
# readiness for everything that reads `ready` — including kube-proxy, so traffic reaches the pod.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 4. Host-network pods share the node's address
#
# A pod with `hostNetwork: true` uses its node's network namespace. It is still an endpoint, but its
# address is the **node's** IP — kube-proxy, kindnet and the control-plane pods work this way.

# %% slideshow={"slide_type": "-"}
hostnet = h.deployment("hostnet", replicas=1, port=18080, readiness_gate=False)
hostnet["spec"]["template"]["spec"]["hostNetwork"] = True
h.apply(hostnet, h.service("hostnet", ports=((80, 18080),)), namespace=ns.name)
h.wait_for_slices(ns.name, "hostnet", endpoints=1, ready=1)
h.slices_table(ns.name, service="hostnet")[["address", "node"]].merge(
    h.nodes_table()[["name", "internalIP"]], left_on="node", right_on="name")

# %% [markdown] slideshow={"slide_type": "fragment"}
# **What it shows:** the endpoint's address equals its node's `internalIP`. **Why it matters:**
# host-network pods on one node share one address, so they can only coexist on different ports. For a
# host-network pod the API server defaults each declared `containerPort` to a `hostPort`, so the
# scheduler will not put two pods declaring the same port on one node; a port the pod does not
# declare is not checked, and a clash then shows up only when the process fails to bind. (If two do
# share a node, they are still two endpoints with the same address: an endpoint's identity includes
# the pod name.)

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 5. Endpoints that are not pods
#
# ### A hand-written slice
#
# A Service **without a selector** gets no controller-made slices. You can publish endpoints for it
# yourself — any address, for example a database outside the cluster. Give the slice the
# `kubernetes.io/service-name` label and your own `managed-by` value, so the controllers leave it alone.

# %% slideshow={"slide_type": "-"}
external_svc = h.service("external", ports=((5432, 5432),))
del external_svc["spec"]["selector"]
external_slice = {
    "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
    "metadata": {"name": "external-1", "labels": {kube.LABEL_SERVICE_NAME: "external",
                                                  kube.LABEL_MANAGED_BY: "staff.example.com"}},
    "addressType": "IPv4",
    "ports": [{"name": "http", "port": 5432, "protocol": "TCP"}],
    "endpoints": [{"addresses": ["192.0.2.10"], "conditions": {"ready": True}}],
}
h.apply(external_svc, external_slice, namespace=ns.name)
h.kubectl("get", "endpointslices", "-n", ns.name, "-l", f"{kube.LABEL_SERVICE_NAME}=external",
          "-L", kube.LABEL_MANAGED_BY)

# %% [markdown] slideshow={"slide_type": "fragment"}
# **What it shows:** a slice with no `targetRef`, no `nodeName`, an address outside the pod network.
# kube-proxy routes to it like any other endpoint. **Why it matters:** this is how you give an external
# system a stable in-cluster name and ClusterIP. (`192.0.2.0/24` is a documentation range.) **A warning:**
# nothing checks that a hand-written address belongs to you, so write access to slices steers traffic
# (CVE-2021-25740, kubernetes/kubernetes#103675); new clusters since 1.22 leave it out of the `edit` and
# `admin` roles. Chapter 11 shows the consequences.

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### A mirrored Endpoints object
#
# Older tools write a custom **Endpoints** object for a selectorless Service. Since 1.19 the
# EndpointSliceMirroring controller copies such objects into slices, so kube-proxy sees them.

# %% slideshow={"slide_type": "-"}
legacy_svc = h.service("legacy", ports=((5432, 5432),))
del legacy_svc["spec"]["selector"]
legacy_endpoints = {
    "apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "legacy"},
    "subsets": [{"addresses": [{"ip": "192.0.2.20"}], "ports": [{"name": "http", "port": 5432}]}],
}
h.apply(legacy_svc, legacy_endpoints, namespace=ns.name)
h.wait_for_slices(ns.name, "legacy", endpoints=1)
h.kubectl("get", "endpointslices", "-n", ns.name, "-l", f"{kube.LABEL_SERVICE_NAME}=legacy",
          "-L", kube.LABEL_MANAGED_BY)

# %% [markdown] slideshow={"slide_type": "fragment"}
# **What it shows:** a slice `legacy-xxxxx` managed by `endpointslicemirroring-controller.k8s.io`, owned
# by the Endpoints object. The mirroring controller skips Endpoints labelled
# `endpointslice.kubernetes.io/skip-mirror: "true"`, and Endpoints whose Service has a selector. **Why it
# matters:** with Endpoints deprecated (since 1.33), write slices directly; mirroring exists for
# compatibility.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 6. Named ports can split a Service's endpoints
#
# A Service may target a port **by name** (`targetPort: http`). Each pod resolves that name to its own
# container port number — and a slice holds one set of port numbers. Two Deployments, same label
# `group=named`, port `http` = 8080 on one and 8081 on the other:

# %% slideshow={"slide_type": "-"}
h.apply(h.deployment("named-a", replicas=2, port=8080, labels={"group": "named"}, readiness_gate=False),
        h.deployment("named-b", replicas=2, port=8081, labels={"group": "named"}, readiness_gate=False),
        h.service("named", selector={"group": "named"}, ports=((80, "http"),)), namespace=ns.name)
h.wait_for_slices(ns.name, "named", endpoints=4, ready=4)
h.kubectl("get", "endpointslices", "-n", ns.name, "-l", f"{kube.LABEL_SERVICE_NAME}=named")

# %% [markdown] slideshow={"slide_type": "fragment"}
# **What it shows:** two slices, one per resolved port (8080 and 8081), each with two endpoints.
# **Why it matters:** during a rolling update that renumbers a named port, a Service temporarily has
# slices for both numbers — each endpoint is reached on its own port. Upstream test:
# `TestReconcileEndpointSlicesNamedPorts` (300 pods, 5 port numbers ⇒ 5 slices of 60).

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 7. Hostname and subdomain
#
# An endpoint gets a `hostname` only when its pod sets `spec.hostname` **and** `spec.subdomain` equals
# the Service's name — the StatefulSet pattern, which gives each pod a DNS name
# `<hostname>.<service>.<namespace>.svc.cluster.local` through a headless Service.

# %% slideshow={"slide_type": "-"}
db = h.deployment("db", replicas=1, readiness_gate=False)
db["spec"]["template"]["spec"].update(hostname="db-0", subdomain="db")
h.apply(db, h.service("db", clusterIP="None"), namespace=ns.name)
h.wait_for_slices(ns.name, "db", endpoints=1, ready=1)
db_slice = h.list_objects("endpointslices", ns.name, selector=f"{kube.LABEL_SERVICE_NAME}=db")[0]
print("slice labels:", db_slice["metadata"]["labels"])
pd.DataFrame([{"address": e["addresses"][0], "hostname": e.get("hostname"), "pod": e["targetRef"]["name"]}
              for e in db_slice["endpoints"]])

# %% [markdown] slideshow={"slide_type": "fragment"}
# **What it shows:** the endpoint carries `hostname: db-0`, and the slice has the label
# `service.kubernetes.io/headless` because the Service has no ClusterIP. **Why it matters:** CoreDNS
# names each endpoint of a headless Service after its `hostname`, giving the stable
# `db-0.db.<namespace>.svc.cluster.local`. Without a matching subdomain the endpoint still gets a
# record, but named after its IP (e.g. `10-244-1-10.db.<namespace>.svc.cluster.local`), which changes
# whenever the pod is recreated.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 8. Graceful termination, measured
#
# The pods run agnhost `netexec`, which exits as soon as it gets SIGTERM. Two Deployments differ only
# in a 3 s `preStop` sleep, which holds SIGTERM back while the endpoint turns `terminating` and every
# node's kube-proxy drops it from its rules (within its 1 s `minSyncPeriod`). Send requests at a steady
# 20 per second while each Deployment rolls out new pods, then while one pod is deleted.

# %% slideshow={"slide_type": "-"}
lab = {"no preStop": h.deployment("plain", replicas=3, readiness_gate=False),
       "preStop sleep 3 s": h.deployment("drained", replicas=3, readiness_gate=False)}
lab["preStop sleep 3 s"]["spec"]["template"]["spec"]["containers"][0]["lifecycle"] = {
    "preStop": {"sleep": {"seconds": 3}}}
for dep in lab.values():
    h.apply(dep, h.service(dep["metadata"]["name"]), namespace=ns.name)
    h.wait_for_slices(ns.name, dep["metadata"]["name"], endpoints=3, ready=3)
runs = []
for label, dep in lab.items():
    name = dep["metadata"]["name"]
    dep["spec"]["template"]["metadata"]["annotations"] = {"lab/rollout": "2"}  # a new template: a rollout
    h.apply(dep, namespace=ns.name)
    rolling = h.requests(name, ns.name, count=200, interval=0.05)
    victim = h.list_objects("pods", ns.name, selector=f"app={name}")[0]["metadata"]["name"]
    h.delete("pod", victim, ns.name)
    deletion = h.requests(name, ns.name, count=100, interval=0.05)
    for what, frame in (("rolling update", rolling), ("pod deletion", deletion)):
        runs.append({"workload": label, "during": what, "requests": len(frame),
                     "failed": int((frame["outcome"] != "ok").sum()),
                     "outcomes": frame["outcome"].value_counts().to_dict()})
pd.DataFrame(runs)

# %% [markdown] slideshow={"slide_type": "fragment"}
# **What it shows:** with the `preStop` sleep no request fails. Without it, a pod that stops before
# the rules have moved on still gets its share of new connections for that moment: those are `refused`
# (nothing listens on the pod's IP any more), or time out once the pod's IP is gone. How many depends on
# the race between the kubelet's SIGTERM and kube-proxy's next sync, so the count varies from run to run
# and can be 0 for a single deletion; a rollout replaces every pod, so it usually shows a few. On kind the
# requests are real `curl` calls from a client pod; on the simulator each one walks the client node's
# rules as they were at that instant. **Why it matters:** the endpoint's `terminating` condition only
# helps if the pod keeps serving until every node has seen it; a preStop sleep (or agnhost's
# `--delay-shutdown`) buys that time.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 9. Graceful termination, end to end
#
# Section 8 counted failures; this section times each step of one pod's exit. Two Deployments run one
# pod each, pinned to the two workers, behind a `LoadBalancer` Service `lb` with
# `externalTrafficPolicy: Local`. Each pod has a 5 s `preStop` sleep and
# `terminationGracePeriodSeconds: 30`. Scaling `lb-1` to 0 removes the pod on `endpoints-worker2`
# without a replacement, while a client sends 10 requests a second for 10 s.

# %% slideshow={"slide_type": "subslide"}
from helpers.dataplane import build_proxy_state, health_check_response

PRESTOP_S = 5
workers = ["endpoints-worker", "endpoints-worker2"]
for i, node in enumerate(workers):
    dep = h.deployment(f"lb-{i}", replicas=1, labels={"group": "lb"}, node_name=node, readiness_gate=False)
    pod_spec = dep["spec"]["template"]["spec"]
    pod_spec["terminationGracePeriodSeconds"] = 30
    pod_spec["containers"][0]["lifecycle"] = {"preStop": {"sleep": {"seconds": PRESTOP_S}}}
    h.apply(dep, namespace=ns.name)
h.apply(h.service("lb", selector={"group": "lb"}, type="LoadBalancer", externalTrafficPolicy="Local"),
        namespace=ns.name)
lb_ips = [ep["addresses"][0] for s in h.wait_for_slices(ns.name, "lb", endpoints=2, ready=2) for ep in s["endpoints"]]
for node in nodes["name"]:  # every kube-proxy has both endpoints before the clock starts
    for ip in lb_ips:
        h.wait_for_rules(node, f"--to-destination {ip}:80")
warm_up = h.requests("lb", ns.name, count=5)  # starts the client pod, too
assert set(warm_up["outcome"]) == {"ok"}, warm_up
leaving = h.list_objects("pods", ns.name, selector="app=lb-1")[0]["metadata"]["name"]
with h.Trace(kinds=["pods", "endpointslices", "events"], namespace=ns.name, duration=120) as exit_trace:
    h.scale("lb-1", 0, ns.name)
    exit_requests = h.requests("lb", ns.name, count=100, interval=0.1)
    h.wait_for_deleted("pod", leaving, ns.name, timeout=60)
    exit_trace.wait_idle(quiet=1.0, timeout=20)

# %% slideshow={"slide_type": "subslide"}
def leaving_endpoint(slice_):
    return next((ep for ep in slice_.get("endpoints") or [] if (ep.get("targetRef") or {}).get("name") == leaving), None)


lb_svc, node_objs = h.get("svc", "lb", ns.name), {n["metadata"]["name"]: n for n in h.list_objects("nodes")}
steps = []
for e in sorted(exit_trace.events, key=lambda e: e["t"]):
    obj = e["object"] or {}
    if e["kind"] == "EndpointSlice" and obj:
        ep = leaving_endpoint(obj)
        what = ("endpoint " + ", ".join(f"{k}={v}" for k, v in ep["conditions"].items())) if ep else "endpoint removed"
        health = {n: health_check_response(build_proxy_state([lb_svc], [obj], node_objs[n]), ns.name, "lb")
                  for n in workers}
        steps.append({"t": e["t"], "component": "EndpointSlice controller", "step": what,
                      **{f"health check {n}": f"{code} ({body['localEndpoints']} local)" for n, (code, body) in health.items()}})
    elif e["kind"] == "Event" and obj.get("reason") == "Killing" and obj["involvedObject"]["name"] == leaving:
        steps.append({"t": e["t"], "component": "kubelet", "step": f"Killing: preStop sleep {PRESTOP_S} s starts"})
        steps.append({"t": e["t"] + PRESTOP_S, "component": "kubelet", "step": "SIGTERM (preStop done; Killing + 5 s)"})
    elif e["kind"] == "Pod" and e["name"] == leaving and e["summary"]:
        steps.append({"t": e["t"], "component": "API server", "step": f"pod {e['summary']}"})

# %% slideshow={"slide_type": "subslide"}
terminating_at = min(s["t"] for s in steps if "terminating=True" in s["step"])
syncs = exit_trace.to_frame().query("kind == 'KubeProxy' and t >= @terminating_at").groupby("actor")["t"].min()
steps += [{"t": t, "component": actor, "step": "sync: the terminating endpoint leaves the rules"} for actor, t in syncs.items()]
answered = exit_requests[exit_requests["pod"] == leaving]
last_answer = answered["t"].max() - exit_trace.server_start if len(answered) else 0.0
steps.append({"t": last_answer if len(answered) else None, "component": "client",
              "step": f"{len(answered)} of {len(exit_requests)} requests after the scale-down reached {leaving}"
              + (", the last one here" if len(answered) else "")})
timeline = pd.DataFrame(steps).sort_values("t", kind="stable", na_position="last").round({"t": 2}).fillna("").reset_index(drop=True)
sigterm_at = min(s["t"] for s in steps if s["step"].startswith("SIGTERM"))
outcomes = exit_requests["outcome"].value_counts().to_dict()
assert outcomes == {"ok": len(exit_requests)}, f"with a preStop sleep every request should be answered: {outcomes}"
assert last_answer < sigterm_at, "the leaving pod answered after its SIGTERM?"
if len(syncs):  # kind logs syncs only at -v=2
    assert last_answer <= syncs.max() < sigterm_at, (last_answer, syncs.to_dict(), sigterm_at)
    assert (syncs - terminating_at).max() <= 1.0, f"a node synced more than minSyncPeriod late: {syncs.to_dict()}"
print(f"{len(exit_requests)} requests, outcomes {outcomes}; every node synced {sigterm_at - syncs.max():.1f} s "
      "before SIGTERM" if len(syncs) else "kube-proxy syncs not logged (kind below -v=2)")

# %% slideshow={"slide_type": "subslide"}
timeline

# %% [markdown] slideshow={"slide_type": "fragment"}
# **What it shows**, in order (`t` in seconds since the scale-down, cluster clock):
#
# 1. The ReplicaSet controller deletes the pod; the API server sets its `deletionTimestamp`. In the
#    same instant the EndpointSlice controller rewrites the endpoint as `ready=False, serving=True,
#    terminating=True`, and the kubelet starts the `preStop` sleep (`Killing`).
# 2. Each node's kube-proxy syncs within `minSyncPeriod` (1 s) and drops the endpoint from the ClusterIP
#    rules, because a ready endpoint remains: at once if its last sync was more than a second ago, else
#    when that second is up. Requests sent before the client's node synced may still reach the leaving
#    pod (the `client` row counts them, 0 when the sync came at once); none is sent to it afterwards.
# 3. SIGTERM arrives only when the preStop sleep ends, seconds after every node synced. agnhost exits at
#    once, the kubelet reports phase `Succeeded`, and the endpoint leaves the slice.
#
# Every request was answered. Without the sleep (section 8), SIGTERM comes at step 1 and races the syncs
# of step 2. The `preStop` sleep is counted inside `terminationGracePeriodSeconds`; if the grace period
# runs out first, the kubelet kills the container (Exercise 3).
#
# The two health-check columns show what each node's kube-proxy answers on the Service's
# `healthCheckNodePort` for that slice, computed with the `helpers.dataplane` model of
# `pkg/proxy/healthcheck`. A node answers 200 while it has a local endpoint that is **ready**, else 503.
# On kind you can ask the node itself:
# `docker exec endpoints-worker2 curl -s localhost:<healthCheckNodePort>`.

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Why load balancers need the terminating endpoint (KEP-1669)
#
# `endpoints-worker2` answers 503 from the moment its only endpoint turns terminating, so a cloud load
# balancer stops choosing it. A load balancer only notices after a few failed checks, several seconds
# apart, and traffic it sends in the meantime still arrives at `endpoints-worker2`'s node port. Under
# `externalTrafficPolicy: Local` that node may only use its own endpoints. Here is which endpoints it
# uses while the pod terminates:

# %% slideshow={"slide_type": "-"}
terminating_slice = next(e["object"] for e in sorted(exit_trace.events, key=lambda e: e["t"])
                         if e["kind"] == "EndpointSlice" and e["object"] and (leaving_endpoint(e["object"]) or {})
                         .get("conditions", {}).get("terminating"))
worker2_view = pd.DataFrame(build_proxy_state([lb_svc], [terminating_slice], node_objs["endpoints-worker2"]).rows())
worker2_view = worker2_view[["endpoint", "nodeName", "ready", "serving", "terminating", "cluster", "localPolicy"]]
fallback = worker2_view.query("nodeName == 'endpoints-worker2'")
assert fallback["localPolicy"].all() and not fallback["ready"].any(), worker2_view
worker2_view

# %% [markdown] slideshow={"slide_type": "fragment"}
# **What it shows:** for ClusterIP traffic (`cluster`) the node uses only the ready endpoint on
# `endpoints-worker`. For external traffic (`localPolicy`) it still uses its own terminating endpoint,
# because that endpoint is serving and the node has no ready local one. kube-proxy's `CategorizeEndpoints`
# (`pkg/proxy/topology.go`) falls back to serving, terminating endpoints when no ready one exists.
# **Why it matters:** before this fallback (KEP-1669, GA in 1.28), such a node dropped the traffic still
# arriving during the load balancer's detection delay, although its pod was still serving. Now the
# health check tells the load balancer to drain the node, and what still arrives is answered until
# the preStop sleep ends.

# %% [markdown] slideshow={"slide_type": "notes"}
# > **Presenter note:** Read the timeline top to bottom as a race: the controller's slice write and every node's
# > sync must land before SIGTERM. The preStop sleep is what makes the race safe. The health check
# > turns 503 on the terminating write, not on removal; that early signal is what drains the load
# > balancer.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Exercise 1: take one pod out of rotation
#
# Make sure that exactly **one** of `web`'s pods is not ready (use `h.set_ready`; the others ready).
# Predict first: what will that endpoint's `serving` condition say, `True` or `False`? Record it in
# `prediction_serving`. Done when `web`'s slices show exactly one endpoint with `ready: false`, and the
# Endpoints object lists exactly one not-ready address.

# %% slideshow={"slide_type": "-"}
prediction_serving = None  # your turn: True or False
# ... then take one pod out of rotation

# %% slideshow={"slide_type": "skip"} tags=["solution"] jupyter={"source_hidden": true}
# Solution: expand this cell to compare it with yours.
prediction_serving = False  # serving follows the pod's readiness; only terminating sets it apart from ready
web_pods = h.list_objects("pods", ns.name, selector="app=web")
h.set_ready(web_pods[1:], True, ns.name)
h.set_ready(web_pods[0], False, ns.name)
h.wait_for_slices(ns.name, "web", endpoints=3, ready=2)


def one_not_ready(endpoints):
    web = [e for e in endpoints if e["metadata"]["name"] == "web"]
    return bool(web) and sum(len(s.get("notReadyAddresses") or []) for s in web[0].get("subsets") or []) == 1


found = h.wait_for("endpoints", one_not_ready, namespace=ns.name, what="Endpoints web to list one not-ready address")

# %% slideshow={"slide_type": "-"} tags=["verify"]
web_view = h.slices_table(ns.name, service="web")
not_ready = web_view[web_view["ready"].eq(False)]
not_ready_in_endpoints = int(h.endpoints_table(ns.name, service="web")["ready"].eq(False).sum())
assert len(not_ready) == 1, (f"{len(not_ready)} endpoints are not ready, expected 1. Hint: "
                             "exactly one pod should fail its readiness gate, the others pass it.")
assert not_ready_in_endpoints == 1, f"Endpoints lists {not_ready_in_endpoints} not-ready addresses, expected 1."
assert prediction_serving in (True, False), "Record True or False in `prediction_serving` first."
serving = bool(not_ready["serving"].iloc[0])
print(f"You predicted serving={prediction_serving}; the not-ready endpoint has serving={serving}"
      f"{' — right.' if prediction_serving == serving else ' — serving differs from ready only while a pod terminates.'}")
print("✓ One endpoint out of rotation: still listed, just not ready — in both APIs.")

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Exercise 2: a second external address
#
# Add the address `192.0.2.11` to the Service `external` by updating your hand-written slice
# `external-1` (or by adding a second slice with the same labels). Predict first: will an Endpoints
# object `external` appear and list the addresses too? Record `True` or `False` in
# `prediction_endpoints`. Done when `external`'s slices hold both `192.0.2.10` and `192.0.2.11`.

# %% slideshow={"slide_type": "-"}
prediction_endpoints = None  # your turn: True or False
# ... then add the address

# %% slideshow={"slide_type": "skip"} tags=["solution"] jupyter={"source_hidden": true}
# Solution: expand this cell to compare it with yours.
prediction_endpoints = False  # mirroring goes from Endpoints to slices only, and no controller selects for external
external_slice["endpoints"].append({"addresses": ["192.0.2.11"], "conditions": {"ready": True}})
applied = h.apply(external_slice, namespace=ns.name)

# %% slideshow={"slide_type": "-"} tags=["verify"]
addresses = {a for s in h.list_objects("endpointslices", ns.name, selector=f"{kube.LABEL_SERVICE_NAME}=external")
             for e in s.get("endpoints") or [] for a in e["addresses"]}
assert {"192.0.2.10", "192.0.2.11"} <= addresses, (
    f"external's slices hold {sorted(addresses)}. Hint: append "
    "{'addresses': ['192.0.2.11'], 'conditions': {'ready': True}} to external_slice['endpoints'] and apply it.")
assert prediction_endpoints in (True, False), "Record True or False in `prediction_endpoints` first."
has_endpoints = any(e["metadata"]["name"] == "external" for e in h.list_objects("endpoints", ns.name))
print(f"You predicted {prediction_endpoints}; Endpoints external {'exists' if has_endpoints else 'does not exist'}"
      f"{' — right.' if prediction_endpoints == has_endpoints else ' — which controller would write it?'}")
print("✓ Both addresses are published; no controller touched your slice.")

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Exercise 3: a grace period shorter than the preStop sleep
#
# Set `terminationGracePeriodSeconds: 3` on Deployment `lb-0` and keep its 5 s `preStop` sleep. Its
# pods are then replaced: wait until the new pod is Ready. Predict first: when one of its pods is
# deleted, how many seconds will it take to disappear? Record the number in `predicted_seconds`. The
# verify cell deletes the pod and measures.

# %% slideshow={"slide_type": "-"}
predicted_seconds = None  # your turn: a number of seconds
# ... and your change to lb-0

# %% slideshow={"slide_type": "skip"} tags=["solution"] jupyter={"source_hidden": true}
# Solution: expand this cell to compare it with yours.
predicted_seconds = 3  # the grace period cuts the 5 s preStop sleep short
short = h.deployment("lb-0", replicas=1, labels={"group": "lb"}, node_name=workers[0], readiness_gate=False)
short["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] = 3
short["spec"]["template"]["spec"]["containers"][0]["lifecycle"] = {"preStop": {"sleep": {"seconds": PRESTOP_S}}}
h.apply(short, namespace=ns.name)
replaced = h.wait_for("pods", lambda pods: len(pods) == 1 and pods[0]["spec"].get("terminationGracePeriodSeconds") == 3
                      and kube.condition_true(pods[0], "Ready"), namespace=ns.name, selector="app=lb-0", timeout=120,
                      what="lb-0's new pod (grace period 3 s) Ready")

# %% slideshow={"slide_type": "-"} tags=["verify"]
assert isinstance(predicted_seconds, int | float), "Set `predicted_seconds` to a number before you verify."
lb0 = h.get("deploy", "lb-0", ns.name)["spec"]["template"]["spec"]
assert lb0.get("terminationGracePeriodSeconds") == 3, (
    f"lb-0's pods have terminationGracePeriodSeconds {lb0.get('terminationGracePeriodSeconds')}. Hint: set it to 3 "
    "in the Deployment's pod template and apply it.")
pod = h.wait_for("pods", lambda pods: len(pods) == 1 and kube.condition_true(pods[0], "Ready")
                 and not pods[0]["metadata"].get("deletionTimestamp"), namespace=ns.name, selector="app=lb-0",
                 timeout=120, what="one Ready lb-0 pod")[0]
assert pod["spec"].get("terminationGracePeriodSeconds") == 3, "lb-0's pod still has the old grace period: wait for the rollout."
begun = h.cluster_time()
h.delete("pod", pod["metadata"]["name"], ns.name, wait=True)
measured = (h.cluster_time() - begun).total_seconds()
assert measured < PRESTOP_S, f"the pod took {measured:.1f} s, no shorter than the {PRESTOP_S} s preStop sleep."
print(f"You predicted {predicted_seconds} s; the pod took {measured:.1f} s"
      f"{' — right.' if abs(measured - predicted_seconds) < 1 else ' — which of the two limits ends first?'}")
print(f"✓ gone after {measured:.1f} s: the grace period, not the preStop sleep, bounds the shutdown; the kubelet "
      "kills what still runs.")

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Cleanup

# %% slideshow={"slide_type": "-"} tags=["cleanup"]
ns.cleanup()

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Summary
#
# - An endpoint has three conditions: `serving` (pod readiness), `terminating` (pod deleting), and
#   `ready` (serving and not terminating — or always, with `publishNotReadyAddresses`).
# - Terminating pods stay in EndpointSlices (for graceful draining) but leave Endpoints.
# - Host-network pods are endpoints at their node's IP.
# - Endpoints need not be pods: hand-written slices for selectorless Services, or custom Endpoints
#   objects mirrored into slices by the EndpointSliceMirroring controller.
# - Named target ports that resolve to different numbers split endpoints into one slice per port set;
#   `hostname` is published only when the pod's `subdomain` names the Service.
# - A pod's exit is a race: the slice turns it terminating and every kube-proxy drops it within about a
#   second; a `preStop` sleep (inside `terminationGracePeriodSeconds`) holds SIGTERM back until then, and
#   the eTP=Local health check answers 503 from the terminating write on, so load balancers drain the node.

# %% [markdown] slideshow={"slide_type": "subslide"}
# ## What's next
#
# [06 · How do EndpointSlice controllers work?](06-how-endpointslice-controllers-work.ipynb) opens the
# reconciler: why slices fill the way they do, and what happens when a node disappears
# (kubernetes/kubernetes#107927).
