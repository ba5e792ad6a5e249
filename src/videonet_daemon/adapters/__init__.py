"""The daemon's only reach into libraries' private internals: one module per library.

Each module says what it uses, wraps it behind names of our own, and has `problems()`, which
checks those internals against the installed version and names what moved in one line per
problem (videonet_protocol/adapters/check.py); tests/test_adapters.py fails with that text
when a library changes under us.
"""
