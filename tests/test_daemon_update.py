"""The DaemonSet controller's rolling update decision (helpers.controlplane.daemon; update.go, v1.36.1)."""

from helpers.controlplane.daemon import max_unavailable, node_to_daemon_pods, rolling_update_deletions

NOW = 1_800_000_000.0


def daemon_pod(name, node, revision, *, ready=True, terminating=False, phase="Running"):
    meta = {"name": name, "labels": {"controller-revision-hash": revision}}
    if terminating:
        meta["deletionTimestamp"] = "2027-01-15T08:00:00Z"
    return {"metadata": meta, "spec": {"nodeName": node},
            "status": {"phase": phase, "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}}


def daemonset(**rolling):
    return {"metadata": {"generation": 2}, "spec": {"updateStrategy": {"type": "RollingUpdate",
                                                                       "rollingUpdate": rolling}}}


def plan(ds, pods, nodes=("a", "b", "c")):
    by_node = node_to_daemon_pods(pods, lambda p: p["spec"]["nodeName"])
    return [p["metadata"]["name"] for p in rolling_update_deletions(ds, by_node, set(nodes), "new", NOW)]


def test_one_available_old_pod_at_a_time():
    pods = [daemon_pod(f"old-{n}", n, "old") for n in "abc"]
    assert plan(daemonset(maxUnavailable=1), pods) == ["old-a"]
    assert plan(daemonset(maxUnavailable=2), pods) == ["old-a", "old-b"]


def test_a_terminating_old_pod_holds_its_node_and_counts_as_unavailable():
    pods = [daemon_pod("old-a", "a", "old", terminating=True), daemon_pod("old-b", "b", "old"),
            daemon_pod("old-c", "c", "old")]
    assert "a" in node_to_daemon_pods(pods, lambda p: p["spec"]["nodeName"])  # so manage creates nothing there
    assert plan(daemonset(maxUnavailable=1), pods) == []
    # a terminal pod being deleted no longer occupies its node
    done = daemon_pod("old-a", "a", "old", terminating=True, phase="Succeeded")
    assert "a" not in node_to_daemon_pods([done], lambda p: p["spec"]["nodeName"])


def test_unavailable_new_pods_count_and_unavailable_old_pods_are_always_replaced():
    pods = [daemon_pod("new-a", "a", "new", ready=False), daemon_pod("old-b", "b", "old"),
            daemon_pod("old-c", "c", "old", ready=False)]
    assert plan(daemonset(maxUnavailable=1), pods) == ["old-c"]
    pods[0] = daemon_pod("new-a", "a", "new")
    assert plan(daemonset(maxUnavailable=2), pods) == ["old-c", "old-b"]


def test_max_unavailable_percent_rounds_up_and_zero_means_one_without_surge():
    assert max_unavailable(daemonset(maxUnavailable="10%"), 3) == 1
    assert max_unavailable(daemonset(maxUnavailable="50%"), 3) == 2
    assert max_unavailable(daemonset(maxUnavailable=0, maxSurge=0), 3) == 1


def test_on_delete_replaces_nothing():
    ds = {"metadata": {}, "spec": {"updateStrategy": {"type": "OnDelete"}}}
    assert plan(ds, [daemon_pod("old-a", "a", "old")]) == []
