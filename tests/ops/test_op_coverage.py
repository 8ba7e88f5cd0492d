"""Registry-wide checks: every op has a kernel, a shape function and conformance cases, and its
OpDef equals TensorFlow's (so our NodeDefs mean the same thing to TensorFlow)."""

import importlib
import pathlib

import pytest

import gpugraph  # noqa: F401  (registers every op)
from gpugraph.framework import registry
from conformance import op_types

# Ops whose presence is exercised through other tests than conformance CASES (none today).
HERE = pathlib.Path(__file__).parent


def _case_modules():
    for path in sorted(HERE.glob("test_*.py")):
        if path.stem == "test_op_coverage":
            continue
        module = importlib.import_module(path.stem)
        if hasattr(module, "CASES"):
            yield module


def test_every_op_has_cpu_kernel_and_shape_function():
    missing = [name for name in registry.registered_ops()
               if registry.get_op_spec(name).kernel_for("CPU") is None
               or registry.get_op_spec(name).shape_fn is None]
    assert not missing, f"ops without a CPU kernel or a shape function: {missing}"


def test_every_op_has_a_conformance_case():
    covered = set()
    for module in _case_modules():
        for case in module.CASES:
            covered |= op_types(case)
    missing = sorted(set(registry.registered_ops()) - covered)
    assert not missing, f"registered ops with no conformance case: {missing}"


def _normalise_op_def(op_def):
    """OpDef fields that define the node contract (docs and summaries dropped)."""
    from google.protobuf import text_format
    op_def = type(op_def).FromString(op_def.SerializeToString())
    op_def.ClearField("summary")
    op_def.ClearField("description")
    op_def.ClearField("deprecation")
    for arg in list(op_def.input_arg) + list(op_def.output_arg):
        arg.ClearField("description")
        arg.ClearField("handle_data")
        arg.ClearField("experimental_full_type")
    for attr in op_def.attr:
        attr.ClearField("description")
    op_def.ClearField("is_distributed_communication")
    return text_format.MessageToString(op_def)


@pytest.mark.tf
@pytest.mark.parametrize("op_name", registry.registered_ops())
def test_op_def_matches_tensorflow(op_name):
    from tensorflow.python.framework import op_def_registry
    from gpugraph.protos import op_def_pb2
    theirs = op_def_registry.get(op_name)
    assert theirs is not None, f"TensorFlow has no op named {op_name}"
    ours = registry.get_op_spec(op_name).op_def()
    theirs = op_def_pb2.OpDef.FromString(theirs.SerializeToString())
    assert _normalise_op_def(ours) == _normalise_op_def(theirs)
