"""aiohttp's internals (its client side): its two default TLS contexts, loaded when first used.

`aiohttp.connector` builds a verifying and a non-verifying `ssl.SSLContext` when it is imported,
and each loads the system's CA bundle (OpenSSL parses every certificate in it): 0.035-0.04 s of
CPU in every command that talks to the daemon, most of which talk plain http to this machine and
never shake hands, and in every daemon start (the daemon imports all of aiohttp for its server).
`defer_certificates()` (the `videonet` and `videonet-daemon serve` processes, before anything
imports aiohttp) makes that import record the loading instead of doing it: both contexts become
`CertificatesAtFirstUse`, which loads the same default paths before its first `wrap_bio` or
`wrap_socket`, where every TLS connection (asyncio's included) starts. Protocol, verification,
hostname checks and the certificates trusted are the ones aiohttp chose; only the moment the
bundle is read moves, and a context used before it is loaded refuses every peer (no CA), never
accepts one. Measured: docs/performance.md, "Transfers round two".
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import ssl
import sys
from collections.abc import Sequence
from types import ModuleType
from typing import Any

from videonet_protocol.adapters.check import installed

DISTRIBUTION = "aiohttp"
CONNECTOR = "aiohttp.connector"
# The module-level contexts aiohttp.connector hands out when a request brings no context.
DEFAULT_CONTEXTS = ("_SSL_CONTEXT_VERIFIED", "_SSL_CONTEXT_UNVERIFIED")
_LOAD = "set_default_verify_paths"


class CertificatesAtFirstUse(ssl.SSLContext):
    """An SSLContext whose default CA paths are loaded before its first TLS connection."""

    _certificates_loaded = False

    def _load_certificates(self) -> None:
        # Two threads may both load: OpenSSL's store keeps one copy of each certificate.
        if not self._certificates_loaded:
            super().set_default_verify_paths()
            self._certificates_loaded = True

    def set_default_verify_paths(self) -> None:
        self._load_certificates()

    def wrap_socket(self, *args: Any, **kwargs: Any) -> ssl.SSLSocket:
        self._load_certificates()
        return super().wrap_socket(*args, **kwargs)

    def wrap_bio(self, *args: Any, **kwargs: Any) -> ssl.SSLObject:
        self._load_certificates()
        return super().wrap_bio(*args, **kwargs)


def _defer(context: ssl.SSLContext) -> None:
    """`set_default_verify_paths` while aiohttp.connector is imported."""
    if type(context) is ssl.SSLContext:
        context.__class__ = CertificatesAtFirstUse
    else:  # a subclass of someone else's: load now, as it asked
        ssl._SSLContext.set_default_verify_paths(context)  # type: ignore[attr-defined]


class _DeferringLoader(importlib.abc.Loader):
    """Runs aiohttp.connector's own loader with the CA loading deferred."""

    def __init__(self, loader: importlib.abc.Loader) -> None:
        self.loader = loader

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self.loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        own = vars(ssl.SSLContext).get(_LOAD)
        setattr(ssl.SSLContext, _LOAD, _defer)
        try:
            self.loader.exec_module(module)
        finally:
            if own is None:
                delattr(ssl.SSLContext, _LOAD)
            else:
                setattr(ssl.SSLContext, _LOAD, own)

    def __getattr__(self, name: str) -> Any:  # get_source, is_package…: the real loader's
        return getattr(self.loader, name)


class _ConnectorFinder(importlib.abc.MetaPathFinder):
    """Finds aiohttp.connector as the other finders do, with `_DeferringLoader` around it."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != CONNECTOR:
            return None
        sys.meta_path.remove(self)  # once: the module is imported once
        for finder in sys.meta_path:
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                if spec.loader is not None:
                    spec.loader = _DeferringLoader(spec.loader)
                return spec
        return None


def defer_certificates() -> None:
    """Have aiohttp's default contexts load the CA bundle when first used (call before aiohttp
    is imported; does nothing once it has been)."""
    if CONNECTOR in sys.modules or any(isinstance(f, _ConnectorFinder) for f in sys.meta_path):
        return
    sys.meta_path.insert(0, _ConnectorFinder())


def problems() -> list[str]:
    """What of the above no longer holds in the installed aiohttp (empty: all holds)."""
    import aiohttp.connector

    found = []
    for name in DEFAULT_CONTEXTS:
        context = getattr(aiohttp.connector, name, None)
        if not isinstance(context, ssl.SSLContext):
            found.append(f"{installed(DISTRIBUTION)}: connector.{name} is not an SSLContext")
    if not callable(getattr(ssl.SSLContext, _LOAD, None)):
        found.append(f"ssl.SSLContext.{_LOAD} is gone")
    return found
