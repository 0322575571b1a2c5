"""The version of jaxattr, written here only: ``pyproject.toml`` reads it
(``[tool.setuptools.dynamic]``), ``jaxattr.__version__`` and ``jaxattr --version`` report it.

Kept free of imports so setuptools reads it statically, without importing jaxattr (JAX).
"""

__version__ = "0.1.0"
