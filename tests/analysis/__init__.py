"""Tests of `videonet analyze` and `videonet ask`."""
