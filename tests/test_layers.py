"""The layout's design, checked: imports point one way, down the layers of the package.

Layers, low to high (a module may import from its own layer's package and below, never
above; function-level imports included):

0. ``jaxattr.kernels``: the math;
1. ``jaxattr._util``: atomic writes, validation, placement, the process policy;
2. ``jaxattr.values``: the value protocol, built-ins, loading;
3. the engine: method objects and the resolver, the result, the panel, the compiled core,
   ``attribute``;
4. ``jaxattr.io``: the file formats (panel, phi); ``jaxattr`` itself (its ``__init__``
   re-exports the engine and io, and loads the layers above lazily);
5. ``jaxattr.shapley``: reference estimators;
6. ``jaxattr.data``, ``jaxattr.deepset``: data in, learned values;
7. ``jaxattr.scale``: several devices, processes, out of core, batches;
8. ``jaxattr.study``, ``jaxattr.scenarios``: what users run on their data and simulators;
9. ``jaxattr._cli``: the command line.

Also: a subpackage's private modules are its own (``jaxattr.scale`` never imports
``jaxattr.data._jetstream``; it imports ``jaxattr.data``), and no module imports another
package's private names (``from jaxattr.x import _helper``) at module level. The root's
private modules (``jaxattr._core``, ``jaxattr._util``) are the shared internal layer.
"""

from test_imports import MODULES, _imports

ENGINE = (
    "jaxattr._methods",
    "jaxattr.methods",
    "jaxattr._result",
    "jaxattr._export",
    "jaxattr._panel",
    "jaxattr._long",
    "jaxattr._core",
    "jaxattr._attribute",
)
LAYERS = [
    ("jaxattr.kernels",),
    ("jaxattr._util",),
    ("jaxattr.values",),
    ENGINE,
    ("jaxattr.io", "jaxattr"),
    ("jaxattr.shapley",),
    ("jaxattr.data", "jaxattr.deepset"),
    ("jaxattr.scale",),
    ("jaxattr.study", "jaxattr.scenarios", "jaxattr.plot"),
    ("jaxattr._cli", "jaxattr.__main__"),
]


def layer_of(module: str) -> int:
    best, depth = None, -1
    for i, prefixes in enumerate(LAYERS):
        for p in prefixes:
            if (module == p or module.startswith(p + ".")) and len(p) > depth:
                best, depth = i, len(p)
    if best is None:
        raise AssertionError(f"module {module} is in no layer: add it to LAYERS")
    return best


def _package(module: str) -> str:
    """The subpackage a module belongs to: ``jaxattr.scale._batch`` -> ``jaxattr.scale``,
    ``jaxattr._util._atomic`` -> ``jaxattr._util``, a root module such as ``jaxattr._core``
    -> ``jaxattr``."""
    parts = module.split(".")
    if len(parts) >= 2:
        top = ".".join(parts[:2])
        if MODULES.get(top, "").endswith("__init__.py"):
            return top
    return "jaxattr"


def _module_level_imports(name):
    return _imports(name, module_level=True)


def test_every_module_has_a_layer():
    for m in MODULES:
        layer_of(m)


def test_imports_point_down():
    up = []
    for m in MODULES:
        mine = layer_of(m)
        for target, name in _imports(m):
            sub = f"{target}.{name}" if name else target
            dep = sub if sub in MODULES else target
            if dep not in MODULES or dep == m:
                continue
            theirs = layer_of(dep)
            if theirs > mine and _package(dep) != _package(m):
                up.append(f"{m} (layer {mine}) imports {dep} (layer {theirs})")
    assert up == []


def test_private_modules_stay_in_their_package():
    found = []
    for m in MODULES:
        for target, name in _imports(m):
            sub = f"{target}.{name}" if name else target
            dep = sub if sub in MODULES else target
            parts = dep.split(".")
            if len(parts) < 3 or not any(p.startswith("_") for p in parts[2:]):
                continue  # a root-level private module, or a public one
            if _package(dep) != _package(m):
                found.append(f"{m} imports {dep}")
    assert found == []


def test_no_module_level_import_of_private_names_across_packages():
    found = []
    for m in MODULES:
        for target, name in _module_level_imports(m):
            if (
                name
                and name.startswith("_")
                and not name.startswith("__")
                and target.startswith("jaxattr")
                and f"{target}.{name}" not in MODULES
                and _package(target) != _package(m)
            ):
                found.append(f"{m}: from {target} import {name}")
    assert found == []


def test_layer_of_examples():
    assert layer_of("jaxattr.kernels._closed") == 0
    assert layer_of("jaxattr._core") == 3
    assert layer_of("jaxattr.scale._batch") == 7
    assert _package("jaxattr.scale._batch") == "jaxattr.scale"
    assert _package("jaxattr._core") == "jaxattr"
