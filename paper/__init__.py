"""The reproduction of the paper (not installed with jaxattr): ``python paper/reproduce.py``."""
