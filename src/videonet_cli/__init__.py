"""VideoNet command-line toolkit."""

__version__ = "0.1.0"
