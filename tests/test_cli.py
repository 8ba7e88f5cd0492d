"""The ``gpugraph`` command: inspect (.meta, .pb, .pbtxt, SavedModel directories, --json, graphs with
unsupported ops), checkpoint (listing, --export to .npz and .safetensors read back), run (SavedModels and
graphs, .npy/.npz/JSON feeds) and serve's startup errors."""

import json
import os
import shutil
import subprocess
import sys

import ml_dtypes
import numpy as np
import pytest

import gpugraph as gg
from gpugraph import cli
from gpugraph.protos import graph_pb2
from gpugraph.train import bundle

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "tf_saved_models")
EXPECTED = np.load(os.path.join(DATA, "expected.npz"))


def run_cli(capsys, *argv):
    """(exit status, stdout, stderr) of ``gpugraph argv...`` run in this process."""
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def run_subprocess(*argv, timeout=120):
    proc = subprocess.run([sys.executable, "-m", "gpugraph.cli", *[str(a) for a in argv]], capture_output=True,
                          text=True, timeout=timeout)
    return proc.returncode, proc.stdout, proc.stderr


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A gpugraph graph with variables saved by a Saver (.meta + checkpoint), and the same graph as
    binary and text GraphDefs."""
    d = tmp_path_factory.mktemp("trained")
    rs = np.random.RandomState(2)
    with gg.Graph().as_default() as g:
        x = gg.placeholder(gg.float32, [None, 3], name="x")
        with gg.device("/cpu:0"):
            w = gg.get_variable("w", initializer=rs.standard_normal((3, 2)).astype(np.float32), use_resource=False)
        b = gg.get_variable("b", initializer=rs.standard_normal(2).astype(np.float32), use_resource=True)
        gg.identity(gg.matmul(x, w) + b, name="y")
        gg.add_to_collection("notes", b"hello")
        saver = gg.train.Saver()
        with gg.Session() as sess:
            sess.run(gg.global_variables_initializer())
            prefix = saver.save(sess, str(d / "model"), global_step=3)
            values = {"w": sess.run(w), "b": sess.run(b)}
        graph_def = g.as_graph_def()
    (d / "graph.pb").write_bytes(graph_def.SerializeToString())
    from google.protobuf import text_format
    (d / "graph.pbtxt").write_text(text_format.MessageToString(graph_def))
    return {"dir": d, "prefix": prefix, "meta": prefix + ".meta", "values": values}


# -- inspect ------------------------------------------------------------------------------------------
def test_inspect_saved_model_dir(capsys):
    code, out, err = run_cli(capsys, "inspect", os.path.join(DATA, "multi"))
    assert code == 0, err
    assert out.startswith("SavedModel: ")
    assert "(tags: serve)" in out
    assert "input  x: float32 [?, 3]  (x:0)" in out
    assert "output echo_bytes: string [?]  (echo:0)" in out
    assert "saved_model_main_op: 1 (node_list)" in out
    assert "op histogram:" in out and "VarHandleOp" in out
    assert "devices requested:" in out and "placement on this host:" in out


def test_inspect_json(capsys):
    code, out, _ = run_cli(capsys, "inspect", os.path.join(DATA, "legacy"), "--json")
    assert code == 0
    report = json.loads(out)
    assert report["format"] == "SavedModel" and report["unsupported_ops"] == {}
    assert [g["tags"] for g in report["graphs"]] == [["serve", "gpu"], ["train"]]
    first = report["graphs"][0]
    assert first["signatures"]["serving_default"]["inputs"]["x"] == {"name": "x:0", "dtype": "float32",
                                                                     "shape": "[?]"}
    assert first["op_histogram"]["VariableV2"] == 1
    assert first["collections"]["legacy_init_op"] == {"kind": "node_list", "size": 1}
    assert first["placeholders"][0]["name"] == "x:0"
    devices = first["devices"]
    assert sum(devices["requested"].values()) == first["nodes"]
    assert sum(p["ops"] for p in devices["placement"]) == first["nodes"]
    assert report["variables"]["tensors"] == 1


def test_inspect_meta_pb_pbtxt(capsys, trained):
    code, out, err = run_cli(capsys, "inspect", trained["meta"])
    assert code == 0, err
    assert out.startswith("MetaGraphDef: ")
    assert "x:0: float32 [?, 3]" in out and "notes: 1 (bytes_list)" in out and "variables: 2 (bytes_list)" in out
    assert "/device:CPU:0" in out
    for name, kind in (("graph.pb", "GraphDef"), ("graph.pbtxt", "GraphDef")):
        code, out, err = run_cli(capsys, "inspect", trained["dir"] / name, "--json")
        assert code == 0, err
        report = json.loads(out)
        assert report["format"] == kind
        g = report["graphs"][0]
        assert g["op_histogram"]["MatMul"] == 1
        assert [o["name"] for o in g["outputs"]] == ["y"], g["outputs"]
        assert {"name": "y", "op": "Identity", "dtype": "float32"}.items() <= g["outputs"][0].items()
    # A SavedModel's saved_model.pb given as a file is read as a SavedModel.
    code, out, _ = run_cli(capsys, "inspect", os.path.join(DATA, "mlp", "saved_model.pb"))
    assert code == 0 and out.startswith("SavedModel: ") and "output probs: float32 [?, 4]" in out


def test_inspect_unsupported_ops_exit_status(capsys, tmp_path):
    code, out, _ = run_cli(capsys, "inspect", os.path.join(DATA, "unsupported.pbtxt"))
    assert code == cli.EXIT_UNSUPPORTED
    assert "UNSUPPORTED ops" in out and "UnicodeScript: scripts" in out
    assert "placement: not computed" in out
    # A made-up op type in a binary GraphDef, with --json.
    gd = graph_pb2.GraphDef()
    node = gd.node.add(name="mystery", op="NotARealTensorFlowOp")
    node.attr["T"].type = 1
    gd.node.add(name="x", op="Placeholder").attr["dtype"].type = 1
    node.input.append("x")
    path = tmp_path / "mystery.pb"
    path.write_bytes(gd.SerializeToString())
    code, out, _ = run_cli(capsys, "inspect", path, "--json")
    assert code == cli.EXIT_UNSUPPORTED
    assert json.loads(out)["unsupported_ops"] == {"NotARealTensorFlowOp": ["mystery"]}
    # As a real command line too (exit status seen by the shell).
    code, out, _ = run_subprocess("inspect", path)
    assert code == 2 and "NotARealTensorFlowOp" in out


def test_inspect_bad_paths(capsys, tmp_path):
    code, _, err = run_cli(capsys, "inspect", tmp_path / "missing.pb")
    assert code == 1 and "does not exist" in err
    (tmp_path / "junk.pb").write_bytes(b"\x00\x01garbage\xff" * 10)
    code, _, err = run_cli(capsys, "inspect", tmp_path / "junk.pb")
    assert code == 1 and "cannot parse" in err
    code, _, err = run_cli(capsys, "inspect", tmp_path)
    assert code == 1 and "without saved_model.pb" in err


# -- checkpoint ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def mixed_checkpoint(tmp_path_factory):
    prefix = str(tmp_path_factory.mktemp("ckpt") / "mixed")
    values = {
        "layer/kernel": np.arange(12, dtype=np.float32).reshape(3, 4) / 7,
        "layer/bias": np.array([1.5, -2.0], np.float64),
        "global_step": np.array(42, np.int64),
        "mask": np.array([True, False, True]),
        "half": np.array([0.5, -1.25], np.float16),
        "brain": np.array([1.0, 3.5, -0.125], ml_dtypes.bfloat16),
        "vocab": np.array([b"alpha", b"beta"], dtype=object),
    }
    with bundle.BundleWriter(prefix) as writer:
        for key in sorted(values):
            writer.add(key, values[key])
    return prefix, values


def test_checkpoint_listing(capsys, mixed_checkpoint):
    prefix, values = mixed_checkpoint
    code, out, err = run_cli(capsys, "checkpoint", prefix)
    assert code == 0, err
    assert f"checkpoint {prefix}: {len(values)} tensors" in out
    assert "layer/kernel  float32    [3, 4]" in out and "global_step   int64      []" in out
    code, out, _ = run_cli(capsys, "checkpoint", prefix + ".index", "--json")
    listing = {t["name"]: t for t in json.loads(out)["tensors"]}
    assert listing["brain"]["dtype"] == "bfloat16" and listing["vocab"]["shape"] == [2]


def test_checkpoint_of_directory_and_saved_model(capsys, trained):
    code, out, _ = run_cli(capsys, "checkpoint", trained["dir"])  # latest checkpoint of a training directory
    assert code == 0 and f"checkpoint {trained['prefix']}: 2 tensors" in out
    code, out, _ = run_cli(capsys, "checkpoint", os.path.join(DATA, "mlp"))  # a SavedModel's variables
    assert code == 0 and "dense1/kernel" in out
    code, _, err = run_cli(capsys, "checkpoint", trained["dir"] / "nope")
    assert code == 1 and "cannot open checkpoint" in err


def test_checkpoint_export_npz(capsys, tmp_path, mixed_checkpoint):
    prefix, values = mixed_checkpoint
    out_path = tmp_path / "weights.npz"
    code, out, err = run_cli(capsys, "checkpoint", prefix, "--export", out_path, "--progress")
    assert code == 0, err
    assert "100%" in err and "done in" in err  # progress on stderr when asked for
    with np.load(out_path, allow_pickle=False) as npz:
        assert sorted(npz.files) == sorted(values)
        for key, want in values.items():
            got = npz[key]
            if want.dtype == object:
                assert got.tolist() == want.tolist()
            elif want.dtype == ml_dtypes.bfloat16:
                np.testing.assert_array_equal(got, want.astype(np.float32))  # exact widening
            else:
                assert got.dtype == want.dtype
                np.testing.assert_array_equal(got, want)


def test_checkpoint_export_safetensors(capsys, tmp_path, mixed_checkpoint):
    from safetensors.numpy import load_file
    prefix, values = mixed_checkpoint
    out_path = tmp_path / "weights.safetensors"
    code, out, err = run_cli(capsys, "checkpoint", prefix, "--export", out_path)
    assert code == 0, err
    assert "skipped 1 string tensor(s)" in err and "vocab" in err
    ours = cli.read_safetensors(out_path)
    numeric = {k: v for k, v in values.items() if v.dtype != object}
    assert sorted(ours) == sorted(numeric)
    for key, want in numeric.items():
        assert ours[key].dtype == want.dtype and ours[key].shape == want.shape
        np.testing.assert_array_equal(ours[key], want)
    # The reference implementation (the safetensors package) reads the same file.
    assert int.from_bytes(out_path.read_bytes()[:8], "little") % 8 == 0
    theirs = load_file(str(out_path))
    assert sorted(theirs) == sorted(numeric)
    for key, value in theirs.items():
        assert value.dtype == numeric[key].dtype, key
        np.testing.assert_array_equal(value, numeric[key])


def test_checkpoint_export_bad_name(capsys, mixed_checkpoint):
    code, _, err = run_cli(capsys, "checkpoint", mixed_checkpoint[0], "--export", "weights.h5")
    assert code == 1 and ".npz or .safetensors" in err


# -- run ----------------------------------------------------------------------------------------------
def test_run_saved_model_with_npy_npz_and_json_feeds(capsys, tmp_path):
    x = EXPECTED["mlp|serving_default|x"]
    logits = EXPECTED["mlp|serving_default|logits"]
    np.save(tmp_path / "x.npy", x)
    np.savez(tmp_path / "feeds.npz", x=x, other=np.zeros(2))
    model = os.path.join(DATA, "mlp")
    for feed in (f"x={tmp_path / 'x.npy'}", f"x={tmp_path / 'feeds.npz'}", f"x={tmp_path / 'feeds.npz'}:x",
                 "x=" + json.dumps(x.tolist())):
        out_path = tmp_path / "out.npz"
        code, out, err = run_cli(capsys, "run", model, "--feed", feed, "--output", out_path)
        assert code == 0, (feed, err)
        with np.load(out_path) as result:
            assert sorted(result.files) == ["logits", "probs"]
            np.testing.assert_allclose(result["logits"], logits, rtol=2e-6, atol=1e-6)
    code, out, _ = run_cli(capsys, "run", model, "--feed", "x=" + json.dumps(x[:1].tolist()), "--fetch", "probs")
    assert code == 0 and out.startswith("probs: float32 [1, 4]")


def test_run_signature_and_strings(capsys, tmp_path):
    code, out, err = run_cli(capsys, "run", os.path.join(DATA, "multi"), "--signature", "bytes",
                             "--feed", 'text_bytes=["hi", "there"]', "--fetch", "plain", "--output", tmp_path / "o.npy")
    assert code == 0, err
    assert np.load(tmp_path / "o.npy").tolist() == [b"hi", b"there"]
    code, _, err = run_cli(capsys, "run", os.path.join(DATA, "multi"), "--signature", "nope", "--feed", "x=[1]")
    assert code == 1 and "'nope'" in err and "serving_default" in err
    code, _, err = run_cli(capsys, "run", os.path.join(DATA, "multi"), "--signature", "ints", "--feed",
                           "k=[[1.5, 2]]")
    assert code == 1 and "'k'" in err
    code, _, err = run_cli(capsys, "run", os.path.join(DATA, "multi"), "--feed", "x=missing.npy")
    assert code == 1 and "no such file" in err


def test_run_meta_graph_and_graph_def_with_checkpoint(capsys, trained, tmp_path):
    x = np.array([[1.0, 2.0, 3.0]], np.float32)
    want = x @ trained["values"]["w"] + trained["values"]["b"]
    np.savez(tmp_path / "in.npz", x=x)
    # .meta beside its checkpoint: restored without --checkpoint.
    code, out, err = run_cli(capsys, "run", trained["meta"], "--feed", f"x={tmp_path / 'in.npz'}", "--fetch", "y",
                             "--output", tmp_path / "a.npz")
    assert code == 0, err
    np.testing.assert_allclose(np.load(tmp_path / "a.npz")["y"], want, rtol=1e-6)
    # A GraphDef has no Saver: variables are matched to checkpoint keys by name.
    for graph_file in ("graph.pb", "graph.pbtxt"):
        code, out, err = run_cli(capsys, "run", trained["dir"] / graph_file, "--checkpoint", trained["prefix"],
                                 "--feed", "x=[[1, 2, 3]]", "--fetch", "y:0", "--output", tmp_path / "b.npz")
        assert code == 0, err
        np.testing.assert_allclose(np.load(tmp_path / "b.npz")["y:0"], want, rtol=1e-6)
    code, _, err = run_cli(capsys, "run", trained["dir"] / "graph.pb", "--feed", "x=[[1, 2, 3]]")
    assert code == 1 and "--fetch" in err


# -- serve startup errors -----------------------------------------------------------------------------
def test_serve_empty_dir_fails_clearly(tmp_path):
    code, out, err = run_subprocess("serve", "--model_name=m", f"--model_base_path={tmp_path}",
                                    "--rest_api_port=0", timeout=60)
    assert code == 1
    assert "No versions of servable m found under base path" in err
    code, _, err = run_subprocess("serve", "--model_name=m", f"--model_base_path={tmp_path / 'absent'}",
                                  "--rest_api_port=0", timeout=60)
    assert code == 1 and "does not exist" in err


def test_serve_corrupt_checkpoint_fails_clearly(tmp_path):
    version_dir = tmp_path / "m" / "1"
    shutil.copytree(os.path.join(DATA, "mlp"), version_dir)
    data_file = version_dir / "variables" / "variables.data-00000-of-00001"
    raw = bytearray(data_file.read_bytes())
    raw[-5] ^= 0x55
    data_file.write_bytes(bytes(raw))
    code, out, err = run_subprocess("serve", "--model_name=m", f"--model_base_path={tmp_path / 'm'}",
                                    "--rest_api_port=0", timeout=60)
    assert code == 1
    assert "Failed to load version 1 of model m" in err
    assert "variables.data-00000-of-00001" in err and "checksum" in err
    assert "REST API on" not in out  # it never started listening


def test_parser_help_lists_commands(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for command in ("inspect", "checkpoint", "run", "serve"):
        assert command in out
