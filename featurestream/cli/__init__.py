"""The ``featurestream`` command line (a surface: it calls the engine, the stores and the core)."""

from featurestream.cli.main import main

__all__ = ["main"]
