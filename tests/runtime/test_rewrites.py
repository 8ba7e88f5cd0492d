"""A session's plan rewrites follow its ConfigProto's ``graph_options.rewrite_options`` (TensorFlow's
RewriterConfig) and the environment switches (gpugraph/runtime/rewrites.py)."""

import numpy as np
import pytest

import gpugraph as gg
from gpugraph.protos import config_pb2, rewriter_config_pb2
from gpugraph.runtime import rewrites
from gpugraph.runtime.rewrites import PlanRewrites

RC = rewriter_config_pb2.RewriterConfig
ENV_VARS = (rewrites.FUSION_ENV, rewrites.GROUPED_UPDATES_ENV, rewrites.CUDA_GRAPHS_ENV)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for var in ENV_VARS:
        monkeypatch.delenv(var, raising=False)


def _config(**rewrite_options):
    config = gg.ConfigProto()
    for field, value in rewrite_options.items():
        if field == "optimizers":
            config.graph_options.rewrite_options.optimizers.extend(value)
        else:
            setattr(config.graph_options.rewrite_options, field, value)
    return config


ALL_ON = PlanRewrites(fusion=True, dead_steps=True, grouped_updates=True, cuda_graphs=True)


@pytest.mark.parametrize("options,expected", [
    ({}, ALL_ON),
    (dict(remapping=RC.ON, dependency_optimization=RC.AGGRESSIVE), ALL_ON),
    (dict(constant_folding=RC.OFF, arithmetic_optimization=RC.OFF), ALL_ON),  # not ours to honour
    (dict(remapping=RC.OFF), PlanRewrites(fusion=False)),
    (dict(dependency_optimization=RC.OFF), PlanRewrites(dead_steps=False)),
    (dict(disable_meta_optimizer=True, remapping=RC.ON),
     PlanRewrites(fusion=False, dead_steps=False, grouped_updates=False, cuda_graphs=True)),
    (dict(optimizers=["constfold", "remap"]), PlanRewrites(dead_steps=False)),
    (dict(optimizers=["dependency"]), PlanRewrites(fusion=False)),
], ids=["default", "on", "other-toggles", "remapping-off", "dependency-off", "meta-off",
        "list-remap", "list-dependency"])
def test_rewrite_options_choose_the_rewrites(options, expected):
    assert PlanRewrites.from_config(_config(**options)) == expected


def test_no_config_or_an_empty_one_is_everything_on():
    assert PlanRewrites.from_config(None) == ALL_ON
    assert PlanRewrites.from_config(gg.ConfigProto(allow_soft_placement=True)) == ALL_ON


@pytest.mark.parametrize("word", ["0", "false", "OFF", " no "])
def test_environment_turns_a_rewrite_off_whatever_the_config_says(monkeypatch, word):
    monkeypatch.setenv(rewrites.FUSION_ENV, word)
    monkeypatch.setenv(rewrites.GROUPED_UPDATES_ENV, word)
    monkeypatch.setenv(rewrites.CUDA_GRAPHS_ENV, word)
    got = PlanRewrites.from_config(_config(remapping=RC.ON))
    assert got == PlanRewrites(fusion=False, grouped_updates=False, cuda_graphs=False)


def test_environment_values_other_than_off_words_leave_it_on(monkeypatch):
    monkeypatch.setenv(rewrites.FUSION_ENV, "1")
    monkeypatch.setenv(rewrites.CUDA_GRAPHS_ENV, "yes")
    assert PlanRewrites.from_config(None) == ALL_ON


@pytest.mark.tf
def test_a_tensorflow_written_config_is_read_the_same():
    """The bytes of TF's own ConfigProto (as a TF1 script builds it) give the same choice here."""
    from tensorflow.core.protobuf import config_pb2 as tf_config_pb2
    from tensorflow.core.protobuf import rewriter_config_pb2 as tf_rewriter_config_pb2
    tf_config = tf_config_pb2.ConfigProto()
    tf_config.graph_options.rewrite_options.remapping = tf_rewriter_config_pb2.RewriterConfig.OFF
    tf_config.graph_options.rewrite_options.dependency_optimization = \
        tf_rewriter_config_pb2.RewriterConfig.OFF
    config = config_pb2.ConfigProto.FromString(tf_config.SerializeToString())
    assert PlanRewrites.from_config(config) == PlanRewrites(fusion=False, dead_steps=False)
    assert config.SerializeToString() == tf_config.SerializeToString()


# -- sessions honour it ----------------------------------------------------------------------------
def _step_types(sess):
    return [op.type for plan in sess._plans.values() for op in plan.step_ops]


def _step_names(sess):
    return {op.name for plan in sess._plans.values() for op in plan.step_ops}


def test_remapping_off_keeps_conv_bias_relu_as_three_steps_with_the_same_values():
    rng = np.random.default_rng(3)
    g = gg.Graph()
    with g.as_default():
        x = gg.placeholder(gg.float32, [2, 6, 6, 3], name="x")
        w = gg.constant(rng.standard_normal((3, 3, 3, 4)).astype(np.float32))
        b = gg.constant(rng.standard_normal(4).astype(np.float32))
        y = gg.nn.relu(gg.nn.bias_add(gg.nn.conv2d(x, w, [1, 1, 1, 1], "SAME"), b))
    feed = {x: rng.standard_normal((2, 6, 6, 3)).astype(np.float32)}
    results = {}
    for name, config in [("default", None), ("off", _config(remapping=RC.OFF))]:
        with gg.Session(graph=g, config=config) as sess:
            results[name] = (sess.run(y, feed), _step_types(sess))
    assert results["default"][1] == ["Relu"]  # one step, named by its last op
    assert results["off"][1] == ["Conv2D", "BiasAdd", "Relu"]
    np.testing.assert_array_equal(results["default"][0], results["off"][0])


def test_dependency_optimization_off_runs_steps_only_control_edges_keep():
    g = gg.Graph()
    with g.as_default():
        x = gg.placeholder(gg.float32, [2, 3], name="x")
        unused = gg.square(x, name="unused_square")
        with gg.control_dependencies([unused]):
            y = gg.identity(x * 2.0, name="y")
    feed = {x: np.ones((2, 3), np.float32)}
    with gg.Session(graph=g) as sess:
        sess.run(y, feed)
        assert "unused_square" not in _step_names(sess)
    with gg.Session(graph=g, config=_config(dependency_optimization=RC.OFF)) as sess:
        np.testing.assert_array_equal(sess.run(y, feed), 2 * np.ones((2, 3)))
        assert "unused_square" in _step_names(sess)


def test_disable_meta_optimizer_keeps_one_step_per_optimizer_update():
    g = gg.Graph()
    with g.as_default():
        x = gg.placeholder(gg.float32, [4, 3], name="x")
        w = gg.Variable(np.ones((3, 2), np.float32), name="w")
        b = gg.Variable(np.zeros(2, np.float32), name="b")
        loss = gg.reduce_sum(gg.square(gg.matmul(x, w) + b))
        train = gg.train.GradientDescentOptimizer(0.01).minimize(loss)
        init = gg.global_variables_initializer()
    feed = {x: np.arange(12, dtype=np.float32).reshape(4, 3) / 10}
    values = {}
    for name, config in [("default", None), ("off", _config(disable_meta_optimizer=True))]:
        with gg.Session(graph=g, config=config) as sess:
            sess.run(init)
            for _ in range(3):
                sess.run(train, feed)
            updates = [t for t in _step_types(sess) if t.startswith("Apply")]
            values[name] = (sess.run([w, b]), updates)
    assert values["off"][1] == ["ApplyGradientDescent"] * 2
    assert len(values["default"][1]) == 1  # one grouped step
    for a, b_ in zip(values["default"][0], values["off"][0]):
        np.testing.assert_array_equal(a, b_)
