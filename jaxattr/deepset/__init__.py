"""Learned DeepSet value networks: train a set function, attribute through it.

    >>> from jaxattr import deepset
    >>> data = deepset.make_dataset(panel, "variance", with_grad=True)   # doctest: +SKIP
    >>> model, report = deepset.train(data, grad_weight=1.0)             # doctest: +SKIP
    >>> deepset.save("variance.deepset", model, report=report)           # doctest: +SKIP
    >>> att = jaxattr.attribute(panel, deepset.load_value("variance.deepset"),
    ...                         rule="gauss-legendre")                   # doctest: +SKIP

Importing this package loads equinox and optax (``import jaxattr`` alone does not).
"""

from ._io import KEY_ENV, DeepSetFileError, file_checksum, load, load_value, read_header, save
from ._model import DeepSet, DeepSetConfig, init_deepset
from ._synthetic import heavy_tailed_panel
from ._train import (
    SetDataset,
    TrainReport,
    evaluate,
    indicator_gradients,
    indicator_targets,
    make_dataset,
    predict,
    r2_score,
    train,
)
from ._value import DeepSetValue, model_digest

__all__ = [
    "DeepSet",
    "DeepSetConfig",
    "DeepSetFileError",
    "DeepSetValue",
    "KEY_ENV",
    "SetDataset",
    "TrainReport",
    "evaluate",
    "file_checksum",
    "heavy_tailed_panel",
    "indicator_gradients",
    "indicator_targets",
    "init_deepset",
    "load",
    "load_value",
    "make_dataset",
    "model_digest",
    "predict",
    "r2_score",
    "read_header",
    "save",
    "train",
]
