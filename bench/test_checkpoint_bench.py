"""Checkpoint I/O in gpugraph and in TensorFlow (tensorflow-cpu), side by side on the same machine:

- ``import_meta_graph_10k``: ``import_meta_graph`` of one ~10k-node ``.meta`` file (800 dense layers
  with their variables, written by gpugraph), into a fresh graph. Target (gpugraph / TF) <= 0.25.
- ``save_128mib``: ``Saver.save`` (defaults: data, ``.meta``, ``checkpoint`` file, retention) of 8
  float32 variables of 16 MiB. Each round starts with the page cache settled (the previous round's
  files flushed), as between the saves of a training job. Target <= 0.5. A third peer,
  ``diskfloor``, writes and fsyncs the same bytes as one plain file: what the disk allows a durable
  save (TensorFlow's saves are not durable: it never fsyncs).
- ``restore_128mib``: ``Saver.restore`` of that checkpoint. Target <= 0.6.

Both sides build the same variables with their own API (initialized from zeros, then loaded with
the same random values), so the graphs, and the files they write, are alike.
"""

import os

import numpy as np
import pytest

import gpugraph as gg
import gpugraph.train
from gpugraph.framework import meta_graph
from gpugraph.ops import io_bundle
from conftest import register_target

register_target("import_meta_graph_10k", 0.25)
register_target("save_128mib", 0.5)
register_target("restore_128mib", 0.6)

_SHAPE = (1024, 4096)  # 16 MiB of float32
_N_VARS = 8


@pytest.fixture(scope="module")
def values():
    rs = np.random.RandomState(0)
    return [rs.standard_normal(_SHAPE).astype(np.float32) for _ in range(_N_VARS)]


@pytest.fixture(scope="module")
def big_meta(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("meta") / "big.meta")
    with gg.Graph().as_default():
        h = gg.placeholder(gg.float32, [None, 16], name="x")
        for i in range(800):
            with gg.variable_scope(f"layer{i}"):
                w = gg.get_variable("kernel", shape=[16, 16], initializer=gg.zeros_initializer())
                b = gg.get_variable("bias", shape=[16], initializer=gg.zeros_initializer())
                h = gg.nn.relu(gg.nn.bias_add(gg.matmul(h, w), b))
        gg.train.Saver().export_meta_graph(path)
    n = len(meta_graph.read_meta_graph_file(path).graph_def.node)
    assert n >= 10_000, n
    return path


def test_import_meta_graph_gpugraph(benchmark, big_meta):
    def run():
        with gg.Graph().as_default() as g:
            gg.train.import_meta_graph(big_meta)
        return g
    benchmark.group = "import_meta_graph_10k"
    g = benchmark(run)
    assert len(g.get_collection("variables")) == 1600


def test_import_meta_graph_tensorflow(benchmark, tensorflow, big_meta):
    tf1 = tensorflow.compat.v1

    def run():
        with tensorflow.Graph().as_default() as g:
            tf1.train.import_meta_graph(big_meta)
        return g
    benchmark.group = "import_meta_graph_10k"
    g = benchmark(run)
    assert len(g.get_collection("variables")) == 1600


@pytest.fixture(scope="module")
def gpugraph_saver(values):
    g = gg.Graph()
    with g.as_default():
        variables = [gg.Variable(gg.zeros(_SHAPE), name=f"v{i}") for i in range(_N_VARS)]
        saver = gg.train.Saver(max_to_keep=2)
        sess = gg.Session(graph=g)
        sess.run(gg.global_variables_initializer())
        for v, x in zip(variables, values):
            v.load(x, sess)
    return saver, sess, variables


@pytest.fixture(scope="module")
def tensorflow_saver(tensorflow, values):
    tf1 = tensorflow.compat.v1
    g = tensorflow.Graph()
    with g.as_default():
        variables = [tf1.Variable(tensorflow.zeros(_SHAPE), name=f"v{i}", use_resource=False)
                     for i in range(_N_VARS)]
        saver = tf1.train.Saver(max_to_keep=2)
        sess = tf1.Session(graph=g)
        sess.run(tf1.global_variables_initializer())
        for v, x in zip(variables, values):
            v.load(x, sess)
    return saver, sess, g


def _settle():
    """What a training step between two saves gives: earlier saves' files are on disk."""
    io_bundle.wait_for_pending_flushes()
    os.sync()


def _pedantic_save(benchmark, save):
    step = [0]

    def run():
        step[0] += 1
        return save(step[0])
    # Warm-up rounds reach a training job's steady state: with max_to_keep=2, retention deletes a
    # checkpoint on every save from the third on, and the file system reuses the space it frees
    # (the first saves into fresh disk space take several times longer, for both runtimes).
    return benchmark.pedantic(run, setup=_settle, rounds=15, warmup_rounds=6)


def test_save_gpugraph(benchmark, gpugraph_saver, tmp_path):
    saver, sess, _ = gpugraph_saver
    benchmark.group = "save_128mib"
    prefix = _pedantic_save(benchmark, lambda i: saver.save(sess, str(tmp_path / "model"), global_step=i))
    assert os.path.getsize(prefix + ".data-00000-of-00001") == _N_VARS * 16 << 20


def test_save_tensorflow(benchmark, tensorflow_saver, tmp_path):
    saver, sess, g = tensorflow_saver
    benchmark.group = "save_128mib"

    def save(i):
        with g.as_default():
            return saver.save(sess, str(tmp_path / "model"), global_step=i)
    prefix = _pedantic_save(benchmark, save)
    assert os.path.getsize(prefix + ".data-00000-of-00001") == _N_VARS * 16 << 20


def test_save_diskfloor(benchmark, values, tmp_path):
    """The disk's floor for a durable save, as a third peer: the same 128 MiB written into a new
    file and fsynced, keeping the two latest files as retention does, nothing else (no format,
    checksums or meta graph). ``gpugraph / diskfloor`` near 1 means the save is bound by the disk."""
    benchmark.group = "save_128mib"
    data = np.concatenate([v.reshape(-1) for v in values]).view(np.uint8)

    def write(i):
        path = tmp_path / f"raw-{i}"
        with open(path, "wb") as f:
            f.write(memoryview(data))
            f.flush()
            os.fsync(f.fileno())
        old = tmp_path / f"raw-{i - 2}"
        if old.exists():
            old.unlink()
        return str(path)
    path = _pedantic_save(benchmark, write)
    assert os.path.getsize(path) == _N_VARS * 16 << 20


def test_restore_gpugraph(benchmark, gpugraph_saver, values, tmp_path):
    saver, sess, variables = gpugraph_saver
    prefix = saver.save(sess, str(tmp_path / "model"))
    _settle()
    benchmark.group = "restore_128mib"
    benchmark(saver.restore, sess, prefix)
    assert sess.run(variables[3].value()).tobytes() == values[3].tobytes()


def test_restore_tensorflow(benchmark, tensorflow_saver, values, tmp_path):
    saver, sess, g = tensorflow_saver
    with g.as_default():
        prefix = saver.save(sess, str(tmp_path / "model"))
    _settle()
    benchmark.group = "restore_128mib"

    def restore():
        with g.as_default():
            saver.restore(sess, prefix)
    benchmark(restore)
    assert sess.run("v3:0").tobytes() == values[3].tobytes()
