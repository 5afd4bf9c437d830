"""The safety guard: helpers write only inside the project's sandbox namespaces.

A sandbox is a namespace made by ``h.sandbox()`` (labelled ``app.kubernetes.io/part-of=
endpoints-notebooks``) whose name is not one of the namespaces every cluster relies on. The same
rule covers every way a chapter writes:

* namespaced writes (apply, scale, delete, label, set_ready, patch_status): the namespace must be a
  sandbox;
* cluster-scoped writes: only a sandbox Namespace itself may be changed or deleted (never a node,
  never ``kube-system``); creating namespaces is ``h.sandbox()``'s job;
* the sandbox label is set by ``h.sandbox()`` only: a label helper or kubectl call cannot relabel an
  existing namespace into a sandbox;
* ``h.kubectl(...)``: read verbs run as given; any other verb is checked like the helpers above
  (its namespace flag or the context's default namespace, the kinds and names it names, the
  manifests it is fed), and flags that would point kubectl at another cluster are refused.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from helpers.connect import ApiError, Backend, HelperError, resource

PART_OF = ("app.kubernetes.io/part-of", "endpoints-notebooks")
# What every cluster relies on; kube-apiserver itself refuses to delete the first three
# (plugin/pkg/admission/namespace/lifecycle) and kubeadm's node heartbeats live in the fourth.
RESERVED = frozenset({"default", "kube-system", "kube-public", "kube-node-lease"})

registered: dict = {}  # (context, name) -> the Sandbox made in this process, whose cleanup runs at exit

# kubectl verbs that only read (kubectl 1.37 `kubectl --help`); everything else is a write.
READ_VERBS = frozenset({"get", "describe", "logs", "explain", "api-resources", "api-versions", "version",
                        "top", "events", "cluster-info", "wait", "diff", "completion", "options", "help"})
READ_SUBCOMMANDS = {"auth": {"can-i", "whoami"}, "config": {"view", "get-contexts", "current-context",
                                                            "get-clusters", "get-users"}}
# Flags that would aim kubectl at another cluster or identity than the connected one.
REDIRECTING_FLAGS = ("--context", "--kubeconfig", "--cluster", "--user", "--server", "-s", "--token",
                     "--as", "--as-group", "--as-uid", "--username", "--password")
# kubectl flags that take a value as the next argument (so the value is not mistaken for a resource).
_VALUE_FLAGS = {"-n", "--namespace", "-f", "--filename", "-l", "--selector", "-o", "--output", "-c",
                "--container", "--field-selector", "--grace-period", "--timeout", "--field-manager",
                "--type", "-p", "--patch", "--replicas", "--for", "--image", "--port", "--resource-version",
                "-k", "--kustomize", "-L", "--label-columns"}
POD_VERBS = frozenset({"exec", "attach", "cp", "port-forward", "debug", "run"})  # act on pods of a namespace


class UnsafeNamespace(HelperError):
    """A write was aimed at a namespace that is not one of the project's sandboxes."""


def is_sandbox(ns: dict) -> bool:
    """A namespace the helpers may write in: labelled part-of=endpoints-notebooks and not reserved."""
    meta = ns.get("metadata") or {}
    return (meta.get("labels") or {}).get(PART_OF[0]) == PART_OF[1] and meta.get("name") not in RESERVED


def _refuse_namespace(backend: Backend, namespace: str, what: str) -> None:
    """Raise unless ``namespace`` is a sandbox (made in this process, or labelled as one)."""
    if namespace in RESERVED:
        raise UnsafeNamespace(f"refusing to change {what} in namespace {namespace}: the cluster relies on it",
                              "work in a namespace made by h.sandbox(name)")
    if (backend.context, namespace) in registered:  # made by sandbox() in this process
        return
    try:
        ns = backend.get("namespaces", namespace)
    except ApiError as err:
        if err.code == 404:
            raise UnsafeNamespace(f"namespace {namespace} does not exist",
                                  f"create it with h.sandbox('{namespace}')") from None
        raise
    if not is_sandbox(ns):
        raise UnsafeNamespace(f"refusing to change {what} in namespace {namespace}: it is not a sandbox "
                              f"(no label {PART_OF[0]}={PART_OF[1]})",
                              "work in a namespace made by h.sandbox(name)")


def check_writable(backend: Backend, namespace: str | None, kind: str, name: str | None = None,
                   labels: dict | None = None) -> None:
    """Refuse a write of ``kind`` (``name``) outside the sandboxes; ``labels`` are labels it would set."""
    res = resource(kind)
    if res.kind == "Namespace" and labels and PART_OF[0] in labels:
        raise UnsafeNamespace(f"refusing to set or remove the label {PART_OF[0]}: it marks sandboxes",
                              "h.sandbox(name) makes a sandbox; its cleanup() removes it")
    if res.namespaced:
        if not namespace:
            raise UnsafeNamespace(f"no namespace given for {kind}", "pass namespace=ns.name (from h.sandbox(...))")
        _refuse_namespace(backend, namespace, res.plural)
        return
    if res.kind != "Namespace" or not name:
        raise UnsafeNamespace(f"refusing to change cluster-scoped {res.plural}{f' {name}' if name else ''}: "
                              "the helpers write only inside sandbox namespaces",
                              "nodes are stopped and started with h.stop_node/h.start_node; namespaces "
                              "are made with h.sandbox(name)")
    _refuse_namespace(backend, name, "the namespace itself")


# --- h.kubectl -----------------------------------------------------------------------------------

def _flag(arg: str) -> tuple[str, str | None]:
    """("--namespace", "x") for "--namespace=x"; ("-n", "x") for "-nx"; (arg, None) otherwise."""
    if arg.startswith("--") and "=" in arg:
        flag, value = arg.split("=", 1)
        return flag, value
    if len(arg) > 2 and arg[0] == "-" and arg[1] != "-" and arg[:2] in _VALUE_FLAGS:
        return arg[:2], arg[2:].lstrip("=")
    return arg, None


def parse_kubectl(args) -> tuple[list[str], dict[str, list[str]], set[str]]:
    """Split kubectl arguments into positionals, valued flags (flag -> values) and bare flags."""
    positionals, values, bare = [], {}, set()
    items = [str(a) for a in args]
    i = 0
    while i < len(items):
        flag, value = _flag(items[i])
        if items[i] == "--":
            positionals += items[i + 1:]
            break
        if not flag.startswith("-") or flag == "-":
            positionals.append(items[i])
        elif value is not None:
            values.setdefault(flag, []).append(value)
        elif flag in _VALUE_FLAGS and i + 1 < len(items):
            values.setdefault(flag, []).append(items[i + 1])
            i += 1
        else:
            bare.add(flag)
        i += 1
    return positionals, values, bare


def _manifests(files: list[str], stdin: str | None) -> list[dict]:
    docs = []
    for source in files:
        if source == "-":
            text = stdin or ""
        elif "://" in source:
            raise UnsafeNamespace(f"refusing kubectl -f {source}: a remote manifest cannot be checked first",
                                  "download it, read it, then pass its text as input=")
        else:
            path = Path(source)
            if path.is_dir():
                raise UnsafeNamespace(f"refusing kubectl -f {source}: pass one manifest file at a time",
                                      "or pass the manifests' text as input=")
            try:
                text = path.read_text()
            except OSError as err:
                raise HelperError(f"cannot read {source}: {err.strerror}", "check the path") from None
        try:
            docs += [d for d in yaml.safe_load_all(text) if d]
        except yaml.YAMLError as err:
            raise HelperError(f"the manifest is not valid YAML: {err}", "check the indentation") from None
    for doc in list(docs):  # a v1 List carries its objects in items
        if isinstance(doc, dict) and doc.get("kind", "").endswith("List") and isinstance(doc.get("items"), list):
            docs.remove(doc)
            docs += doc["items"]
    if not all(isinstance(d, dict) for d in docs):
        raise HelperError("a manifest document is not a mapping", "each YAML document must be one object")
    return docs


def _targets(verb: str, rest: list[str]) -> list[tuple[str, str | None]]:
    """(kind, name) pairs a kubectl write names: `pod a b`, `pod/a svc/b`, `pods,svc`, `rollout restart x/y`."""
    if verb in POD_VERBS:
        return [("pods", None)]
    if verb in ("rollout", "set"):
        rest = rest[1:]  # the subcommand
    if any("/" in p for p in rest):
        return [tuple(p.split("/", 1)) for p in rest if "/" in p]
    if not rest:
        return []
    kinds, names = rest[0].split(","), [n for n in rest[1:] if "=" not in n and not n.endswith("-")]
    return [("pods" if k == "all" else k, n) for k in kinds for n in (names or [None])]


def _check(backend: Backend, namespace: str | None, kind: str, name, labels, verb: str) -> None:
    try:
        check_writable(backend, namespace, kind, name, labels)
    except UnsafeNamespace:
        raise
    except HelperError as err:  # a kind the helpers do not know: the guard cannot tell what it would change
        raise UnsafeNamespace(f"refusing kubectl {verb} {kind}: {err.message}", err.hint) from None


def check_kubectl(args, stdin: str | None, backend: Backend, default_namespace: str = "default") -> None:
    """Refuse a kubectl command that would write outside the sandboxes, or talk to another cluster.

    ``default_namespace`` is the context's namespace, where kubectl writes without ``-n``.
    """
    positionals, values, bare = parse_kubectl(args)
    for flag in REDIRECTING_FLAGS:
        if flag in values or flag in bare:
            raise UnsafeNamespace(f"refusing kubectl {flag}: h.kubectl always talks to the connected cluster",
                                  "connect to another cluster with h.connect(...) instead")
    if not positionals or positionals[0] in READ_VERBS:
        return
    verb, rest = positionals[0], positionals[1:]
    if verb in READ_SUBCOMMANDS and rest and rest[0] in READ_SUBCOMMANDS[verb]:
        return
    if verb in ("config", "auth", "certificate", "plugin", "proxy", "kustomize") or "-k" in values \
            or "--kustomize" in values:
        raise UnsafeNamespace(f"refusing kubectl {' '.join([verb, *rest[:1]])}: the helpers cannot check "
                              "what it changes", "use the read-only commands, or the h.* write helpers")
    if "-A" in bare or "--all-namespaces" in bare:
        raise UnsafeNamespace(f"refusing kubectl {verb} across all namespaces", "pass -n <sandbox>")
    namespace = (values.get("-n") or values.get("--namespace") or [default_namespace])[-1]
    labels = {a.split("=", 1)[0].removesuffix("-"): a for a in rest[1:] if "=" in a or a.endswith("-")} \
        if verb == "label" else None
    checks = [(namespace, kind, name, labels) for kind, name in _targets(verb, rest)]
    for doc in _manifests(values.get("-f", []) + values.get("--filename", []), stdin):
        meta = doc.get("metadata") if isinstance(doc.get("metadata"), dict) else {}
        checks.append((meta.get("namespace") or namespace, str(doc.get("kind", "")), meta.get("name"),
                       meta.get("labels") if doc.get("kind") == "Namespace" else None))
    if not checks:  # a write that names nothing: it acts on the namespace it runs in
        checks = [(namespace, "pods", None, None)]
    for check in checks:
        _check(backend, *check, verb)
