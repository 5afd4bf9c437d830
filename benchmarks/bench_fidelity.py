"""How often the simulator agrees with the real control plane, per area (issue 19).

Starts the real etcd, kube-apiserver and kube-controller-manager (`make upstream` builds them; see
tests/controlplane_oracle.py) next to a simulator, runs the differential cases of
tests/test_oracle_controlplane.py, and prints per area (controllers, API Status, kubectl -o wide) how
many cases agree, then each disagreement. Also prints the control plane's start and stop times.
Run: .venv/bin/python benchmarks/bench_fidelity.py [--area controllers|api|kubectl ...]
Exit code: 0 all agree, 1 some disagree, 3 the binaries are missing.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

import controlplane_diff as diff
from controlplane_oracle import missing_binaries

AREAS = ("controllers", "api", "kubectl")


def controllers(lab) -> list[tuple[str, str | None]]:
    results = []
    for scenario in [*diff.SCENARIOS, *map(diff.random_scenario, diff.RANDOM_SEEDS)]:
        outcome = lab.run(scenario)
        results.append((scenario.name, "\n".join(outcome.differences) or None))
        print(f"  {scenario.name}: writes (step, real (slices, endpoints), sim) {outcome.writes}", flush=True)
    return results


def api(lab) -> list[tuple[str, str | None]]:
    namespace = diff.api_namespace_for(lab)
    results = []
    for case in sorted(diff.REQUESTS):
        answers = diff.api_answers(lab, namespace, case)
        known = f" (known: {diff.API_XFAIL[case]})" if case in diff.API_XFAIL else ""
        results.append((case, None if answers["sim"] == answers["real"]
                        else f"real {answers['real']}\n    sim  {answers['sim']}{known}"))
    return results


def kubectl(lab) -> list[tuple[str, str | None]]:
    namespace = diff.wide_namespace_for(lab)
    results = []
    for resource in diff.WIDE:
        headers = diff.wide_headers(lab, namespace, resource)
        results.append((resource, None if headers["sim"] == headers["real"]
                        else f"real {headers['real']}\n    sim  {headers['sim']}"))
    return results


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
                report[area] = globals()[area](lab)
        finally:
            began = time.monotonic()
            lab.close()
            print(f"stopped in {time.monotonic() - began:.1f}s "
                  f"({', '.join(f'{k} {v:.1f}s' for k, v in lab.real.timings.items() if k.startswith('stop'))})")
    disagreements = 0
    for area, results in report.items():
        agree = sum(1 for _, problem in results if problem is None)
        print(f"{area}: {agree}/{len(results)} agree")
        for name, problem in results:
            if problem is not None:
                disagreements += 1
                print(f"  DISAGREE {name}:\n    {problem}")
    return 1 if disagreements else 0


if __name__ == "__main__":
    sys.exit(main())
