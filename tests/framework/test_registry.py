"""The op registry's parser of TensorFlow signatures, and OpDef generation."""

import pytest

import gpugraph  # noqa: F401  (registers the ops)

from gpugraph.framework import dtypes, registry
from gpugraph.framework.registry import parse_attr, parse_arg


def test_parse_type_attr_with_allowed_and_default():
    a = parse_attr("Tidx: {int32, int64} = DT_INT32")
    assert a.type == "type"
    assert a.allowed == [dtypes.int32, dtypes.int64]
    assert a.default == dtypes.int32


def test_parse_string_enum_list_and_minimum():
    p = parse_attr("padding: {'SAME', 'VALID', 'EXPLICIT'}")
    assert (p.type, p.allowed, p.has_default) == ("string", ["SAME", "VALID", "EXPLICIT"], False)
    d = parse_attr("dilations: list(int) = [1, 1, 1, 1]")
    assert (d.type, d.default) == ("list(int)", [1, 1, 1, 1])
    n = parse_attr("N: int >= 2")
    assert (n.type, n.minimum) == ("int", 2)
    f = parse_attr("data_format: {'NHWC', 'NCHW'} = 'NHWC'")
    assert f.default == b"NHWC"
    s = parse_attr("shape: shape = { unknown_rank: true }")
    assert s.default.ndims is None
    e = parse_attr("explicit_paddings: list(int) = []")
    assert e.default == []


def test_parse_type_set_aliases_and_list_types():
    assert dtypes.float32 in parse_attr("T: realnumbertype").allowed
    assert parse_attr("T: list(type) >= 1").type == "list(type)"


def test_parse_args():
    attrs = {"T": parse_attr("T: type"), "N": parse_attr("N: int"), "L": parse_attr("L: list(type)")}
    assert parse_arg("values: N * T", attrs).number_attr == "N"
    ref = parse_arg("ref: Ref(T)", attrs)
    assert ref.is_ref and ref.type_attr == "T"
    assert parse_arg("shape: int32", attrs).type == dtypes.int32
    assert parse_arg("x: L", attrs).type_list_attr == "L"


def test_bad_specs_are_rejected_with_the_text():
    with pytest.raises(ValueError, match="nonsense"):
        parse_attr("x: {nonsense}")
    with pytest.raises(ValueError, match="bad arg spec"):
        parse_arg("no colon here", {})


def test_duplicate_registration_is_an_error():
    with pytest.raises(ValueError, match="already registered"):
        registry.register_op("Identity", inputs=["input: T"], outputs=["output: T"], attrs=["T: type"])


def test_unknown_op_lookup_names_it():
    with pytest.raises(KeyError, match="NoSuchOp"):
        registry.get_op_spec("NoSuchOp")
