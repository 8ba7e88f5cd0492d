"""Conformance tests for the optimizer update ops (gpugraph/ops/training_ops.py): ref ``Apply*`` and
``ResourceApply*`` forms, several steps each, run in gpugraph and in TensorFlow from the same GraphDef."""

import numpy as np
import pytest

import gpugraph as gg
from gpugraph.framework.op_builder import apply_op
from conformance import Case, build_graph, check, ph, run_gpugraph

rng = np.random.default_rng(3)

# op: (slot names, scalar inputs in TF order with the gradient marked None, scalar values)
SPECS = {
    "GradientDescent": (["var"], {"alpha": 0.1, "delta": None}),
    "Momentum": (["var", "accum"], {"lr": 0.05, "grad": None, "momentum": 0.9}),
    "Adam": (["var", "m", "v"], {"beta1_power": 0.9, "beta2_power": 0.999, "lr": 0.01, "beta1": 0.9,
                                 "beta2": 0.999, "epsilon": 1e-7, "grad": None}),
    "Adagrad": (["var", "accum"], {"lr": 0.1, "grad": None}),
    "RMSProp": (["var", "ms", "mom"], {"lr": 0.01, "rho": 0.9, "momentum": 0.5, "epsilon": 1e-6, "grad": None}),
    "CenteredRMSProp": (["var", "mg", "ms", "mom"], {"lr": 0.01, "rho": 0.9, "momentum": 0.5, "epsilon": 1e-6,
                                                     "grad": None}),
}


def _initial(slot, shape, dtype):
    if slot in ("accum", "ms", "v"):  # accumulators of squares start positive
        return (rng.random(shape) + 0.5).astype(dtype)
    if slot == "mg":
        return (rng.random(shape) * 0.1).astype(dtype)
    return rng.standard_normal(shape).astype(dtype)


def _case(name, resource, dtype=np.float32, shape=(3, 4), runs=3, **attrs):
    slots, inputs = SPECS[name]
    gg_dtype = gg.as_dtype(dtype)
    values = {s: _initial(s, shape, dtype) for s in slots}

    def build():
        variables = {s: gg.Variable(values[s], name=s, use_resource=resource) for s in slots}
        kwargs = {}
        for key, value in inputs.items():
            kwargs[key] = ph("g", gg_dtype, list(shape)) if value is None else gg.constant(value, gg_dtype)
        gg.global_variables_initializer()
        if resource:
            update = apply_op(f"ResourceApply{name}", **{s: v.handle for s, v in variables.items()}, **kwargs,
                              **attrs)
            with gg.control_dependencies([update]):
                return [apply_op("ReadVariableOp", resource=v.handle, dtype=gg_dtype) for v in variables.values()]
        # Only the update's output: a snapshot read of a slot in the same run is unordered w.r.t. the
        # update (in TensorFlow too); the slots' values show in the next steps' results.
        return apply_op(f"Apply{name}", **variables, **kwargs, **attrs)

    label = "_".join(f"{k}{v}" for k, v in attrs.items() if k != "use_locking")
    return Case(f"{'Resource' if resource else ''}Apply{name}_{np.dtype(dtype).name}{'_' + label if label else ''}",
                build, feeds={"g": rng.standard_normal(shape).astype(dtype)}, init=["init"], runs=runs,
                rtol=2e-2 if dtype == np.float16 else 1e-5, atol=2e-2 if dtype == np.float16 else 1e-6)


CASES = [
    _case("GradientDescent", False), _case("GradientDescent", True, np.float64, shape=(5,)),
    _case("GradientDescent", False, np.float16, shape=(2, 2)),
    _case("Momentum", False), _case("Momentum", False, use_nesterov=True),
    _case("Momentum", True, np.float64, use_nesterov=True), _case("Momentum", True),
    _case("Adam", False), _case("Adam", False, np.float64, use_nesterov=True), _case("Adam", True),
    _case("Adam", True, use_nesterov=True), _case("Adam", False, np.float16, shape=(3,)),
    _case("Adagrad", False), _case("Adagrad", False, update_slots=False), _case("Adagrad", True, np.float64),
    _case("RMSProp", False), _case("RMSProp", True, np.float64),
    _case("CenteredRMSProp", False), _case("CenteredRMSProp", True, np.float64),
]


@pytest.mark.tf
@pytest.mark.parametrize("case", CASES, ids=repr)
def test_conformance(case):
    check(case)


def test_adam_step_matches_formula():
    """One ApplyAdam step against the textbook formula, computed in float64."""
    var, m, v, g = (rng.standard_normal(4) for _ in range(4))
    v = np.abs(v)
    b1p, b2p, lr, b1, b2, eps = 0.9 ** 3, 0.999 ** 3, 0.01, 0.9, 0.999, 1e-8

    def build():
        vs = [gg.Variable(a, name=n) for a, n in ((var, "var"), (m, "m"), (v, "v"))]
        gg.global_variables_initializer()
        return apply_op("ApplyAdam", var=vs[0], m=vs[1], v=vs[2], beta1_power=b1p, beta2_power=b2p, lr=lr,
                        beta1=b1, beta2=b2, epsilon=eps, grad=gg.constant(g))
    case = Case("adam", build, init=["init"])
    out = run_gpugraph(*build_graph(case), case)[0]
    m_t = b1 * m + (1 - b1) * g
    v_t = b2 * v + (1 - b2) * g * g
    expected = var - lr * np.sqrt(1 - b2p) / (1 - b1p) * m_t / (np.sqrt(v_t) + eps)
    np.testing.assert_allclose(out, expected, rtol=1e-12)


def _fails(build, error, match, init=True):
    case = Case("bad", build, init=["init"] if init else [])
    g, fetches = build_graph(case)
    with pytest.raises(error, match=match):
        run_gpugraph(g, fetches, case)


def test_bad_inputs():
    def uninitialized():
        v = gg.Variable(np.zeros(3, np.float32), name="w")
        return apply_op("ApplyGradientDescent", var=v, alpha=0.1, delta=gg.constant(np.ones(3, np.float32)))
    _fails(uninitialized, gg.errors.FailedPreconditionError, "uninitialized value w", init=False)

    def wrong_grad_shape():
        v = gg.Variable(np.zeros(3, np.float32), name="w")
        gg.global_variables_initializer()
        return apply_op("ApplyGradientDescent", var=v, alpha=0.1, delta=ph("g", gg.float32, None))
    case = Case("bad", wrong_grad_shape, init=["init"], feeds={"g": np.ones(4, np.float32)})
    g, fetches = build_graph(case)
    with pytest.raises(gg.errors.InvalidArgumentError, match="var and grad do not have the same shape"):
        run_gpugraph(g, fetches, case)

    def resource_missing():
        v = gg.Variable(np.zeros(3, np.float32), name="r", use_resource=True)
        update = apply_op("ResourceApplyGradientDescent", var=v.handle, alpha=0.1, delta=np.ones(3, np.float32))
        with gg.control_dependencies([update]):
            return gg.identity(gg.constant(1.0))
    _fails(resource_missing, gg.errors.FailedPreconditionError, "Could not find variable r", init=False)

    with gg.Graph().as_default():
        v = gg.Variable(np.zeros(3, np.float32))
        with pytest.raises(ValueError, match="alpha must be a scalar"):
            apply_op("ApplyGradientDescent", var=v, alpha=[0.1, 0.2], delta=np.ones(3, np.float32))
        with pytest.raises(ValueError, match="var and grad"):
            apply_op("ApplyGradientDescent", var=v, alpha=0.1, delta=np.ones(2, np.float32))
        with pytest.raises(TypeError, match="must be a reference"):
            apply_op("ApplyGradientDescent", var=gg.constant([1.0]), alpha=0.1, delta=[1.0])
