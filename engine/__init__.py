"""valuescope engine: scoring, caching and analysis. No UI code lives here."""
__version__ = "0.1.0"
