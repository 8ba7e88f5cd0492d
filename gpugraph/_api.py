"""Assembles the public namespaces (``gpugraph``, ``gpugraph.nn``, ``gpugraph.math``, …) from the
``EXPORTS`` table of each op module, so adding an op's API function touches only its own module.

An op module declares, e.g.::

    EXPORTS = {"": ["matmul", "add"], "math": ["add"], "nn": ["relu"]}

where "" is the top-level ``gpugraph`` namespace and other keys are submodules of ``gpugraph``.
An entry may be ``"public_name=function_name"`` when the Python name differs.
"""

import importlib


def _op_modules():
    """Every module of ``gpugraph.ops``; each imports the modules it builds on, so order is free."""
    import pkgutil
    import gpugraph.ops
    return sorted(f"gpugraph.ops.{m.name}" for m in pkgutil.iter_modules(gpugraph.ops.__path__))


def install(package):
    """Imports every op module and binds its exports onto ``package`` and its namespace modules."""
    for module_name in _op_modules():
        module = importlib.import_module(module_name)
        for namespace, names in getattr(module, "EXPORTS", {}).items():
            target = package if namespace == "" else importlib.import_module(f"{package.__name__}.{namespace}")
            for entry in names:
                public, _, private = entry.partition("=")
                setattr(target, public, getattr(module, private or public))
