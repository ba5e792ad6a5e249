"""The contract between the daemon and the CLI, owned by neither.

`protocol` is the wire contract (paths, events, payload shapes, limits, error codes, version);
`names` the rules and keys of names people choose; `durations` how people type durations;
`command_line` how both commands run their click tree. Both `videonet_daemon` and
`videonet_cli` import this package; neither imports the other.
"""
