"""The container side of ``kubectl exec -it <pod> -- sh``: a terminal's line discipline and an interactive
shell over the modelled commands (:mod:`helpers.sim.shell`).

kubectl puts the local terminal in raw mode and sends keystrokes as they come (stdin channel) and the
window size on the resize channel (``{"Width":W,"Height":H}``, at start and on SIGWINCH); echo and line
editing happen in the container, as the Linux pty's N_TTY discipline does with its defaults (ICANON,
ECHO, ICRNL, ONLCR): Enter (CR) ends a line, DEL/Backspace erases a character (``\\b \\b``), ^U the line,
^C drops it (``^C``, a new prompt), ^D on an empty line is end of input (the shell exits), output newlines
become CR LF. Each line runs as ``sh -c <line>``; ``exit [N]`` ends the session with N (or the last
command's status, as ash and bash do). Prompts are the images' defaults for root in ``/``: busybox ash
``/ # `` (busybox, agnhost's alpine), bash ``root@<hostname>:/# `` (nginx's /etc/bash.bashrc), dash ``# ``.
``stty size`` prints the rows and columns of the last resize.

Pure: bytes in, bytes out; ``run(argv) -> shell.Result`` runs one command line.
"""

from __future__ import annotations

import shlex

SHELLS = ("sh", "ash", "bash")
ERASE, KILL, INTR, EOF = (b"\x7f", b"\x08"), b"\x15", b"\x03", b"\x04"


def is_interactive(argv: list[str]) -> bool:
    """A shell started with no script (``sh``, ``/bin/bash``, ``sh -i``): it reads commands from the terminal."""
    return bool(argv) and argv[0].rsplit("/", 1)[-1] in SHELLS and all(a in ("-i", "-l") for a in argv[1:])


def prompt(program: str, image_kind: str, hostname: str) -> str:
    if program == "bash":
        return f"root@{hostname}:/# "
    return "# " if image_kind == "nginx" else "/ # "  # nginx's sh is dash; the others' busybox ash


class Terminal:
    """One interactive shell session on a pty."""

    def __init__(self, run, prompt_text: str, program: str):
        self.run, self.prompt, self.program = run, prompt_text, program
        self.line = bytearray()
        self.status = 0  # the last command's exit status
        self.exit_code: int | None = None  # set when the shell has exited
        self.rows = self.cols = 0

    def start(self) -> bytes:
        return self.prompt.encode()

    def resize(self, width: int, height: int) -> None:
        self.rows, self.cols = height, width

    def feed(self, data: bytes) -> bytes:
        out = b""
        for byte in (data[i:i + 1] for i in range(len(data))):
            if self.exit_code is not None:
                break
            if byte in (b"\r", b"\n"):
                out += b"\r\n" + self._line(self.line.decode(errors="replace"))
                self.line.clear()
            elif byte in ERASE:
                if self.line:
                    self.line.pop()
                    out += b"\b \b"
            elif byte == KILL:
                out += b"\b \b" * len(self.line)
                self.line.clear()
            elif byte == INTR:
                self.line.clear()
                out += b"^C\r\n" + self.prompt.encode()
            elif byte == EOF:
                if not self.line:
                    out += self._exit(self.status)
            elif byte >= b" ":
                self.line += byte
                out += byte
        return out

    def _line(self, text: str) -> bytes:
        try:
            words = shlex.split(text)
        except ValueError:
            words = []
        if words[:1] == ["exit"]:
            return self._exit(int(words[1]) if len(words) > 1 and words[1].isdigit() else self.status)
        if words == ["stty", "size"]:
            output = f"{self.rows} {self.cols}\n"
        elif not words:
            return self.prompt.encode()
        else:
            result = self.run(text)
            self.status = result.exit_code
            output = result.stdout + result.stderr
        return output.replace("\n", "\r\n").encode() + self.prompt.encode()

    def _exit(self, code: int) -> bytes:
        self.exit_code = code
        return b"exit\r\n" if self.program == "bash" else b""  # bash says so; ash exits silently
