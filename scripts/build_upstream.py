"""Build the real upstream components the oracle tests compare the simulator with (`make upstream`).

Builds etcd, kube-apiserver, kube-controller-manager and kube-proxy at the Kubernetes version the kind
node image pins (kind-cluster.yaml, read through helpers.config) into `.state/upstream/<version>/bin/`,
from the Go module proxy only. `k8s.io/kubernetes` cannot be `go install`ed (its go.mod replaces the
staging modules with ./staging paths that module zips leave out), so `upstream/` is a small wrapper
module that requires it and replaces each staging module with its `v0.<minor>.<patch>` release. When the
node image moves to another version, this script rewrites upstream/go.mod from that version's go.mod
and runs `go mod tidy`; commit the result.

Idempotent: a stamp records the inputs (go.mod, go.sum, the etcd main, the link flags); when it matches
and every binary is there, nothing runs. Exit codes: 0 built or up to date, 3 Go or the module proxy is
missing (the oracle tests then skip), 1 anything else.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WRAPPER = ROOT / "upstream"
BINARIES = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-proxy")
PACKAGES = ("./etcd", "k8s.io/kubernetes/cmd/kube-apiserver", "k8s.io/kubernetes/cmd/kube-controller-manager",
            "k8s.io/kubernetes/cmd/kube-proxy")
UNAVAILABLE = 3  # exit code: no Go toolchain or no module proxy


class Unavailable(RuntimeError):
    """Go or the module proxy is missing: not a failure of the build itself."""


def kubernetes_version() -> str:
    """The node image's tag, the one place the project names its Kubernetes version."""
    sys.path.insert(0, str(ROOT))
    from helpers.config import load_cluster_config
    from helpers.sim.boot import kubernetes_version as image_version

    return image_version(load_cluster_config())


def bin_dir(version: str | None = None) -> Path:
    return ROOT / ".state" / "upstream" / (version or kubernetes_version()) / "bin"


def ldflags(version: str) -> str:
    """The version stamps upstream's release build links in (hack/lib/version.sh kube::version::ldflags),
    so /version and `--version` report the release (v1.37.0) rather than v0.0.0-master."""
    major, minor, _ = version.lstrip("v").split(".")
    values = {"gitVersion": version, "gitMajor": major, "gitMinor": minor, "gitTreeState": "clean",
              "gitCommit": f"module-{version}", "buildDate": "1970-01-01T00:00:00Z"}
    return " ".join(f"-X {package}.{key}={value}" for package in ("k8s.io/component-base/version",
                                                                 "k8s.io/client-go/pkg/version")
                    for key, value in values.items())


def stamp_of(version: str) -> dict:
    digest = hashlib.sha256()
    for name in ("go.mod", "go.sum", "etcd/main.go"):
        digest.update((WRAPPER / name).read_bytes())
    digest.update(ldflags(version).encode())
    return {"version": version, "inputs": digest.hexdigest(), "binaries": list(BINARIES)}


def up_to_date(version: str) -> bool:
    directory = bin_dir(version)
    try:
        stamp = json.loads((directory.parent / "stamp.json").read_text())
    except (OSError, ValueError):
        return False
    return stamp == stamp_of(version) and all(os.access(directory / name, os.X_OK) for name in BINARIES)


def missing_reason(version: str | None = None) -> str | None:
    """Why the oracle binaries are not usable (None when they are): the tests' skip reason."""
    version = version or kubernetes_version()
    if up_to_date(version):
        return None
    if shutil.which("go") is None:
        return "no Go toolchain on PATH, so the upstream components cannot be built (make upstream)"
    return f"upstream binaries for {version} are not built or are stale: run `make upstream`"


def go(*args: str, capture: bool = False) -> str:
    if shutil.which("go") is None:
        raise Unavailable("no `go` on PATH; install Go 1.26 to build the upstream components")
    env = dict(os.environ, GOTOOLCHAIN=os.environ.get("GOTOOLCHAIN", "local"))
    result = subprocess.run(["go", *args], check=False, cwd=WRAPPER, env=env, text=True,
                            stdout=subprocess.PIPE if capture else None,
                            stderr=subprocess.PIPE if capture else None)
    if result.returncode != 0:
        message = (result.stderr or "").strip()[-2000:]
        if re.search(r"dial tcp|no such host|proxyconnect|connection refused|i/o timeout|GOPROXY|403|404",
                     message):
            raise Unavailable(f"the Go module proxy did not serve what go {args[0]} needs:\n{message}")
        raise RuntimeError(f"go {' '.join(args)} failed ({result.returncode})\n{message}")
    return result.stdout or ""


def required_version(gomod: str, module: str) -> str | None:
    match = re.search(rf"^\s*(?:require\s+)?{re.escape(module)}\s+(v\S+)", gomod, re.MULTILINE)
    return match.group(1) if match else None


def retarget(version: str) -> None:
    """Point upstream/go.mod at `version`: require it and replace every staging module it replaces with
    ./staging/src/k8s.io/<name> by that module's v0.<minor>.<patch> release."""
    info = json.loads(go("mod", "download", "-json", f"k8s.io/kubernetes@{version}", capture=True))
    upstream_mod = Path(info["GoMod"]).read_text()
    staging = re.findall(r"^\s*(k8s\.io/[\w.-]+)\s+=>\s+\./staging/src/", upstream_mod, re.MULTILINE)
    if not staging:
        raise RuntimeError(f"k8s.io/kubernetes@{version}'s go.mod replaces no staging modules; check its layout")
    etcd = required_version(upstream_mod, "go.etcd.io/etcd/server/v3")
    staging_version = "v0" + version[version.index("."):]
    lines = ["module example.com/endpoints/upstream", "", "go 1.26.0", "", "require (",
             f"\tgo.etcd.io/etcd/server/v3 {etcd}", f"\tk8s.io/kubernetes {version}", ")", "", "replace ("]
    lines += [f"\t{name} => {name} {staging_version}" for name in sorted(staging)] + [")", ""]
    (WRAPPER / "go.mod").write_text("\n".join(lines))
    (WRAPPER / "go.sum").write_text("")
    go("mod", "tidy")


def build(version: str, force: bool = False) -> None:
    if not force and up_to_date(version):
        print(f"upstream {version}: up to date in {bin_dir(version)}")
        return
    if required_version((WRAPPER / "go.mod").read_text(), "k8s.io/kubernetes") != version:
        print(f"upstream: retargeting upstream/go.mod to k8s.io/kubernetes {version} (commit the change)")
        retarget(version)
    directory = bin_dir(version)
    directory.mkdir(parents=True, exist_ok=True)
    (directory.parent / "stamp.json").unlink(missing_ok=True)
    started = time.monotonic()
    go("mod", "download")
    go("build", f"-ldflags=-s -w {ldflags(version)}", "-o", f"{directory}/", *PACKAGES)
    (directory.parent / "stamp.json").write_text(json.dumps(stamp_of(version), indent=1) + "\n")
    sizes = {name: (directory / name).stat().st_size for name in BINARIES}
    print(f"upstream {version}: built {', '.join(BINARIES)} in {time.monotonic() - started:.0f}s, "
          f"{sum(sizes.values()) / 2**20:.0f} MiB in {directory}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--force", action="store_true", help="rebuild even when the stamp matches")
    parser.add_argument("--print-bin-dir", action="store_true", help="print the binaries' directory and exit")
    args = parser.parse_args(argv)
    version = kubernetes_version()
    if args.print_bin_dir:
        print(bin_dir(version))
        return 0
    try:
        build(version, force=args.force)
    except Unavailable as err:
        print(f"upstream: {err}", file=sys.stderr)
        return UNAVAILABLE
    except RuntimeError as err:
        print(f"upstream: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
