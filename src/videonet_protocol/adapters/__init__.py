"""Libraries' private internals, reached in one module per library (typer's here, since both
commands use it; the daemon's in videonet_daemon/adapters, the CLI's in videonet_cli/adapters).
Each has `problems()`: what moved in the installed version, one line each (tests/test_adapters.py).
"""
