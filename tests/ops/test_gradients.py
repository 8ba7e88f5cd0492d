"""Every gradient function, checked three ways on a small graph built with gpugraph's API:

1. against central finite differences of ``sum(y * grad_y)`` (float64 unless the op needs float32);
2. TensorFlow runs our exported backward graph (our gradient nodes) and gets the same values;
3. TensorFlow's own ``tf.gradients`` on the imported forward graph agrees with ours.
"""

import numpy as np
import pytest

import gpugraph as gg
from gpugraph.framework.op_builder import apply_op

rng = np.random.default_rng(2024)
F64 = gg.float64


class G:
    """A gradient case: ``build()`` returns ``(y, xs)``; ``feeds`` maps placeholder names to values."""

    def __init__(self, name, build, feeds, rtol=1e-6, atol=1e-8, eps=1e-6, fd=True, tf=True, init=False):
        self.name, self.build, self.feeds = name, build, feeds
        self.rtol, self.atol, self.eps, self.fd, self.tf, self.init = rtol, atol, eps, fd, tf, init

    def __repr__(self):
        return self.name


def r(*shape, dtype=np.float64, low=None):
    if low is not None:
        return (rng.random(shape) + low).astype(dtype)
    return rng.standard_normal(shape).astype(dtype)


def ph(name, shape, dtype=F64):
    return gg.placeholder(dtype, shape, name=name)


def unary(name, fn, x=None, shape=(3, 4), **kw):
    return G(name, lambda: (lambda a: (fn(a), [a]))(ph("a", shape)), {"a": r(*shape) if x is None else x}, **kw)


def binary(name, fn, a_shape, b_shape, a=None, b=None, **kw):
    return G(name, lambda: (lambda p, q: (fn(p, q), [p, q]))(ph("a", a_shape), ph("b", b_shape)),
             {"a": r(*a_shape) if a is None else a, "b": r(*b_shape) if b is None else b}, **kw)


def _away_from(values, points, margin=0.05):
    """Moves values at least ``margin`` away from kinks (FD needs a smooth neighbourhood)."""
    for p in points:
        near = np.abs(values - p) < margin
        values = np.where(near, p + margin * np.sign(values - p + 1e-12) * 2, values)
    return values


MATH = [
    binary("add_broadcast", lambda a, b: a + b, [2, 3], [3]),
    binary("add_scalar_rank_mismatch", gg.add, [2, 1, 3], []),
    binary("sub_broadcast_both", gg.subtract, [4, 1], [1, 3]),
    binary("mul_same_shape", gg.multiply, [2, 3], [2, 3]),
    binary("mul_partially_known", lambda a, b: a * b, [None, 3], [3], a=r(4, 3)),
    binary("realdiv_broadcast", gg.divide, [2, 3], [2, 1], b=r(2, 1, low=0.5)),
    binary("div_v1", gg.div, [3], [3], b=r(3, low=0.5)),
    binary("div_no_nan", gg.div_no_nan, [2, 3], [3], b=r(3, low=0.5)),
    binary("maximum", gg.maximum, [3, 4], [4], a=_away_from(r(3, 4), [0]), b=np.zeros(4) + 0.01),
    binary("minimum_broadcast", gg.minimum, [2, 3], [1, 3]),
    binary("pow", gg.pow, [2, 3], [3], a=r(2, 3, low=0.5)),
    binary("squared_difference", gg.squared_difference, [2, 3], [3]),
    binary("squared_difference_same", gg.squared_difference, [3, 2], [3, 2]),
    binary("floormod", gg.floormod, [5], [5], a=np.array([3.3, -2.7, 5.1, 0.4, 7.9]),
           b=np.array([2.0, 2.0, 3.0, 1.5, 2.5])),
    unary("neg", gg.negative), unary("abs", gg.abs, x=_away_from(r(3, 4), [0])),
    unary("reciprocal", gg.reciprocal, x=r(3, 4, low=0.5)), unary("square", gg.square),
    unary("sqrt", gg.sqrt, x=r(3, 4, low=0.5)), unary("rsqrt", gg.rsqrt, x=r(3, 4, low=0.5)),
    unary("exp", gg.exp), unary("log", gg.log, x=r(3, 4, low=0.5)), unary("log1p", gg.log1p, x=r(3, 4, low=0.2)),
    unary("tanh", gg.tanh), unary("sigmoid", gg.sigmoid), unary("erf", gg.erf), unary("erfc", gg.erfc),
    unary("sign_is_zero", lambda a: gg.sign(a) * a, x=_away_from(r(3, 4), [0])),
    unary("floor_is_none", lambda a: gg.floor(a) + a, x=r(3, 4) + 0.5 - 0.5 * 0 + 0.25),
    unary("cast_f32_roundtrip", lambda a: gg.cast(gg.cast(a, gg.float32) * 3.0, F64), eps=1e-3, rtol=1e-3,
          atol=1e-4),
    G("add_n", lambda: (lambda a, b: (gg.add_n([a, b, a]), [a, b]))(ph("a", [2, 3]), ph("b", [2, 3])),
      {"a": r(2, 3), "b": r(2, 3)}),
    G("select", lambda: (lambda c, a, b: (gg.where(c, a, b), [a, b]))(
        ph("c", [2, 3], gg.bool), ph("a", [2, 3]), ph("b", [2, 3])),
      {"c": rng.random((2, 3)) > 0.5, "a": r(2, 3), "b": r(2, 3)}),
    G("select_v2_broadcast", lambda: (lambda c, a, b: (gg.where_v2(c, a, b), [a, b]))(
        ph("c", [2, 1], gg.bool), ph("a", [2, 3]), ph("b", [3])),
      {"c": np.array([[True], [False]]), "a": r(2, 3), "b": r(3)}),
]

MATMUL = [
    binary(f"matmul_ta{ta}_tb{tb}", lambda a, b, ta=ta, tb=tb: gg.matmul(a, b, transpose_a=ta, transpose_b=tb),
           [3, 2] if ta else [2, 3], [4, 3] if tb else [3, 4])
    for ta in (False, True) for tb in (False, True)
] + [
    binary("batch_matmul_broadcast", gg.matmul, [2, 1, 3, 4], [5, 4, 2]),
    binary("batch_matmul_adjoint", lambda a, b: gg.matmul(a, b, adjoint_a=True, adjoint_b=True),
           [2, 4, 3], [2, 5, 4]),
    binary("batch_matmul_rank3_x_rank2", gg.matmul, [2, 3, 4], [4, 2]),
    binary("einsum_matmul", lambda a, b: gg.einsum("ij,jk->ik", a, b), [2, 3], [3, 4]),
    binary("einsum_batch_outer", lambda a, b: gg.einsum("bi,bj->bij", a, b), [2, 3], [2, 4]),
    unary("einsum_reduce", lambda a: gg.einsum("ij->j", a)),
    unary("einsum_transpose", lambda a: gg.einsum("ij->ji", a)),
]

REDUCTIONS = [
    unary("sum_all", gg.reduce_sum), unary("sum_axis_neg", lambda a: gg.reduce_sum(a, -1)),
    unary("sum_keepdims", lambda a: gg.reduce_sum(a, [0], keepdims=True)),
    G("sum_partial_shape", lambda: (lambda a: (gg.reduce_sum(a, 1), [a]))(ph("a", [None, 4])), {"a": r(3, 4)}),
    G("sum_unknown_rank", lambda: (lambda a: (gg.reduce_sum(a, [0, 2]), [a]))(ph("a", None)),
      {"a": r(2, 3, 2)}, tf=False),
    G("sum_dynamic_axes", lambda: (lambda a, ax: (gg.reduce_sum(a, ax), [a]))(
        ph("a", [3, 4, 2]), ph("ax", [None], gg.int32)), {"a": r(3, 4, 2), "ax": np.array([2, 0], np.int32)}),
    unary("mean_axes", lambda a: gg.reduce_mean(a, [0, 1]), shape=(3, 4, 2)),
    G("mean_partial_shape", lambda: (lambda a: (gg.reduce_mean(a, 0), [a]))(ph("a", [None, 3])), {"a": r(4, 3)}),
    unary("max_axis", lambda a: gg.reduce_max(a, 1)),
    unary("max_ties_split", lambda a: gg.reduce_max(a), x=np.array([[1.0, 3.0], [3.0, 2.0]]), shape=(2, 2),
          fd=False),
    unary("min_keepdims", lambda a: gg.reduce_min(a, 0, keepdims=True)),
    unary("prod_axis", lambda a: gg.reduce_prod(a, 1)),
    unary("prod_with_zero", lambda a: gg.reduce_prod(a, [0, 2]), x=np.array(
        [[[1.0, 2.0], [0.0, 3.0]], [[2.0, 0.5], [4.0, 1.5]], [[1.5, 2.5], [0.0, 1.0]]]), shape=(3, 2, 2)),
]

NN = [
    unary("relu", gg.nn.relu, x=_away_from(r(3, 4), [0])),
    unary("relu6", gg.nn.relu6, x=_away_from(r(3, 4) * 4, [0, 6])),
    unary("elu", gg.nn.elu, x=_away_from(r(3, 4), [0])), unary("selu", gg.nn.selu, x=_away_from(r(3, 4), [0])),
    unary("leaky_relu", lambda a: gg.nn.leaky_relu(a, 0.3), x=_away_from(r(3, 4), [0])),
    unary("softplus", gg.nn.softplus), unary("softmax", gg.nn.softmax),
    unary("softmax_axis0", lambda a: gg.nn.softmax(a, axis=0)), unary("log_softmax", gg.nn.log_softmax),
    binary("bias_add", gg.nn.bias_add, [2, 3, 4], [4]),
    binary("bias_add_nchw", lambda a, b: gg.nn.bias_add(a, b, data_format="NCHW"), [2, 3, 2, 2], [3], tf=False),
    binary("softmax_xent_v2_both_inputs", lambda a, b: gg.nn.softmax_cross_entropy_with_logits_v2(
        labels=gg.nn.softmax(b), logits=a), [3, 4], [3, 4]),
    G("sparse_softmax_xent", lambda: (lambda a, y: (gg.nn.sparse_softmax_cross_entropy_with_logits(
        labels=y, logits=a), [a]))(ph("a", [3, 5]), ph("y", [3], gg.int64)),
      {"a": r(3, 5), "y": np.array([4, 0, 2])}),
    binary("sigmoid_xent", lambda a, b: gg.nn.sigmoid_cross_entropy_with_logits(labels=b, logits=a),
           [3, 4], [3, 4], a=_away_from(r(3, 4), [0])),
    unary("l2_loss", gg.nn.l2_loss),
    binary("conv2d_same_stride2", lambda a, b: gg.nn.conv2d(a, b, [1, 2, 2, 1], "SAME"), [2, 5, 5, 2],
           [3, 3, 2, 3]),
    binary("conv2d_valid", lambda a, b: gg.nn.conv2d(a, b, [1, 1, 1, 1], "VALID"), [1, 5, 4, 3], [2, 3, 3, 2]),
    binary("depthwise_same", lambda a, b: gg.nn.depthwise_conv2d(a, b, [1, 1, 1, 1], "SAME"), [1, 4, 5, 2],
           [3, 3, 2, 2]),
    binary("depthwise_valid_stride", lambda a, b: gg.nn.depthwise_conv2d(a, b, [1, 2, 2, 1], "VALID"),
           [2, 5, 5, 2], [2, 2, 2, 1]),
    unary("max_pool_same", lambda a: gg.nn.max_pool(a, [1, 2, 2, 1], [1, 2, 2, 1], "SAME"), shape=(1, 5, 5, 2),
          x=rng.permutation(50).reshape(1, 5, 5, 2).astype(np.float64) / 7),
    unary("avg_pool_valid", lambda a: gg.nn.avg_pool(a, [1, 3, 2, 1], [1, 1, 2, 1], "VALID"), shape=(2, 5, 4, 2)),
    unary("avg_pool_same", lambda a: gg.nn.avg_pool(a, [1, 3, 3, 1], [1, 2, 2, 1], "SAME"), shape=(1, 5, 5, 1)),
]


def _fbn(training):
    def build():
        x = gg.placeholder(gg.float32, [2, 3, 3, 4], name="a")
        scale = gg.placeholder(gg.float32, [4], name="s")
        offset = gg.placeholder(gg.float32, [4], name="o")
        if training:
            y = gg.nn.fused_batch_norm(x, scale, offset, epsilon=0.01)[0]
        else:
            y = gg.nn.fused_batch_norm(x, scale, offset, mean=gg.constant(np.full(4, 0.1, np.float32)),
                                       variance=gg.constant(np.full(4, 1.5, np.float32)), epsilon=0.01,
                                       is_training=False)[0]
        return y, [x, scale, offset]
    return G(f"fused_batch_norm_{'train' if training else 'infer'}", build,
             {"a": r(2, 3, 3, 4, dtype=np.float32), "s": r(4, dtype=np.float32), "o": r(4, dtype=np.float32)},
             eps=1e-2, rtol=2e-2, atol=2e-3)


NN += [_fbn(True), _fbn(False)]

ARRAY = [
    unary("reshape", lambda a: gg.reshape(a, [4, 3])),
    G("reshape_partial_wildcard", lambda: (lambda a: (gg.reshape(a, [-1]), [a]))(ph("a", [None, 3])),
      {"a": r(4, 3)}),
    unary("expand_dims", lambda a: gg.expand_dims(a, 1)), unary("squeeze", gg.squeeze, shape=(3, 1, 2)),
    unary("transpose", lambda a: gg.transpose(a, [2, 0, 1]), shape=(2, 3, 4)),
    binary("concat_axis1", lambda a, b: gg.concat([a, b, a], 1), [2, 3], [2, 2]),
    binary("concat_negative_axis_partial", lambda a, b: gg.concat([a, b], -1), [None, 2], [None, 3],
           a=r(3, 2), b=r(3, 3)),
    binary("stack_axis1", lambda a, b: gg.stack([a, b], axis=1), [2, 3], [2, 3]),
    unary("unstack", lambda a: gg.add_n([u * float(i + 1) for i, u in enumerate(gg.unstack(a, axis=1))])),
    unary("unstack_partial_use", lambda a: gg.unstack(a)[1]),
    unary("split", lambda a: (lambda p: p[0] * 2.0 + p[1] * 3.0)(gg.split(a, 2, axis=1))),
    unary("split_v", lambda a: (lambda p: gg.reduce_sum(p[0]) + gg.reduce_sum(p[2]) * 2.0)(
        gg.split(a, [1, 2, 1], axis=1))),
    unary("slice", lambda a: gg.slice(a, [1, 0], [2, 3])),
    unary("strided_slice_masks", lambda a: a[1:, ::-2], shape=(3, 5)),
    unary("strided_slice_shrink_newaxis", lambda a: a[1, None, 1:3], shape=(3, 4)),
    G("gather_axis0_repeats", lambda: (lambda a: (gg.gather(a, [2, 0, 2, 1]), [a]))(ph("a", [3, 4])),
      {"a": r(3, 4)}),
    G("gather_axis1_2d_indices", lambda: (lambda a: (gg.gather(a, [[0, 2], [1, 1]], axis=1), [a]))(
        ph("a", [2, 3, 2])), {"a": r(2, 3, 2)}),
    G("gather_partial_shape", lambda: (lambda a: (gg.gather(a, [1, 1], axis=1), [a]))(ph("a", [None, 3])),
      {"a": r(2, 3)}),
    unary("tile", lambda a: gg.tile(a, [2, 3]), shape=(2, 3)),
    unary("pad", lambda a: gg.pad(a, [[1, 0], [2, 1]])),
    unary("pad_constant_value", lambda a: gg.pad(a, [[0, 1], [1, 1]], constant_values=2.0)),
    unary("broadcast_to", lambda a: gg.broadcast_to(a, [2, 3, 4]), shape=(3, 1)),
    unary("reverse", lambda a: gg.reverse(a, [1])),
    unary("mirror_pad_reflect", lambda a: gg.pad(a, [[2, 1], [1, 2]], mode="REFLECT"), shape=(4, 4)),
    unary("mirror_pad_symmetric", lambda a: gg.pad(a, [[1, 1], [0, 2]], mode="SYMMETRIC")),
    unary("cumsum_exclusive", lambda a: apply_op("Cumsum", x=a, axis=1, exclusive=True)),
    unary("cumprod_reverse", lambda a: apply_op("Cumprod", x=a, axis=0, reverse=True), x=r(3, 4, low=0.5)),
    G("unsorted_segment_sum_negative_ids", lambda: (lambda a: (apply_op(
        "UnsortedSegmentSum", data=a, segment_ids=gg.constant([[0, -1], [2, 0]]), num_segments=3), [a]))(
        ph("a", [2, 2, 3])), {"a": r(2, 2, 3)}),
    G("fill_value", lambda: (lambda v: (gg.fill([2, 3], v), [v]))(ph("v", [])), {"v": np.array(1.5)}),
    unary("identity_n", lambda a: (lambda o: o[0] * o[1])(gg.identity_n([a, a * 2.0]))),
    G("placeholder_with_default", lambda: (lambda a: (gg.placeholder_with_default(a * 2.0, [3]) ** 2, [a]))(
        ph("a", [3])), {"a": r(3)}),
]


def _second_order(name, fn, x):
    def build():
        a = ph("a", [4])
        (g,) = gg.gradients(gg.reduce_sum(fn(a)), [a])
        return g, [a]
    return G(name, build, {"a": x})


SECOND_ORDER = [
    _second_order("tanh_second_order", gg.tanh, r(4)),
    _second_order("sigmoid_second_order", gg.sigmoid, r(4)),
    _second_order("sqrt_second_order", gg.sqrt, r(4, low=0.5)),
    _second_order("rsqrt_second_order", gg.rsqrt, r(4, low=0.5)),
    _second_order("reciprocal_second_order", gg.reciprocal, r(4, low=0.5)),
    _second_order("softplus_second_order", gg.nn.softplus, r(4)),
    _second_order("elu_second_order", gg.nn.elu, _away_from(r(4), [0])),
    _second_order("relu_times_square_second_order", lambda a: gg.nn.relu(a) * a, _away_from(r(4), [0])),
]


def _variables(resource):
    def build():
        w = gg.Variable(np.arange(6, dtype=np.float64).reshape(2, 3) / 5, name="w", use_resource=resource)
        x = ph("a", [4, 2])
        gg.global_variables_initializer()
        return gg.nn.relu(gg.matmul(x, w)) + w[0], [x, w]
    return G(f"{'resource' if resource else 'ref'}_variable_read", build, {"a": r(4, 2)}, init=True, fd=False)


VARIABLES = [_variables(False), _variables(True)]

GRAD_CASES = MATH + MATMUL + REDUCTIONS + NN + ARRAY + SECOND_ORDER + VARIABLES


def _build(case):
    g = gg.Graph()
    with g.as_default():
        y, xs = case.build()
        gy = gg.placeholder(y.dtype.base_dtype, None, name="grad_y")
        grads = gg.gradients(y, xs, grad_ys=gy)
    assert all(gr is not None for gr in grads), f"{case.name}: a gradient is None: {grads}"
    return g, y, xs, gy, grads


def _feeds(g, case):
    return {g.get_tensor_by_name(k + ":0"): v for k, v in case.feeds.items()}


def _run(g, fetches, feeds, case):
    with gg.Session(graph=g) as sess:
        if case.init:
            sess.run(g.get_operation_by_name("init"))
        return sess.run(fetches, feeds)


def _finite_differences(case, g, y, xs, gy_value):
    numeric = []
    with gg.Session(graph=g) as sess:
        for x in xs:
            base = case.feeds[x.op.name]
            grad = np.zeros(base.shape, np.float64)
            for idx in np.ndindex(*base.shape):
                vals = []
                for sign in (1, -1):
                    v = base.copy()
                    v[idx] += sign * case.eps
                    feeds = dict(_feeds(g, case))
                    feeds[x] = v
                    vals.append(np.sum(np.asarray(sess.run(y, feeds), np.float64) * gy_value))
                grad[idx] = (vals[0] - vals[1]) / (2 * case.eps)
            numeric.append(grad)
    return numeric


@pytest.mark.tf
@pytest.mark.parametrize("case", GRAD_CASES, ids=repr)
def test_gradient(case):
    g, y, xs, gy, grads = _build(case)
    feeds = _feeds(g, case)
    y_value = np.asarray(_run(g, y, feeds, case))
    gy_value = rng.standard_normal(y_value.shape).astype(y_value.dtype)
    feeds[gy] = gy_value
    ours = _run(g, grads, feeds, case)
    for x, gr, value in zip(xs, grads, ours):
        assert value.dtype == np.dtype(x.dtype.base_dtype.as_numpy_dtype) or x.dtype.base_dtype == gg.resource
        assert gr.shape.is_compatible_with(value.shape)
    if case.fd:
        for x, num, value in zip(xs, _finite_differences(case, g, y, xs, gy_value), ours):
            np.testing.assert_allclose(value, num, rtol=max(case.rtol, 1e-5), atol=max(case.atol, 1e-6),
                                       err_msg=f"{case.name}: d/d{x.op.name} vs finite differences")
    if case.tf:
        _check_in_tensorflow(case, g, y, xs, gy, grads, gy_value, ours)


def _check_in_tensorflow(case, g, y, xs, gy, grads, gy_value, ours):
    import tensorflow as tf
    tg = tf.Graph()
    with tg.as_default():
        tf.compat.v1.import_graph_def(tf.compat.v1.GraphDef.FromString(g.as_graph_def().SerializeToString()),
                                      name="")
        t = tg.get_tensor_by_name
        t_xs = [t(x.name) for x in xs]
        t_grads = tf.compat.v1.gradients(t(y.name), t_xs, grad_ys=t(gy.name))
        # TF's Gather gradient is IndexedSlices; ours is the dense tensor they convert to.
        t_grads = [tf.convert_to_tensor(gr) if isinstance(gr, tf.IndexedSlices) else gr for gr in t_grads]
    feeds = {k + ":0": v for k, v in case.feeds.items()}
    feeds[gy.name] = gy_value
    with tf.compat.v1.Session(graph=tg) as sess:
        if case.init:
            sess.run(tg.get_operation_by_name("init"))
        ours_in_tf = sess.run([gr.name for gr in grads], feeds)
        theirs = sess.run(t_grads, feeds)
    for x, a, b, c in zip(xs, ours, ours_in_tf, theirs):
        tol = dict(rtol=max(case.rtol, 1e-6), atol=max(case.atol, 1e-7))
        np.testing.assert_allclose(a, b, **tol, err_msg=f"{case.name}: our backward graph in TF, d/d{x.name}")
        np.testing.assert_allclose(a, c, **tol, err_msg=f"{case.name}: TF's own gradient, d/d{x.name}")
