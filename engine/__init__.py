"""engine: a declarative destination engine.

A destination is a YAML spec; the engine loads and checks it once, compiles it to plain
Python closures, then turns events into HTTP requests and delivers them.
"""

from engine.jsvalues import UNDEFINED

__all__ = ["UNDEFINED"]
__version__ = "0.1.0"
