"""What ``kubectl exec`` runs inside a simulated container: the few commands Service tutorials type.

The simulator runs no processes, so each image's executables are modelled from what the image contains:

* agnhost (``test/images/agnhost/Dockerfile``, v1.37.0): alpine 3.21 with busybox, ``apk add bind-tools
  curl netcat-openbsd iproute2 iperf bash util-linux-misc socat``, and ``/agnhost``. So ``wget`` is busybox's, ``nslookup`` is
  BIND's, ``curl`` is curl's.
* busybox: busybox's applets (``wget``, ``nslookup``, ``hostname``, ...).
* nginx (debian): bash, coreutils, curl; no ``ps``, ``wget`` or ``nslookup``.

Modelled: ``hostname``, ``cat`` of ``/etc/resolv.conf`` / ``/etc/hosts`` / ``/etc/hostname`` and of the
container's files (helpers.sim.rootfs: ``/tmp``, nginx's html directory), ``ls``, ``touch``, ``rm`` and
``echo ... > file`` / ``>> file`` there, ``env``, ``printenv``, ``echo``, ``true``, ``false``, ``exit N``, ``wget [-q] [-O -] [-T s] URL``,
``curl [-s] [-S] [-m s] URL``, ``nslookup [-type=srv] NAME``, ``agnhost connect HOST:PORT [--timeout=] [--protocol=]``,
and ``sh -c``/``bash -c`` scripts of those joined by ``;``, ``&&``, ``||``. Requests go through the
simulated data path (:meth:`helpers.sim.traffic.Traffic.dial`): the client node's kube-proxy rules, then
the process listening at the endpoint; names resolve through :mod:`helpers.sim.dns`.

An executable the image does not have fails as containerd 2 / runc report it (the exec never starts: an
InternalError Status, kubectl exit 1); one the image has but this model does not run fails with a message
saying so and naming what is modelled.
"""

from __future__ import annotations

import secrets
import shlex
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from helpers.config import AGNHOST_REPO
from helpers.sim import dns
from helpers.sim.images import _repo
from helpers.sim.rootfs import FileSystem, NotModelled

PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
MODELLED = ("hostname", "cat", "ls", "touch", "rm", "env", "printenv", "echo", "true", "false", "exit", "wget",
            "curl", "nslookup", "sh", "bash", "ash", "agnhost")
# what each image has on its PATH, beyond what is modelled above (so that an unmodelled one is not reported
# as missing); everything else is "executable file not found"
_BUSYBOX = {"sh", "ash", "hostname", "cat", "env", "printenv", "echo", "true", "false", "wget", "nslookup", "ls",
            "ps", "sleep", "date", "id", "whoami", "uname", "ip", "ifconfig", "netstat", "nc", "top", "df", "mount",
            "grep", "sed", "awk", "head", "tail", "touch", "mkdir", "rm", "cp", "mv", "kill", "ping", "traceroute",
            "telnet", "vi", "free", "du", "which", "xargs", "wc", "sort", "uniq", "cut", "tr", "tee", "pwd"}
# agnhost's bind-tools also give it ``dig`` and ``host``: on the PATH, not modelled (an exec says so)
IMAGES = {
    AGNHOST_REPO: (_BUSYBOX - {"nslookup"}) | {"agnhost", "bash", "curl", "nslookup", "dig", "host", "ss", "iperf", "socat"},
    "busybox": _BUSYBOX,
    "nginx": {"sh", "bash", "hostname", "cat", "env", "printenv", "echo", "true", "false", "curl", "ls", "sleep",
              "date", "id", "whoami", "uname", "grep", "sed", "head", "tail", "nginx", "pwd", "touch", "rm", "mkdir"},
}
_IMAGE_ALIASES = {"docker.io/library/busybox": "busybox", "registry.k8s.io/e2e-test-images/busybox": "busybox",
                  "registry.k8s.io/busybox": "busybox",
                  "docker.io/library/nginx": "nginx", "registry.k8s.io/nginx-slim": "nginx"}


_MISSING = {"gnu": {"cat": "{}", "ls": "cannot access '{}'", "rm": "cannot remove '{}'"},
            "busybox": {"cat": "can't open '{}'", "ls": "{}", "rm": "can't remove '{}'"}}


@dataclass
class Result:
    stdout: str = ""
    stderr: str = ""
    exit_code: int = 0


class ExecFailed(Exception):
    """The exec never started: the runtime's error (an InternalError Status on the error channel)."""


@dataclass
class Context:
    """Everything a command may read: the pod, its container, the cluster's DNS and data path."""

    pod: dict
    container: dict
    store: object
    dial: object  # (ip, port, protocol, path) -> (outcome, reply, pod)
    nameserver: str
    env: dict = field(default_factory=dict)
    fs: FileSystem | None = None  # the container run's files (the kubelet keeps them; a fresh image's if None)

    def __post_init__(self):
        if self.fs is None:
            self.fs = FileSystem(self.container.get("image", ""))

    @property
    def namespace(self) -> str:
        return self.pod["metadata"]["namespace"]

    @property
    def hostname(self) -> str:
        return self.pod["spec"].get("hostname") or self.pod["metadata"]["name"]


def image_kind(image: str) -> str | None:
    repo = _repo(image)
    repo = _IMAGE_ALIASES.get(repo, repo)
    return repo if repo in IMAGES else None


def environment(pod: dict, container: dict, services: list[dict]) -> dict:
    """The process environment: PATH, HOSTNAME, the container's env, the Service links the kubelet adds
    (``pkg/kubelet/envvars/envvars.go`` FromServices; ``enableServiceLinks`` defaults to true), HOME."""
    env = {"PATH": PATH, "HOSTNAME": pod["spec"].get("hostname") or pod["metadata"]["name"]}
    fields_ = {"metadata.name": pod["metadata"]["name"], "metadata.namespace": pod["metadata"]["namespace"],
               "status.podIP": (pod.get("status") or {}).get("podIP", ""), "spec.nodeName": pod["spec"].get(
                   "nodeName", "")}
    for var in container.get("env") or []:
        ref = ((var.get("valueFrom") or {}).get("fieldRef") or {}).get("fieldPath")
        env[var["name"]] = fields_.get(ref, "") if ref else var.get("value", "")
    links = pod["spec"].get("enableServiceLinks", True)
    for svc in sorted(services, key=lambda s: s["metadata"]["name"]):
        ip, ports = svc["spec"].get("clusterIP"), svc["spec"].get("ports") or []
        same_ns = svc["metadata"]["namespace"] == pod["metadata"]["namespace"]
        master = svc["metadata"]["namespace"] == "default" and svc["metadata"]["name"] == "kubernetes"
        if not ip or ip == "None" or not ports or not (master or links and same_ns):
            continue
        name = svc["metadata"]["name"].upper().replace("-", "_")
        first = ports[0]
        env.setdefault(f"{name}_SERVICE_HOST", ip)
        env.setdefault(f"{name}_SERVICE_PORT", str(first["port"]))
        for p in ports:
            if p.get("name"):
                env.setdefault(f"{name}_SERVICE_PORT_{p['name'].upper().replace('-', '_')}", str(p["port"]))
        env.setdefault(f"{name}_PORT", f"{first.get('protocol', 'TCP').lower()}://{ip}:{first['port']}")
        for p in ports:
            proto = p.get("protocol", "TCP")
            prefix = f"{name}_PORT_{p['port']}_{proto}"
            env.setdefault(prefix, f"{proto.lower()}://{ip}:{p['port']}")
            env.setdefault(f"{prefix}_PROTO", proto.lower())
            env.setdefault(f"{prefix}_PORT", str(p["port"]))
            env.setdefault(f"{prefix}_ADDR", ip)
    env.setdefault("HOME", "/root")
    return env


NETWORK = ("wget", "curl", "nslookup", "agnhost")


def main_argv(container: dict) -> list[str] | None:
    """The container's own command line when this model runs it as its main process: a client command
    (``wget``, ``curl``, ``nslookup``, ``agnhost connect``, or a ``sh -c`` script using one) in a modelled
    image; None otherwise (``commands.finite_run`` and ``images.program`` model the rest)."""
    kind = image_kind(container.get("image", ""))
    command, args = container.get("command") or [], container.get("args") or []
    if kind is None:
        return None
    argv = [*command, *args]
    if kind == AGNHOST_REPO and not command and not (args[:1] and args[0].endswith("agnhost")):
        argv = ["/agnhost", *args]  # the image's ENTRYPOINT ["/agnhost"] takes the args
    if not argv:
        return None
    program = argv[0].rsplit("/", 1)[-1]
    if program not in IMAGES[kind]:
        return None
    if program == "agnhost":
        return argv if argv[1:2] == ["connect"] else None
    if program in NETWORK:
        return argv
    if program in ("sh", "bash", "ash") and argv[1:2] == ["-c"] and len(argv) > 2:
        words = set(argv[2].replace(";", " ").replace("&", " ").replace("|", " ").split())
        loops = {"while", "until", "for", "sleep"} & words
        return argv if not loops and any(w.rsplit("/", 1)[-1] in NETWORK for w in words) else None
    return None


def not_found(program: str) -> ExecFailed:
    exec_id = secrets.token_hex(32)
    return ExecFailed(f'error executing command in container: failed to exec in container: failed to start exec '
                      f'"{exec_id}": OCI runtime exec failed: exec failed: unable to start container process: '
                      f'exec: "{program}": executable file not found in $PATH: unknown')


def run(ctx: Context, argv: list[str], stdin: str = "") -> Result:
    """Run ``argv`` as the exec'd process (raises ExecFailed when it cannot start)."""
    kind = image_kind(ctx.container.get("image", ""))
    image = ctx.container.get("image", "")
    if kind is None:
        raise ExecFailed(f"the simulator does not model what image {image!r} contains; exec works in "
                         f"{', '.join(sorted(IMAGES))} containers")
    program = argv[0].rsplit("/", 1)[-1]
    if program not in IMAGES[kind] or argv[0].startswith("/") and program == "agnhost" and argv[0] != "/agnhost":
        raise not_found(argv[0])
    if program not in MODELLED:
        raise ExecFailed(f"the simulator does not model {program!r} in {image}; modelled: {', '.join(MODELLED)}")
    return _Shell(ctx, kind).command(argv, stdin)


class _Shell:
    def __init__(self, ctx: Context, kind: str):
        self.ctx, self.kind = ctx, kind

    def _missing(self, program: str) -> Result:
        # a shell's own message for a command it cannot find (busybox ash / bash), exit 127
        if self.kind == "nginx":
            return Result(stderr=f"sh: 1: {program}: not found\n", exit_code=127)
        return Result(stderr=f"sh: {program}: not found\n", exit_code=127)

    def command(self, argv: list[str], stdin: str = "") -> Result:
        program = argv[0].rsplit("/", 1)[-1]
        if program not in IMAGES[self.kind]:
            return self._missing(argv[0])
        handler = getattr(self, "_" + program.replace("-", "_"), None) if program in MODELLED else None
        if handler is None:
            return Result(stderr=f"the simulator does not model {program!r}; modelled: {', '.join(MODELLED)}\n",
                          exit_code=126)
        return handler(argv[1:], stdin)

    # -- shells -------------------------------------------------------------------------------------
    def _sh(self, args: list[str], stdin: str) -> Result:
        if args[:1] == ["-c"] and len(args) > 1:
            return self.script(args[1])
        if not args:
            return self.script(stdin)
        return Result(stderr=f"sh: can't open '{args[0]}': No such file or directory\n", exit_code=2)

    _bash = _ash = _sh

    def script(self, text: str) -> Result:
        lexer = shlex.shlex(text.replace("\n", ";"), posix=True, punctuation_chars=";&|")
        lexer.whitespace_split = True
        out = Result()
        words: list[str] = []
        op = ";"
        for token in [*lexer, ";"]:
            if token not in (";", "&&", "||", "|", "&"):
                words.append(self._expand(token))
                continue
            if token in ("|", "&"):
                out.stderr += "the simulator's shell runs commands joined by ; && || only (no pipes or &)\n"
                out.exit_code = 2
                return out
            if words:
                if op == ";" or (op == "&&") == (out.exit_code == 0):
                    if words[0] == "exit":
                        out.exit_code = int(words[1]) if len(words) > 1 and words[1].isdigit() else out.exit_code
                        return out
                    result = self.redirected(words)
                    out.stdout, out.stderr, out.exit_code = (out.stdout + result.stdout, out.stderr + result.stderr,
                                                             result.exit_code)
                words = []
            op = token
        return out

    def redirected(self, words: list[str]) -> Result:
        """A simple command with ``> file`` or ``>> file``: its stdout goes to the file (a shell's own error
        when it cannot open it)."""
        at = next((i for i, w in enumerate(words) if w.startswith(">")), None)
        if at is None:
            return self.command(words)
        op = ">>" if words[at].startswith(">>") else ">"
        target = words[at][len(op):] or (words[at + 1] if at + 1 < len(words) else "")
        rest = words[:at] + words[at + (1 if words[at][len(op):] else 2):]
        if not target:
            return Result(stderr="sh: syntax error: unexpected newline\n", exit_code=2)
        result = self.command(rest) if rest else Result()
        try:
            if self.ctx.fs.is_dir(target):
                return Result(stderr=f"sh: can't create {target}: Is a directory\n", exit_code=2)
            self.ctx.fs.write(target, result.stdout, append=op == ">>")
        except NotModelled as err:
            return Result(stderr=f"sh: {err}\n", exit_code=2)
        return Result(stderr=result.stderr, exit_code=result.exit_code)

    def _expand(self, word: str) -> str:
        env = self.ctx.env
        if word.startswith("$"):
            return env.get(word[1:].strip("{}"), "")
        return word

    # -- simple commands ----------------------------------------------------------------------------
    def _hostname(self, args, stdin) -> Result:
        return Result(self.ctx.hostname + "\n")

    def _echo(self, args, stdin) -> Result:
        if args[:1] == ["-n"]:
            return Result(" ".join(args[1:]))
        return Result(" ".join(args) + "\n")

    def _true(self, args, stdin) -> Result:
        return Result()

    def _false(self, args, stdin) -> Result:
        return Result(exit_code=1)

    def _exit(self, args, stdin) -> Result:
        return Result(exit_code=int(args[0]) if args and args[0].isdigit() else 0)

    def _env(self, args, stdin) -> Result:
        return Result("".join(f"{k}={v}\n" for k, v in self.ctx.env.items()))

    def _printenv(self, args, stdin) -> Result:
        if not args:
            return self._env(args, stdin)
        values = [self.ctx.env[a] for a in args if a in self.ctx.env]
        return Result("".join(v + "\n" for v in values), exit_code=0 if len(values) == len(args) else 1)

    def files(self) -> dict[str, str]:
        pod = self.ctx.pod
        ip = (pod.get("status") or {}).get("podIP", "")
        hosts = ("# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
                 "fe00::0\tip6-localnet\nfe00::0\tip6-mcastprefix\nfe00::1\tip6-allnodes\nfe00::2\tip6-allrouters\n")
        subdomain = pod["spec"].get("subdomain")
        fqdn = f"{self.ctx.hostname}.{subdomain}.{self.ctx.namespace}.svc.{dns.ZONE}\t" if subdomain else ""
        hosts += f"{ip}\t{fqdn}{self.ctx.hostname}\n"  # kubelet's managedHostsFileContent (kubelet_pods.go)
        return {"/etc/resolv.conf": dns.resolv_conf(self.ctx.namespace, self.ctx.nameserver), "/etc/hosts": hosts,
                "/etc/hostname": self.ctx.hostname + "\n"}

    def _cat(self, args, stdin) -> Result:
        if not args:
            return Result(stdin)
        out, files = Result(), self.files()
        for path in args:
            try:
                text = files[path] if path in files else self.ctx.fs.read(path)
            except NotModelled as err:
                out.stderr, out.exit_code = out.stderr + f"cat: {err}\n", 1
                continue
            if text is None:
                out.stderr += self._no_such("cat", path)
                out.exit_code = 1
            else:
                out.stdout += text
        return out

    def _no_such(self, program: str, path: str) -> str:
        """coreutils' (nginx, debian) or busybox's words for a missing file."""
        words = _MISSING["gnu" if self.kind == "nginx" else "busybox"][program].format(path)
        return f"{program}: {words}: No such file or directory\n"

    def _ls(self, args, stdin) -> Result:
        """``ls [-1aA] [PATH...]`` without a terminal: one name a line (what ``kubectl exec`` without -t gets)."""
        flags = "".join(a[1:] for a in args if a.startswith("-") and a != "-")
        if set(flags) - set("1aA"):
            return Result(stderr=f"the simulator models ls with -1, -a and -A only, not -{flags}\n", exit_code=2)
        paths = [a for a in args if not a.startswith("-") or a == "-"] or ["."]
        out = Result()
        listings = []
        for path in paths:
            try:
                if not self.ctx.fs.is_dir(path):
                    if self.ctx.fs.read(path) is None:
                        out.stderr += self._no_such("ls", path)
                        out.exit_code = 1 if self.kind != "nginx" else 2
                    else:
                        out.stdout += path + "\n"
                    continue
                names = ([".", ".."] if "a" in flags else []) + self.ctx.fs.entries(path)
            except NotModelled as err:
                out.stderr, out.exit_code = out.stderr + f"ls: {err}\n", 2
                continue
            listings.append((path, names))
        for i, (path, names) in enumerate(listings):
            header = f"{path}:\n" if len(paths) > 1 else ""
            out.stdout += ("\n" if i or out.stdout else "") * bool(header) + header + "".join(n + "\n" for n in names)
        return out

    def _touch(self, args, stdin) -> Result:
        out = Result()
        for path in (a for a in args if not a.startswith("-")):
            try:
                if not self.ctx.fs.is_dir(path) and self.ctx.fs.read(path) is None:
                    self.ctx.fs.write(path, "")
            except NotModelled as err:
                out.stderr, out.exit_code = out.stderr + f"touch: {err}\n", 1
        return out

    def _rm(self, args, stdin) -> Result:
        """``rm [-f] FILE...``: files only (removing a directory is not modelled)."""
        force = any(a.startswith("-") and "f" in a for a in args)
        out = Result()
        for path in (a for a in args if not a.startswith("-")):
            try:
                if self.ctx.fs.is_dir(path):
                    out.stderr, out.exit_code = out.stderr + f"rm: the simulator does not remove directories ({path})\n", 1
                elif not self.ctx.fs.remove(path) and not force:
                    out.stderr, out.exit_code = out.stderr + self._no_such("rm", path), 1
            except NotModelled as err:
                out.stderr, out.exit_code = out.stderr + f"rm: {err}\n", 1
        return out

    # -- the network --------------------------------------------------------------------------------
    def _resolve(self, host: str) -> dns.Answer:
        answer = dns.resolve(self.ctx.store, host, self.ctx.namespace)
        hops = 0
        while answer.cname and hops < 8:  # an ExternalName: follow the CNAME
            answer, hops = dns.resolve(self.ctx.store, answer.cname + ".", self.ctx.namespace), hops + 1
        return answer

    def _fetch(self, url: str) -> tuple[str, str, str, int, str]:
        """(outcome, body, ip, port, host) for an HTTP GET; outcome also 'dns' when the name does not resolve."""
        parts = urlsplit(url if "://" in url else "http://" + url)
        host, port = parts.hostname or "", parts.port or 80
        answer = self._resolve(host)
        if not answer.addresses:
            return "dns", "", "", port, host
        ip = answer.addresses[0]
        outcome, body, _ = self.ctx.dial(ip, port, "TCP", (parts.path or "/") + (f"?{parts.query}" if parts.query
                                                                                 else ""))
        if outcome == "ok" and body.startswith("404 page not found"):
            outcome, body = "404", "404 page not found\n"
        return outcome, body, ip, port, host

    def _wget(self, args, stdin) -> Result:
        quiet = any(a.startswith("-") and not a.startswith("--") and "q" in a for a in args)
        urls = [a for i, a in enumerate(args) if not a.startswith("-") and (i == 0 or args[i - 1] not in (
            "-O", "-T", "-U", "--header"))]
        if not urls:
            return Result(stderr="BusyBox: wget: missing URL\n", exit_code=1)
        outcome, body, ip, port, host = self._fetch(urls[-1])
        connecting = "" if quiet else f"Connecting to {host}{'' if host == ip else f' ({ip}:{port})'}\n"
        errors = {"dns": f"wget: bad address '{host}'\n",
                  "refused": f"wget: can't connect to remote host ({ip}): Connection refused\n",
                  "timeout": "wget: download timed out\n", "reset": "wget: error getting response: Connection "
                  "reset by peer\n", "404": "wget: server returned error: HTTP/1.1 404 Not Found\n"}
        if outcome != "ok":
            return Result(stderr=connecting + errors[outcome], exit_code=1)
        return Result(body, "" if quiet else connecting + "writing to stdout\nwritten to stdout\n")

    def _curl(self, args, stdin) -> Result:
        flags = "".join(a[1:] for a in args if a.startswith("-") and not a.startswith("--"))
        silent, show = "s" in flags or "--silent" in args, "S" in flags or "--show-error" in args
        urls = [a for i, a in enumerate(args) if not a.startswith("-") and (i == 0 or args[i - 1] not in (
            "-m", "--max-time", "--connect-timeout", "-o", "-H", "-X", "-w"))]
        if not urls:
            return Result(stderr="curl: no URL specified\ncurl: try 'curl --help' or 'curl --manual' for more "
                                 "information\n", exit_code=2)
        outcome, body, _, port, host = self._fetch(urls[-1])
        codes = {"ok": 0, "404": 0, "dns": 6, "refused": 7, "timeout": 28, "reset": 56}
        messages = {"dns": f"curl: (6) Could not resolve host: {host}\n",
                    "refused": f"curl: (7) Failed to connect to {host} port {port} after 0 ms: Could not connect "
                               "to server\n",
                    "timeout": f"curl: (28) Failed to connect to {host} port {port} after 1000 ms: Timeout was "
                               "reached\n",
                    "reset": "curl: (56) Recv failure: Connection reset by peer\n"}
        err = "" if outcome in ("ok", "404") or (silent and not show) else messages[outcome]
        if not silent and outcome in ("ok", "404"):  # the progress meter curl writes when stdout is not a tty
            n = len(body)
            err = ("  % Total    % Received % Xferd  Average Speed   Time    Time     Time  Current\n"
                   "                                 Dload  Upload   Total   Spent    Left  Speed\n"
                   f"100 {n:>5}  100 {n:>5}    0     0      0      0 --:--:-- --:--:-- --:--:--     0\n")
        return Result(body, err, codes[outcome])

    def _nslookup(self, args, stdin) -> Result:
        """``nslookup [-type=A|SRV] NAME``: busybox's (``networking/nslookup.c``, 1.37: ``-type=``,
        ``-querytype=`` and their unique prefixes, ``index_in_substrings``; SRV printed
        ``"%s\tservice = %u %u %u %s"``, both names without the final dot) or BIND 9.18's (``bin/dig/nslookup.c`` v9.18.50: ``setoption`` takes
        ``type= ty= querytype= query= qu= q=``; ``printsection``: SRV is
        ``<owner>\tservice = `` then ``dns_rdata_totext``, whose target keeps the final dot)."""
        names = [a for a in args if not a.startswith("-")]
        if not names:
            return Result(stderr="the simulator's nslookup has no interactive mode: give a name\n", exit_code=1)
        qtype = "A"
        for a in args:
            option, _, value = a[1:].lower().partition("=")
            if a.startswith("-") and value and (option in ("type", "ty", "querytype", "query", "qu", "q")
                                                 if self.kind != "busybox" else  # a unique prefix
                                                 option and "querytype".startswith(option)
                                                 or len(option) > 1 and "type".startswith(option)):
                qtype = value.upper()
        if qtype not in ("A", "SRV"):
            return Result(stderr=f"the simulator's nslookup answers -type=A and -type=SRV, not {qtype}\n",
                          exit_code=1)
        name, server = names[0], self.ctx.nameserver
        sep = "#" if self.kind != "busybox" else ":"
        head = f"Server:\t\t{server}\nAddress:\t{server}{sep}53\n\n"
        answer = self._resolve(name) if qtype == "A" else dns.resolve(self.ctx.store, name, self.ctx.namespace, "SRV")
        tail = "\n" if self.kind == "busybox" else ""
        if answer.addresses:
            lines = "".join(f"Name:\t{answer.name}\nAddress: {a}\n" for a in answer.addresses)
            return Result(head + lines + tail)
        if answer.srv:
            dot = "" if self.kind == "busybox" else "."
            lines = "".join(f"{answer.name}\tservice = {prio} {weight} {port} {target.rstrip('.')}{dot}\n"
                            for prio, weight, port, target in answer.srv)
            return Result(head + lines + tail)
        if answer.rcode == "":
            return Result(head + f"*** Can't find {name}: No answer\n\n", exit_code=1)
        return Result(head + f"** server can't find {name}: {answer.rcode}\n\n", exit_code=1)

    def _agnhost(self, args, stdin) -> Result:
        if args[:1] != ["connect"]:
            sub = args[0] if args else "(none)"
            return Result(stderr=f"the simulator runs agnhost connect only through exec, not {sub!r}\n",
                          exit_code=126)
        rest = args[1:]
        protocol = next((a.split("=", 1)[1] for a in rest if a.startswith("--protocol=")), "tcp")
        dests = [a for a in rest if not a.startswith("--")]
        if not dests:
            return Result(stderr="Error: accepts 1 arg(s), received 0\n", exit_code=1)
        host, _, port = dests[0].rpartition(":")
        if not host or not port.isdigit():
            return Result(stderr=f"UNKNOWN: address {dests[0]}: missing port in address\n", exit_code=1)
        answer = self._resolve(host)
        if not answer.addresses:
            return Result(stderr=f"DNS: lookup {host} on {self.ctx.nameserver}:53: no such host\n", exit_code=1)
        outcome, _, _ = self.ctx.dial(answer.addresses[0], int(port), protocol.upper(), "hostname")
        if outcome == "ok":
            return Result()
        return Result(stderr={"refused": "REFUSED\n", "timeout": "TIMEOUT\n"}.get(outcome, f"OTHER: {outcome}\n"),
                      exit_code=1)
