"""Conformance cases for the graph-plumbing ops (Const, Placeholder, Identity, IdentityN, NoOp,
StopGradient, PlaceholderWithDefault) and their API functions."""

import numpy as np
import pytest

import gpugraph as gg
from conformance import Case, check, ph

rng = np.random.default_rng(11)


def _with_noop():
    x = ph("x", np.float32, [None, 3])
    done = gg.no_op(name="done")
    with gg.control_dependencies([done]):
        return gg.identity(x, name="y")


CASES = [
    Case("const_and_identity_string", lambda: gg.identity(gg.constant([[b"a", b"bc"]]), name="out")),
    Case("identity_after_noop", _with_noop, feeds={"x": rng.standard_normal((2, 3)).astype(np.float32)}),
    Case("identity_n_mixed_dtypes",
         lambda: gg.identity_n([ph("a", np.float32, [2]), ph("b", np.int64, [None, 2])]),
         feeds={"a": np.array([1.5, -2], np.float32), "b": np.arange(6, dtype=np.int64).reshape(3, 2)}),
    Case("stop_gradient_half", lambda: gg.stop_gradient(ph("h", np.float16, [2, 2])),
         feeds={"h": np.array([[1, 2], [3, 4]], np.float16)}),
    Case("placeholder_with_default_unfed",
         lambda: gg.identity(gg.placeholder_with_default(gg.constant([[1, 2, 3]]), [None, 3], name="p"))),
    Case("placeholder_with_default_fed",
         lambda: gg.identity(gg.placeholder_with_default(gg.constant([[1, 2, 3]]), [None, 3], name="p")),
         feeds={"p": np.array([[4, 5, 6], [7, 8, 9]], np.int32)}),
    Case("broadcast_scalar_const", lambda: gg.identity(gg.constant(2.5, shape=[2, 3], dtype=gg.float64))),
]


@pytest.mark.tf
@pytest.mark.parametrize("case", CASES, ids=repr)
def test_conformance(case):
    check(case)


def test_group_runs_every_input_and_tuple_gates():
    with gg.Graph().as_default():
        a = gg.constant(1.0, name="a")
        b = gg.constant(2.0, name="b")
        g = gg.group(a, [b.op], name="both")
        assert g.type == "NoOp" and set(g.control_inputs) == {a.op, b.op}
        ta, tb = gg.tuple([a, b])
        assert ta.op.type == "Identity" and ta.op.control_inputs
        with gg.Session() as sess:
            assert sess.run(g) is None
            assert sess.run([ta, tb]) == [1.0, 2.0]


def test_placeholder_unknown_rank_accepts_any_shape():
    with gg.Graph().as_default():
        p = gg.placeholder(gg.float32, name="anything")
        assert p.shape.ndims is None
        with gg.Session() as sess:
            assert sess.run(gg.identity(p), {p: np.zeros((2, 3, 4))}).shape == (2, 3, 4)
