"""Assembles the public namespaces (``gpugraph``, ``gpugraph.nn``, ``gpugraph.math``, …) from the
``EXPORTS`` table of each op module, so adding an op's API function touches only its own module.

An op module declares, e.g.::

    EXPORTS = {"": ["matmul", "add"], "math": ["add"], "nn": ["relu"]}

where "" is the top-level ``gpugraph`` namespace and other keys are submodules of ``gpugraph``.
An entry may be ``"public_name=function_name"`` when the Python name differs.
"""

import importlib

OP_MODULES = [
    "gpugraph.ops.core_ops",
    "gpugraph.ops.math_ops",
    "gpugraph.ops.nn_ops",
    "gpugraph.ops.array_ops",
    "gpugraph.ops.state_ops",
    "gpugraph.ops.random_ops",
    "gpugraph.ops.variables",
    "gpugraph.ops.variable_scope",
    "gpugraph.ops.init_ops",
]


def install(package):
    """Imports every op module and binds its exports onto ``package`` and its namespace modules."""
    import sys
    for module_name in OP_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as e:
            if e.name == module_name:
                continue  # a family not written yet
            raise
        for namespace, names in getattr(module, "EXPORTS", {}).items():
            target = package if namespace == "" else sys.modules[f"{package.__name__}.{namespace}"]
            for entry in names:
                public, _, private = entry.partition("=")
                setattr(target, public, getattr(module, private or public))
