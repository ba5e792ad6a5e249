"""The CLI's only reach into libraries' private internals: one module per library, each with
`problems()` (tests/test_adapters.py); typer's is videonet_protocol/adapters/typer.py."""
