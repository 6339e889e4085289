"""The package version: a leaf module, so that nothing has to import the package upward."""

__version__ = "0.1.0"
