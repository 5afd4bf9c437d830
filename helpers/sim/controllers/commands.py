"""Which container commands end, when, and with what exit code: the simulated kubelet's model of a
finite process (a Job's ``perl -e``, ``echo``, ``sleep 5``, ``sh -c 'echo hi; exit 3'``).

The simulator runs no processes, so this reads the command line instead. A container with no command
runs its image's entrypoint, which the simulator takes to be a server (nginx, agnhost's servers): it runs
until stopped. So does any command this model does not recognise, and any shell script with a loop,
``sleep infinity`` or ``tail -f``. Recognised finite commands take ``sleep``'s seconds (else ~0.1 s) and
exit 0, ``false`` 1, ``exit N`` N; ``echo`` writes its arguments to the log. A script's steps that change
files (``touch``, ``rm``, ``echo ... > file``) are kept with the second they run at, for the kubelet to run them
against the container's files then (helpers.sim.rootfs), as the liveness tutorial's
``touch /tmp/healthy; sleep 30; rm -f /tmp/healthy; sleep 600`` needs. Arguments without a command
are read as the command line, as they are for images with no ENTRYPOINT (busybox, perl, python); an
image with one (agnhost) sees unrecognised arguments and keeps running.
"""

from __future__ import annotations

import math
import re
import shlex

QUICK_S = 0.1  # how long a one-shot command (echo, date, perl -e) runs
_ONE_SHOT = {"echo", "date", "true", "printenv", "env", "hostname", "ls", "cat", "expr", "uname", "whoami", "id",
             "nslookup", "wget", "curl", "printf", "pwd", "touch", "rm"}
_FILE_STEPS = {"touch", "rm"}  # besides any command whose output is redirected to a file
_SCRIPTING = {"perl": ("-e", "-le", "-wle", "-we", "-E"), "python": ("-c",), "python3": ("-c",)}
_FOREVER = re.compile(r"\bwhile\b|\buntil\b|\bfor\s*\(\(|sleep\s+inf|tail\s+-f|\bnc\s+-l|httpd|serve")


class Run:
    """The modelled outcome of a finite command: seconds it runs, exit code, lines it logs."""

    def __init__(self, seconds: float = QUICK_S, exit_code: int = 0, output: list[str] | None = None):
        self.seconds, self.exit_code, self.output = seconds, exit_code, output or []
        self.steps: list[tuple[float, str]] = []  # (second it runs at, shell text) of the steps that change files


def _simple(argv: list[str]) -> Run | None:
    if not argv:
        return Run()
    program = argv[0].rsplit("/", 1)[-1]
    if program == "sleep":
        try:
            seconds = float(argv[1]) if len(argv) > 1 else 0.0
        except ValueError:
            return None  # sleep 1d: treated as running until stopped
        return Run(seconds=seconds) if math.isfinite(seconds) else None  # sleep infinity
    if program == "false":
        return Run(exit_code=1)
    if program == "exit":
        return Run(seconds=0.0, exit_code=int(argv[1]) if len(argv) > 1 and argv[1].isdigit() else 0)
    if program == "echo":
        return Run(output=[" ".join(a for a in argv[1:] if a != "-n")])
    if program in _ONE_SHOT:
        return Run()
    if program in _SCRIPTING and any(flag in argv for flag in _SCRIPTING[program]):
        digits = _BPI.search(" ".join(argv)) if program == "perl" else None
        return Run(output=[pi_digits(int(digits.group(1)))] if digits else [])
    return None


_BPI = re.compile(r"print\s+bpi\((\d{1,5})\)")  # the Jobs tutorial's perl -Mbignum=bpi -wle 'print bpi(2000)'


def pi_digits(n: int) -> str:
    """pi to ``n`` significant digits, rounded, as Math::BigFloat's bpi(n) prints it (Machin's formula)."""
    guard = n + 10
    scale = 10 ** guard

    def arctan_inv(x: int) -> int:  # arctan(1/x) * scale
        total, term, k, sign = 0, scale // x, 1, 1
        while term:
            total += sign * (term // k)
            term //= x * x
            k += 2
            sign = -sign
        return total

    pi = 4 * (4 * arctan_inv(5) - arctan_inv(239))  # pi * 10**guard
    rounded = (pi + 5 * 10 ** (guard - n)) // 10 ** (guard - n + 1)  # n significant digits, one before the point
    text = str(rounded)
    return text[0] + ("." + text[1:] if n > 1 else "")


def _script(text: str) -> Run | None:
    if _FOREVER.search(text):
        return None
    total = Run(seconds=0.0)
    for part in re.split(r";|&&|\|\||\n", text):
        try:
            argv = shlex.split(part)
        except ValueError:
            return None
        if not argv:
            continue
        redirected = any(word.startswith(">") for word in argv)
        if redirected or argv[0] in _FILE_STEPS:
            total.steps.append((total.seconds, part.strip()))
        step = Run() if redirected else _simple(argv)
        if step is None:
            return None
        total.seconds += step.seconds
        total.output += step.output
        total.exit_code = step.exit_code
        if argv[0] == "exit":
            break
    total.seconds = max(total.seconds, QUICK_S)
    return total


def finite_run(container: dict) -> Run | None:
    """How the container's command ends, or None when it runs until it is stopped."""
    argv = [*(container.get("command") or []), *(container.get("args") or [])]
    if not argv:
        return None  # the image's own entrypoint: a server, in this model
    program = argv[0].rsplit("/", 1)[-1]
    if program in ("sh", "bash", "ash") and len(argv) >= 3 and argv[1] == "-c":
        return _script(argv[2])
    return _simple(argv)
