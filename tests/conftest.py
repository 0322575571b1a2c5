"""Strict numerics for every test: rank promotion raises, float tolerances in one place."""

import jax
import numpy as np
import pytest

jax.config.update("jax_numpy_rank_promotion", "raise")


def rtol_for(dtype) -> float:
    """Relative tolerance for attributions computed in ``dtype`` on this backend."""
    dtype = np.dtype(dtype)
    base = {np.dtype(np.float32): 2e-6, np.dtype(np.float64): 1e-12}[dtype]
    if jax.default_backend() != "cpu":
        base *= 10  # accelerators reassociate reductions more freely
    return base


@pytest.fixture
def rng():
    return np.random.default_rng(12345)
