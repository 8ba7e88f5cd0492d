"""boolean_mask against TensorFlow: 1-D and 2-D masks, an axis, a fed mask of unknown length."""

import numpy as np
import pytest

import gpugraph as gg
from conformance import Case, check, ph

rng = np.random.default_rng(5)
X = rng.standard_normal((3, 4, 2)).astype(np.float32)

CASES = [
    Case("mask_rows", lambda: gg.boolean_mask(ph("x", gg.float32, [3, 4, 2]), [True, False, True]),
         feeds={"x": X}),
    Case("mask_2d_axis1",
         lambda: gg.boolean_mask(ph("x", gg.float32, [3, 4, 2]), ph("m", gg.bool, [4, 2]), axis=1),
         feeds={"x": X, "m": rng.random((4, 2)) > 0.5}),
    Case("mask_fed_unknown_length",
         lambda: gg.boolean_mask(ph("s", gg.string, [None]), ph("m", gg.bool, [None])),
         feeds={"s": np.array([b"a", b"b", b"c"], object), "m": np.array([False, True, True])}),
]


@pytest.mark.tf
@pytest.mark.parametrize("case", CASES, ids=repr)
def test_conformance(case):
    check(case)


def test_static_shape_and_errors():
    with gg.Graph().as_default():
        out = gg.boolean_mask(ph("x", gg.float32, [5, 3]), ph("m", gg.bool, [5]))
        assert out.shape.as_list() == [None, 3]
        with pytest.raises(ValueError, match="scalar"):
            gg.boolean_mask(ph("y", gg.float32, [5]), True)
        with pytest.raises(ValueError, match="does not match"):
            gg.boolean_mask(ph("z", gg.float32, [5]), ph("m2", gg.bool, [4]))
        with pytest.raises(TypeError, match="must be bool"):
            gg.boolean_mask(ph("w", gg.float32, [5]), ph("m3", gg.int32, [5]))
