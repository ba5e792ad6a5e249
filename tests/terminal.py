"""The real CLI on a pseudo-terminal (pexpect): prompts, Ctrl-C and REPLs as a person meets them."""

from __future__ import annotations

import signal
from typing import Any

import pytest

from conftest import BIN

pexpect = pytest.importorskip("pexpect", reason="pexpect (in the test extras) drives the terminal")


def default_sigint() -> None:
    """In the child before exec: Ctrl-C as a terminal user has it, even when the test run was
    started with SIGINT ignored (a background job of a non-interactive shell, nohup...), which
    the child would otherwise inherit and Python honour."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def spawn(env: dict[str, str], *args: str, timeout: float = 60) -> Any:
    """`videonet ARGS` on a fresh pseudo-terminal, 120 columns wide so lines do not wrap."""
    child = pexpect.spawn(
        str(BIN / "videonet"),
        list(args),
        env={**env, "TERM": "xterm", "NO_COLOR": "1", "COLUMNS": "120"},
        encoding="utf-8",
        timeout=timeout,
        dimensions=(40, 120),
        preexec_fn=default_sigint,
    )
    return child


def finish(child: Any, timeout: float = 60) -> int:
    """Wait for the end; the exit code (128 + n for a signal)."""
    child.expect(pexpect.EOF, timeout=timeout)
    child.close()
    if child.exitstatus is not None:
        return int(child.exitstatus)
    return 128 + int(child.signalstatus)
