"""valuescope engine: scoring, caching and analysis. No UI code lives here."""
__version__ = "0.1.0"

# Bump when a change alters any score, so cache entries computed before it are not served.
SCORER_VERSION = "1"
