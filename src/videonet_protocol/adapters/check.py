"""What every adapter's `problems()` is made of: does a class still have a method (with the
parameters we call it with) or an attribute, in the installed version of its library."""

from __future__ import annotations

import inspect
from typing import Any


def installed(distribution: str) -> str:
    # importlib.metadata (and the email package it brings) only when a check runs: every
    # command imports this module, and the import cost each one ~20 ms (issue 26)
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"{distribution} {version(distribution)}"
    except PackageNotFoundError:
        return f"{distribution} (version unknown)"


def method_problems(
    distribution: str, owner: Any, name: str, parameters: tuple[str, ...], *, kind: str = ""
) -> list[str]:
    """`owner.name` exists, takes `parameters` (after self) and is a coroutine function
    (kind="async") or an async generator function (kind="asyncgen"), if asked."""
    where = f"{installed(distribution)}: {owner.__qualname__}.{name}"
    found = getattr(owner, name, None)
    if found is None:
        return [f"{where} is gone"]
    try:
        signature = inspect.signature(found)
    except (TypeError, ValueError):
        return [f"{where} has no signature to check"]
    got = tuple(p for p in signature.parameters if p != "self")
    problems = []
    if got != parameters:
        problems.append(f"{where} takes ({', '.join(got)}), not ({', '.join(parameters)})")
    if kind == "async" and not inspect.iscoroutinefunction(found):
        problems.append(f"{where} is no longer a coroutine function")
    if kind == "asyncgen" and not inspect.isasyncgenfunction(found):
        problems.append(f"{where} is no longer an async generator function")
    return problems


def attribute_problems(distribution: str, instance: Any, name: str, kind: type) -> list[str]:
    """`instance.name` exists and is a `kind`."""
    where = f"{installed(distribution)}: {type(instance).__qualname__}().{name}"
    if not hasattr(instance, name):
        return [f"{where} is gone"]
    value = getattr(instance, name)
    if not isinstance(value, kind):
        return [f"{where} is a {type(value).__name__}, not a {kind.__name__}"]
    return []
