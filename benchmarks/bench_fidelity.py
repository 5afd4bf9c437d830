"""How often the simulator agrees with the real control plane, per area (issue 19).

Starts the real etcd, kube-apiserver and kube-controller-manager (`make upstream` builds them; see
tests/controlplane_oracle.py) next to a simulator, runs the differential cases of
tests/test_oracle_controlplane.py, tests/test_oracle_api.py and tests/test_oracle_dualstack.py, and prints
per area how many cases agree, then each disagreement (a known, deliberate difference is listed as such and
does not count as one). Areas: controllers, api (malformed requests' Status), kubectl (-o wide columns),
families (Services' IP families, single-stack), api-calls (apply, server-side apply, patch, pagination,
watch, explain, tables, describe), dual-stack (its own control plane from kind/dual-stack.yaml: controller
scenarios and IP families), kube-proxy (a real kube-proxy per node in its own network namespace, per mode:
the rules of tests/kubeproxy_oracle.py's scenarios and the sync timing of its bursts; needs root).
Also prints the control planes' start and stop times.
Run: .venv/bin/python benchmarks/bench_fidelity.py [--area controllers|api|... ...]
Exit code: 0 all agree, 1 some disagree, 3 the binaries are missing.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

import apiserver_diff
import controlplane_diff as diff
from controlplane_oracle import missing_binaries

AREAS = ("controllers", "api", "kubectl", "families", "api-calls", "dual-stack", "kube-proxy")
KNOWN = "known: "  # a result that starts so is a listed, deliberate difference


def controllers(lab, scenarios=None) -> list[tuple[str, str | None]]:
    results = []
    for scenario in scenarios or [*diff.SCENARIOS, *map(diff.random_scenario, diff.RANDOM_SEEDS)]:
        outcome = lab.run(scenario)
        results.append((scenario.name, "\n".join(outcome.differences) or None))
        print(f"  {scenario.name}: writes (step, real (slices, endpoints), sim) {outcome.writes}", flush=True)
    return results


def api(lab) -> list[tuple[str, str | None]]:
    namespace = diff.api_namespace_for(lab)
    return [_compared(case, diff.api_answers(lab, namespace, case), diff.API_XFAIL) for case in sorted(diff.REQUESTS)]


def kubectl(lab) -> list[tuple[str, str | None]]:
    namespace = diff.wide_namespace_for(lab)
    return [_compared(resource, diff.wide_headers(lab, namespace, resource), {}) for resource in diff.WIDE]


def _compared(name: str, got: dict, known: dict) -> tuple[str, str | None]:
    if got["sim"] == got["real"]:
        return name, None
    return name, (KNOWN + known[name] if name in known else f"real {got['real']}\n    sim  {got['sim']}")


def families(lab) -> list[tuple[str, str | None]]:
    namespace = diff.families_namespace_for(lab)
    return [_compared(case, diff.service_family_answers(lab, namespace, case), {})
            for case in sorted(diff.SERVICE_FAMILY_CASES)]


def api_calls(lab) -> list[tuple[str, str | None]]:
    apiserver_diff.table_namespace_for(lab)
    with tempfile.TemporaryDirectory(prefix="bench-fidelity-kubectl-") as home:
        return [_compared(case, apiserver_diff.answers(lab, case, Path(home)), apiserver_diff.XFAIL)
                for case in sorted(apiserver_diff.CASES)]


def dual_stack(_lab) -> list[tuple[str, str | None]]:
    with tempfile.TemporaryDirectory(prefix="bench-fidelity-dual-") as tmp:
        began = time.monotonic()
        lab = diff.Lab(tmp, diff.DUAL_STACK_CONFIG)
        print(f"  dual-stack control plane + simulator up in {time.monotonic() - began:.1f}s", flush=True)
        try:
            return controllers(lab, diff.DUAL_STACK_SCENARIOS) + [(f"families {name}", problem)
                                                                  for name, problem in families(lab)]
        finally:
            lab.close()


def kube_proxy(_lab) -> list[tuple[str, str | None]]:
    import kubeproxy_oracle as oracle
    import netns

    reason = netns.kube_proxy_unavailable()
    if reason:
        print(f"  skipped: {reason}")
        return []
    results = []
    for mode in oracle.CONFIGS:
        lab = oracle.Lab(mode)
        try:
            for scenario in oracle.SCENARIOS:
                results.append(_proxy_case(f"{mode} {scenario}", _rules, lab, scenario))
            for burst in oracle.BURSTS:
                results.append(_proxy_case(f"{mode} sync timing {burst}", _timing, lab, burst))
        finally:
            lab.stop()
    return results


def _proxy_case(name: str, run, *args) -> tuple[str, str | None]:
    import kubeproxy_oracle as oracle

    try:
        return name, run(*args)
    except oracle.ModelStalled as stalled:
        return name, f"{KNOWN}simulated kube-proxy stalled (open bug, issue 20): {stalled}"


def _rules(lab, scenario) -> str | None:
    import kubeproxy_oracle as oracle

    differing = [c for c in lab.run(scenario) if not c.agrees]
    return oracle.report(differing) if differing else None


def _timing(lab, burst) -> str | None:
    import kubeproxy_oracle as oracle

    timings = oracle.sync_timing(lab, burst)
    for timing in timings:
        print(f"  {timing}", flush=True)
    return "\n    ".join(str(t) for t in timings if not t.agrees) or None


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--area", action="append", choices=AREAS, help="only these areas (default: all)")
    args = parser.parse_args(argv)
    reason = missing_binaries()
    if reason:
        print(f"skipped: {reason}")
        return 3
    with tempfile.TemporaryDirectory(prefix="bench-fidelity-") as tmp:
        began = time.monotonic()
        lab = diff.Lab(tmp)
        print(f"control plane + simulator up in {time.monotonic() - began:.1f}s "
              f"({', '.join(f'{k} {v:.1f}s' for k, v in lab.real.timings.items())})", flush=True)
        report = {}
        try:
            for area in args.area or AREAS:
                print(f"{area}:", flush=True)
                report[area] = globals()[area.replace("-", "_")](lab)
        finally:
            began = time.monotonic()
            lab.close()
            print(f"stopped in {time.monotonic() - began:.1f}s "
                  f"({', '.join(f'{k} {v:.1f}s' for k, v in lab.real.timings.items() if k.startswith('stop'))})")
    disagreements = 0
    for area, results in report.items():
        agree = sum(1 for _, problem in results if problem is None)
        known = sum(1 for _, problem in results if problem is not None and problem.startswith(KNOWN))
        print(f"{area}: {agree}/{len(results)} agree" + (f", {known} known differences" if known else ""))
        for name, problem in results:
            if problem is not None:
                disagreements += not problem.startswith(KNOWN)
                print(f"  {'KNOWN' if problem.startswith(KNOWN) else 'DISAGREE'} {name}:\n    {problem}")
    return 1 if disagreements else 0


if __name__ == "__main__":
    sys.exit(main())
