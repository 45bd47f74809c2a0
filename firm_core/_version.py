"""The package version, in a module of its own so that any part of the core can read it without
importing the package (which would make an import cycle)."""

__version__ = "0.1.0"
