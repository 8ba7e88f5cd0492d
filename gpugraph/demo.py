"""The end-to-end demo behind ``make demo``: build, train, save, resume in a new process, serve.

Run it with ``python -m gpugraph.demo``. Everything is written under ``--workdir`` (default
``demo-output/``); it runs on a GPU when one is present and on the CPU (NumPy) otherwise.

1. **build** a TF1-style MLP classifier for two interleaved spirals (placeholders, get_variable,
   sparse softmax cross-entropy, Adam, a global step), exactly as a TF1 script would with
   ``import gpugraph as tf``;
2. **train** it, saving a checkpoint every N steps with ``Saver.save(..., global_step=step)``;
3. **resume** in a fresh Python process: ``import_meta_graph`` + ``restore`` +
   ``get_collection('train_op')[0]``, and keep training from the saved step;
4. **serve**: export a SavedModel, start ``gpugraph serve`` (TF Serving's REST API) on 127.0.0.1,
   and classify points with an HTTP predict request.
"""

import argparse
import json
import pathlib
import socket
import subprocess
import sys
import time
import urllib.request

import numpy as np

import gpugraph as tf

HIDDEN = 64


def make_spirals(n, rng):
    """Two interleaved spirals: ``n`` points each, labels 0/1, features in about [-1, 1]."""
    t = np.sqrt(rng.uniform(0.05, 1.0, n)) * 3 * np.pi
    arm = np.stack([t * np.cos(t), t * np.sin(t)], axis=1) / (3 * np.pi)
    x = np.concatenate([arm, -arm]) + rng.normal(0, 0.02, (2 * n, 2))
    y = np.concatenate([np.zeros(n), np.ones(n)]).astype(np.int64)
    order = rng.permutation(2 * n)
    return x[order].astype(np.float32), y[order]


def build_model(learning_rate=0.01, seed=0):
    """The training graph; its handles are also put in collections so a restored graph finds them."""
    tf.set_random_seed(seed)
    x = tf.placeholder(tf.float32, [None, 2], name="x")
    labels = tf.placeholder(tf.int64, [None], name="labels")
    h = x
    for i in range(2):
        with tf.variable_scope(f"hidden{i}"):
            w = tf.get_variable("kernel", [h.shape[1].value, HIDDEN])
            b = tf.get_variable("bias", [HIDDEN], initializer=tf.zeros_initializer())
            h = tf.nn.relu(tf.nn.bias_add(tf.matmul(h, w), b))
    with tf.variable_scope("logits"):
        w = tf.get_variable("kernel", [HIDDEN, 2])
        b = tf.get_variable("bias", [2], initializer=tf.zeros_initializer())
        logits = tf.nn.bias_add(tf.matmul(h, w), b)
    probs = tf.nn.softmax(logits, name="probs")
    loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits),
                          name="loss")
    accuracy = tf.reduce_mean(tf.cast(tf.equal(tf.argmax(logits, 1), labels), tf.float32), name="accuracy")
    global_step = tf.train.get_or_create_global_step()
    train_op = tf.train.AdamOptimizer(learning_rate).minimize(loss, global_step=global_step)
    for name, t in (("train_op", train_op), ("loss", loss), ("accuracy", accuracy), ("probs", probs)):
        tf.add_to_collection(name, t)
    return train_op


def _train(sess, graph, steps, save_every, saver, prefix, data):
    x, labels = graph.get_tensor_by_name("x:0"), graph.get_tensor_by_name("labels:0")
    train_op = tf.get_collection("train_op")[0]
    loss = tf.get_collection("loss")[0]
    global_step = tf.train.get_global_step()
    feed = {x: data[0], labels: data[1]}
    for _ in range(steps):
        _, step, train_loss = sess.run([train_op, global_step, loss], feed)
        if step % save_every == 0:
            path = saver.save(sess, prefix, global_step=step)
            print(f"  step {step:4d}  loss {train_loss:.4f}  saved {pathlib.Path(path).name}")
    return step


def stage_train(workdir, steps, save_every, data):
    graph = tf.Graph()
    with graph.as_default():
        build_model()
        saver = tf.train.Saver(max_to_keep=3)
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            print(f"[train] {len(graph.get_operations())} ops; training {steps} steps")
            _train(sess, graph, steps, save_every, saver, str(workdir / "model"), data)


def stage_resume(workdir, steps, save_every, data, test):
    """Runs in a fresh process: nothing of the model is defined here, it all comes from the files."""
    latest = tf.train.latest_checkpoint(str(workdir))
    print(f"[resume] new process {__import__('os').getpid()}: restoring {pathlib.Path(latest).name}")
    with tf.Graph().as_default() as graph:
        saver = tf.train.import_meta_graph(latest + ".meta")
        with tf.Session() as sess:
            saver.restore(sess, latest)
            start = sess.run(tf.train.get_global_step())
            print(f"[resume] continuing from step {start}")
            _train(sess, graph, steps, save_every, saver, str(workdir / "model"), data)
            x = graph.get_tensor_by_name("x:0")
            accuracy = tf.get_collection("accuracy")[0]
            acc = sess.run(accuracy, {x: test[0], graph.get_tensor_by_name("labels:0"): test[1]})
            print(f"[resume] held-out accuracy {acc:.1%}")
            export_dir = workdir / "serving" / "demo" / "1"
            if export_dir.exists():
                import shutil
                shutil.rmtree(export_dir)
            tf.saved_model.simple_save(sess, str(export_dir), inputs={"x": x},
                                       outputs={"probs": tf.get_collection("probs")[0]})
            print(f"[resume] exported a SavedModel to {export_dir}")
    return acc


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stage_serve(workdir, test):
    port = _free_port()
    cmd = [sys.executable, "-m", "gpugraph.cli", "serve", "--model_name=demo",
           f"--model_base_path={workdir / 'serving' / 'demo'}", f"--rest_api_port={port}"]
    server = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}/v1/models/demo"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(base, timeout=2) as r:
                    status = json.load(r)["model_version_status"][0]
                if status["state"] == "AVAILABLE":
                    break
            except OSError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"gpugraph serve did not come up: {server.stderr.read().decode()[-2000:]}")
            time.sleep(0.2)
        print(f"[serve] gpugraph serve is up on 127.0.0.1:{port} (model 'demo', version {status['version']})")
        body = json.dumps({"instances": test[0][:4].tolist()}).encode()
        request = urllib.request.Request(base + ":predict", data=body, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as r:
            predictions = json.load(r)["predictions"]
        for point, p, label in zip(test[0][:4], predictions, test[1][:4]):
            print(f"[serve] POST :predict ({point[0]:+.2f}, {point[1]:+.2f}) -> class {int(np.argmax(p))} "
                  f"(p={max(p):.3f}, label {label})")
    finally:
        server.terminate()
        server.wait(timeout=30)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300, help="training steps in each of the two runs")
    parser.add_argument("--save-every", type=int, default=100)
    parser.add_argument("--workdir", default="demo-output")
    parser.add_argument("--stage", choices=["all", "resume"], default="all", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    workdir = pathlib.Path(args.workdir).resolve()
    rng = np.random.default_rng(0)
    data, test = make_spirals(500, rng), make_spirals(200, rng)

    if args.stage == "resume":
        acc = stage_resume(workdir, args.steps, args.save_every, data, test)
        return 0 if acc > 0.9 else 1

    workdir.mkdir(parents=True, exist_ok=True)
    for old in workdir.glob("model*"):
        old.unlink()
    (workdir / "checkpoint").unlink(missing_ok=True)
    from gpugraph.runtime import devices
    inv = devices.inventory()
    host = ", ".join(f"GPU:{d.index} {d.description}" for d in inv.gpus) if inv.gpus else \
        f"the CPU (NumPy): {inv.reason or 'no GPU'}"
    print(f"gpugraph {tf.__version__} running on {host}")
    stage_train(workdir, args.steps, args.save_every, data)
    resumed = subprocess.run([sys.executable, "-m", "gpugraph.demo", "--stage", "resume",
                              f"--steps={args.steps}", f"--save-every={args.save_every}",
                              f"--workdir={workdir}"])
    if resumed.returncode != 0:
        print("[resume] failed", file=sys.stderr)
        return resumed.returncode
    stage_serve(workdir, test)
    print(f"done: checkpoints, meta graphs and the SavedModel are in {workdir}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
