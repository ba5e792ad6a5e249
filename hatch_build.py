"""The wheel's build hook: compile the message catalogues (.po -> .mo) into the package.

The .mo files are build products, never committed (.gitignore); scripts/i18n.py compiles them
the same way for a checkout (`make catalogues`, and the test suite before it starts).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface


class CustomBuildHook(BuildHookInterface):  # type: ignore[type-arg]
    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        root = Path(self.root)
        spec = importlib.util.spec_from_file_location("videonet_i18n", root / "scripts/i18n.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # dataclasses look their module up while it runs
        spec.loader.exec_module(module)
        for mo in module.compile_all():
            build_data["artifacts"].append(str(mo.relative_to(root)))
