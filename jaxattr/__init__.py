"""jaxattr: Aumann–Shapley attribution of emergent macro phenomena to agents and time steps.

Importing jaxattr loads JAX and NumPy only; pyarrow, matplotlib and torch are imported
lazily by the functions that need them.
"""

from . import values
from ._attribute import Attribution, attribute
from ._panel import Panel

__version__ = "0.1.0"

__all__ = ["Attribution", "Panel", "attribute", "values"]
