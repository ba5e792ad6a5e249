"""Estimated cost from token totals, with a price table the user can override.

Prices are US dollars per million tokens, input and output. The built-in table is a snapshot; a
JSON file (``VIDEONET_PRICES``, or ``prices.json`` in the config dir) replaces or adds entries::

    {"gpt-4o-mini": {"input": 0.15, "output": 0.60}, "llava:13b": {"input": 0, "output": 0}}

Image tokens are already inside ``prompt_tokens`` as the endpoint reports them (a low-detail image
is 85 tokens on gpt-4o but 2,833 on gpt-4o-mini), so the estimate needs no per-image rule.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from videonet_cli.analysis.results import Usage
from videonet_cli.errors import UsageError
from videonet_cli.i18n import _


@dataclass(frozen=True)
class Price:
    input_per_m: float
    output_per_m: float


BUILTIN: dict[str, Price] = {
    "gpt-4o-mini": Price(0.15, 0.60),
    "gpt-4o": Price(2.50, 10.00),
    "gpt-4.1": Price(2.00, 8.00),
    "gpt-4.1-mini": Price(0.40, 1.60),
    "gpt-4.1-nano": Price(0.10, 0.40),
    "gpt-5": Price(1.25, 10.00),
    "gpt-5-mini": Price(0.25, 2.00),
    "gpt-5-nano": Price(0.05, 0.40),
}


def load_table(path: Path) -> dict[str, Price]:
    """The built-in table updated with the user's file (when there is one)."""
    table = dict(BUILTIN)
    if not path.is_file():
        return table
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UsageError(
            _("cannot read the price table {path}: {problem}").format(path=path, problem=exc)
        ) from None
    if not isinstance(data, dict):
        raise UsageError(
            _("the price table {path} must be a JSON object of models").format(path=path)
        )
    for model, entry in data.items():
        try:
            table[str(model)] = Price(float(entry["input"]), float(entry["output"]))
        except (TypeError, KeyError, ValueError):
            raise UsageError(
                _("price of {model} in {path} must be {shape} ($ per 1M tokens)").format(
                    model=repr(model), path=path, shape='{"input": N, "output": N}'
                )
            ) from None
    return table


def lookup(table: dict[str, Price], model: str) -> Price | None:
    """Exact name first, then the longest known prefix (``gpt-4o-mini-2024-07-18``)."""
    if model in table:
        return table[model]
    prefixes = [name for name in table if model.startswith(name)]
    return table[max(prefixes, key=len)] if prefixes else None


def estimate(usage: Usage, price: Price | None) -> float | None:
    if price is None:
        return None
    cost = usage.prompt_tokens * price.input_per_m + usage.completion_tokens * price.output_per_m
    return round(cost / 1_000_000, 6)
