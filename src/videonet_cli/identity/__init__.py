"""This installation's device key, the peers' keys pinned on first use, and the `keys` cores."""
