"""State ops: ref variables (VariableV2, Assign, AssignAdd, AssignSub, IsVariableInitialized) and
resource variables (VarHandleOp, ReadVariableOp, AssignVariableOp, AssignAdd/SubVariableOp,
VarIsInitializedOp, DestroyResourceOp) — conformance with TensorFlow and kernel semantics."""

import numpy as np
import pytest
from conformance import Case, check

import gpugraph as tf
from gpugraph.framework.op_builder import apply_op

rng = np.random.default_rng(0)


def _var(value, name="v", **kw):
    v = tf.Variable(value, name=name, **kw)
    tf.global_variables_initializer()
    return v


def _assign_case(dtype):
    def build():
        v = _var(np.arange(6).reshape(2, 3).astype(dtype))
        return tf.assign(v, np.full((2, 3), 7, dtype))
    return build


def _accumulate(op, dtype):
    def build():
        v = _var(np.arange(6).reshape(2, 3).astype(dtype))
        delta = np.array([[1, 2, 3], [4, 5, 6]], dtype)
        return op(v, delta)
    return build


def _resource(value, name="r"):
    r = tf.Variable(value, name=name, use_resource=True)
    tf.global_variables_initializer()
    return r


CASES = [
    Case(f"assign_{np.dtype(dt).name}", _assign_case(dt), init=["init"])
    for dt in (np.float32, np.float64, np.int32, np.int64, np.float16)
] + [
    Case(f"assign_add_{np.dtype(dt).name}_twice", _accumulate(tf.assign_add, dt), init=["init"], runs=2)
    for dt in (np.float32, np.float64, np.int32, np.int64, np.float16, np.complex64)
] + [
    Case(f"assign_sub_{np.dtype(dt).name}_twice", _accumulate(tf.assign_sub, dt), init=["init"], runs=2)
    for dt in (np.float32, np.int32, np.int64, np.float64)
] + [
    Case("variable_read_snapshot_bool", lambda: _var(np.array([True, False]), "flags").value(),
         init=["init"]),
    Case("variable_scalar_float", lambda: _var(3.5, "s").value(), init=["init"]),
    Case("assign_validate_shape_false_changes_shape",
         lambda: tf.assign(_var(np.zeros([2], np.float32)), np.ones([3, 2], np.float32),
                           validate_shape=False), init=["init"]),
    Case("assign_use_locking_false",
         lambda: tf.assign(_var(np.zeros([4], np.int32)), [1, 2, 3, 4], use_locking=False),
         init=["init"]),
    Case("is_variable_initialized_before_init",
         lambda: tf.is_variable_initialized(tf.Variable([1.0], name="u"))),
    Case("is_variable_initialized_after_init",
         lambda: tf.is_variable_initialized(_var([1.0, 2.0])), init=["init"]),
    Case("resource_read_float64", lambda: _resource(rng.standard_normal((3, 2))).value(), init=["init"]),
    Case("resource_assign_int32",
         lambda: tf.convert_to_tensor(_resource(np.arange(4, dtype=np.int32)).assign([4, 3, 2, 1])),
         init=["init"]),
    Case("resource_assign_add_twice_float32",
         lambda: tf.convert_to_tensor(
             _resource(np.ones((2, 2), np.float32)).assign_add(np.full((2, 2), 0.5, np.float32))),
         init=["init"], runs=2),
    Case("resource_assign_sub_twice_int64",
         lambda: tf.convert_to_tensor(
             _resource(np.arange(3, dtype=np.int64)).assign_sub(np.array([1, 1, 1], np.int64))),
         init=["init"], runs=2),
    Case("resource_is_initialized_before_init",
         lambda: _resource(np.zeros([2], np.float32)).is_initialized()),
    Case("resource_is_initialized_after_init",
         lambda: _resource(np.zeros([2], np.float32)).is_initialized(), init=["init"]),
]


def _destroy_case():
    r = _resource(np.zeros([2], np.float32))
    apply_op("DestroyResourceOp", resource=r.handle, name="destroy")
    return r.is_initialized()


CASES.append(Case("destroy_resource_then_is_initialized", _destroy_case, init=["init", "destroy"]))


@pytest.mark.tf
@pytest.mark.parametrize("case", CASES, ids=repr)
def test_conformance(case):
    check(case)


# -- kernel semantics ---------------------------------------------------------------------------
def test_snapshot_read_before_assign_keeps_old_value():
    with tf.Graph().as_default():
        v = tf.Variable([1.0, 2.0], name="v")
        read = tf.identity(v)
        with tf.control_dependencies([read]):
            update = tf.assign(v, [10.0, 20.0])
        with tf.Session() as sess:
            sess.run(v.initializer)
            old, new = sess.run([read, update])
            np.testing.assert_array_equal(old, [1.0, 2.0])
            np.testing.assert_array_equal(new, [10.0, 20.0])
            np.testing.assert_array_equal(sess.run(v), [10.0, 20.0])


def test_assign_add_accumulates_and_never_mutates_fetched_arrays():
    with tf.Graph().as_default():
        v = tf.Variable(np.zeros(3, np.float32), name="acc")
        inc = tf.assign_add(v, [1.0, 2.0, 3.0])
        with tf.Session() as sess:
            sess.run(v.initializer)
            first = sess.run(inc)
            second = sess.run(inc)
            np.testing.assert_array_equal(first, [1, 2, 3])
            np.testing.assert_array_equal(second, [2, 4, 6])
            first[:] = 100  # a fetched value is the caller's own copy
            np.testing.assert_array_equal(sess.run(v), [2, 4, 6])


def test_uninitialized_read_names_the_variable():
    with tf.Graph().as_default():
        v = tf.Variable([1.0], name="weights")
        y = v * 2.0
        with tf.Session() as sess:
            with pytest.raises(tf.errors.FailedPreconditionError,
                               match="Attempting to use uninitialized value weights"):
                sess.run(y)
            with pytest.raises(tf.errors.FailedPreconditionError, match="uninitialized value weights"):
                sess.run(tf.assign_add(v, [1.0]))


def test_assign_validate_shape_errors_at_build_and_run_time():
    with tf.Graph().as_default():
        v = tf.Variable(np.zeros([2, 3], np.float32), name="w")
        with pytest.raises(ValueError, match=r"\(2, 3\)|2, 3"):
            tf.assign(v, np.zeros([3, 2], np.float32))
        # A value of unknown static shape passes the build check and fails in the kernel.
        x = tf.placeholder(tf.float32, None, name="x")
        a = tf.assign(v, x)
        with tf.Session() as sess:
            with pytest.raises(tf.errors.InvalidArgumentError) as info:
                sess.run(a, {x: np.zeros([3, 2], np.float32)})
            msg = str(info.value)
            assert "lhs shape= [2,3] rhs shape= [3,2]" in msg and "variable 'w'" in msg, msg
            sess.run(a, {x: np.ones([2, 3], np.float32)})
            np.testing.assert_array_equal(sess.run(v), np.ones([2, 3]))


def test_assign_add_shape_mismatch_is_invalid_argument():
    with tf.Graph().as_default():
        v = tf.Variable(np.zeros([2], np.float32), name="w")
        x = tf.placeholder(tf.float32, None)
        with tf.Session() as sess:
            sess.run(v.initializer)
            with pytest.raises(tf.errors.InvalidArgumentError, match=r"shape \[2\].*shape \[3\]"):
                sess.run(tf.assign_add(v, x), {x: [1.0, 2.0, 3.0]})


def test_assign_to_non_variable_is_a_type_error():
    with tf.Graph().as_default():
        c = tf.constant([1.0])
        with pytest.raises((TypeError, AttributeError)):
            tf.assign(c, [2.0])


def test_assign_dtype_mismatch_is_a_type_error():
    with tf.Graph().as_default():
        v = tf.Variable([1, 2], name="ints")
        with pytest.raises(TypeError):
            tf.assign(v, [1.5, 2.5])


def test_assign_add_rejects_bool_variables():
    with tf.Graph().as_default():
        v = tf.Variable([True], name="flag")
        with pytest.raises(TypeError, match="AssignAdd"):
            tf.assign_add(v, [True])


def test_shared_name_shares_the_cell():
    with tf.Graph().as_default():
        a = tf.Variable([1.0], name="a")
        b = apply_op("VariableV2", shape=tf.TensorShape([1]), dtype=tf.float32, shared_name="a", name="b")
        read_b = tf.identity(b)
        with tf.Session() as sess:
            sess.run(a.initializer)
            np.testing.assert_array_equal(sess.run(read_b), [1.0])


def test_variables_are_per_session():
    with tf.Graph().as_default():
        v = tf.Variable([1.0], name="v")
        inc = tf.assign_add(v, [1.0])
        s1, s2 = tf.Session(), tf.Session()
        s1.run(v.initializer)
        s2.run(v.initializer)
        s1.run(inc)
        assert s1.run(v)[0] == 2.0 and s2.run(v)[0] == 1.0
        s1.close()
        s2.close()


def test_static_shapes():
    with tf.Graph().as_default():
        v = tf.Variable(np.zeros([2, 3], np.float32), name="v")
        assert v._ref().shape.as_list() == [2, 3]
        assert tf.assign(v, np.ones([2, 3], np.float32)).shape.as_list() == [2, 3]
        x = tf.placeholder(tf.float32, [None, 3])
        assert tf.assign(v, x, validate_shape=False).shape.as_list() == [None, 3]
        assert tf.assign(v, x).shape.as_list() == [2, 3]
        assert tf.is_variable_initialized(v).shape.as_list() == []
        r = tf.Variable(np.zeros([4], np.int64), name="r", use_resource=True)
        assert r.handle.shape.as_list() == [] and r.handle.dtype == tf.resource
        assert r.value().shape.as_list() == [4] and r.value().dtype == tf.int64


def test_resource_read_uninitialized_is_failed_precondition():
    with tf.Graph().as_default():
        r = tf.Variable([1.0, 2.0], name="res", use_resource=True)
        with tf.Session() as sess:
            with pytest.raises(tf.errors.FailedPreconditionError, match="Could not find variable res"):
                sess.run(r.value())
            with pytest.raises(tf.errors.FailedPreconditionError, match="res"):
                sess.run(r.assign_add([1.0, 1.0]))
            assert not sess.run(r.is_initialized())
            sess.run(r.initializer)
            assert sess.run(r.is_initialized())


def test_resource_assign_validate_shape_and_dtype():
    with tf.Graph().as_default():
        r = tf.Variable(np.zeros([2], np.float32), name="res", use_resource=True)
        x = tf.placeholder(tf.float32, None)
        strict = apply_op("AssignVariableOp", resource=r.handle, value=x, validate_shape=True)
        loose = apply_op("AssignVariableOp", resource=r.handle, value=x)
        with tf.Session() as sess:
            sess.run(r.initializer)
            with pytest.raises(tf.errors.InvalidArgumentError, match=r"Expected \[2\] got \[3\]"):
                sess.run(strict, {x: [1.0, 2.0, 3.0]})
            sess.run(loose, {x: [1.0, 2.0, 3.0]})  # validate_shape=False: the variable takes the shape
            np.testing.assert_array_equal(sess.run(r.read_value()), [1.0, 2.0, 3.0])
            wrong = apply_op("AssignVariableOp", resource=r.handle, value=tf.constant([1, 2]))
            with pytest.raises(tf.errors.InvalidArgumentError, match="wrong dtype"):
                sess.run(wrong)


def test_resource_assign_build_time_shape_check():
    with tf.Graph().as_default():
        r = tf.Variable(np.zeros([2], np.float32), name="res", use_resource=True)
        with pytest.raises(ValueError, match="Shape mismatch"):
            r.assign([1.0, 2.0, 3.0])


def test_destroy_resource_then_lookup_error():
    with tf.Graph().as_default():
        r = tf.Variable([1.0], name="res", use_resource=True)
        strict = apply_op("DestroyResourceOp", resource=r.handle, ignore_lookup_error=False)
        with tf.Session() as sess:
            sess.run(r.initializer)
            sess.run(strict)
            with pytest.raises(tf.errors.NotFoundError, match="res"):
                sess.run(strict)
            with pytest.raises(tf.errors.FailedPreconditionError):
                sess.run(r.value())


def test_resource_reads_ordered_by_control_dependencies():
    with tf.Graph().as_default():
        r = tf.Variable([1.0], name="res", use_resource=True)
        before = r.value()
        with tf.control_dependencies([before]):
            upd = r.assign([5.0])
        with tf.Session() as sess:
            sess.run(r.initializer)
            old, new = sess.run([before, upd])
            assert old[0] == 1.0 and new[0] == 5.0
