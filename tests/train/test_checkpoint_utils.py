"""list_variables / load_variable / NewCheckpointReader, against TF-written fixtures and TF itself."""

import os

import ml_dtypes
import numpy as np
import pytest

from gpugraph import errors
from gpugraph.framework import dtypes
from gpugraph.train import checkpoint_management as cm
from gpugraph.train import checkpoint_utils as cu
from gpugraph.train.bundle import BundleWriter

from .conftest import FIXTURE_PREFIXES, assert_same


def test_list_variables_of_directory_and_prefix(expected):
    d = os.path.dirname(FIXTURE_PREFIXES["dtypes"])
    want = sorted((name, list(np.shape(v))) for name, v in expected["dtypes"].items())
    assert cu.list_variables(d) == want
    assert cu.list_variables(FIXTURE_PREFIXES["dtypes"]) == want
    assert cu.list_variables(FIXTURE_PREFIXES["partitioned"]) == [("part", [10, 2]), ("plain", [3])]


def test_load_variable(expected):
    d = os.path.dirname(FIXTURE_PREFIXES["dtypes"])
    assert_same(cu.load_variable(d, "dense/kernel"), expected["dtypes"]["dense/kernel"])
    assert_same(cu.load_variable(d, "dense/kernel:0"), expected["dtypes"]["dense/kernel"])
    step = cu.load_variable(d, "global_step")
    assert isinstance(step, np.int64) and step == 2        # scalars come back as numpy scalars, as in TF
    assert cu.load_variable(d, "strings/scalar") == b"hello"


def test_reader_api(expected):
    r = cu.NewCheckpointReader(FIXTURE_PREFIXES["dtypes"])
    assert r.has_tensor("dense/bias") and not r.has_tensor("dense/nope")
    shapes, types = r.get_variable_to_shape_map(), r.get_variable_to_dtype_map()
    assert shapes["dense/kernel"] == [4, 3] and shapes["global_step"] == []
    assert types["bf16/special"] is dtypes.bfloat16 and types["strings/vocab"] is dtypes.string
    assert types["half/special"] is dtypes.float16 and types["flags/bool"] is dtypes.bool
    assert set(shapes) == set(types) == set(expected["dtypes"])
    assert r.get_tensor("bf16/special").dtype == ml_dtypes.bfloat16
    lines = r.debug_string().splitlines()
    assert b"dense/kernel (DT_FLOAT) [4,3]" in lines
    assert b"global_step (DT_INT64) []" in lines and b"bf16/special (DT_BFLOAT16) [10]" in lines
    assert b"half/special (DT_HALF) [10]" in lines and b"strings/vocab (DT_STRING) [5]" in lines
    r.close()


def test_missing_tensor_and_missing_checkpoint(tmp_path):
    prefix = FIXTURE_PREFIXES["dtypes"]
    with cu.load_checkpoint(prefix) as r:
        with pytest.raises(KeyError) as info:
            r.get_tensor("dense/nope")
    assert isinstance(info.value, errors.NotFoundError)
    assert "dense/nope" in str(info.value) and prefix in str(info.value)
    with pytest.raises(errors.NotFoundError, match="dense/nope"):
        cu.load_variable(prefix, "dense/nope")
    with pytest.raises(ValueError, match="Couldn't find 'checkpoint' file"):
        cu.list_variables(str(tmp_path))
    with pytest.raises(errors.NotFoundError, match="not found"):
        cu.NewCheckpointReader(str(tmp_path / "nope"))
    with pytest.raises(ValueError, match="pass the prefix"):
        cu.NewCheckpointReader(prefix + ".index")


def test_partitioned_variable_error_names_it():
    with pytest.raises(NotImplementedError, match="'part'"):
        cu.load_variable(FIXTURE_PREFIXES["partitioned"], "part")


def test_our_checkpoint_through_directory(tmp_path):
    prefix = str(tmp_path / "model.ckpt-3")
    with BundleWriter(prefix) as w:
        w.add("a", np.arange(3, dtype=np.int32))
    cm.update_checkpoint_state(str(tmp_path), prefix)
    assert cu.list_variables(str(tmp_path)) == [("a", [3])]
    assert_same(cu.load_variable(str(tmp_path), "a"), np.arange(3, dtype=np.int32))


@pytest.mark.tf
@pytest.mark.parametrize("fixture", ["dtypes", "sharded", "partitioned", "many_keys"])
def test_matches_tensorflow_reader(fixture, tf):
    prefix = FIXTURE_PREFIXES[fixture]
    ours, theirs = cu.NewCheckpointReader(prefix), tf.compat.v1.train.NewCheckpointReader(prefix)
    assert ours.debug_string() == theirs.debug_string()
    assert ours.get_variable_to_shape_map() == theirs.get_variable_to_shape_map()
    assert {k: v.as_datatype_enum for k, v in ours.get_variable_to_dtype_map().items()} == \
        {k: v.as_datatype_enum for k, v in theirs.get_variable_to_dtype_map().items()}
    assert cu.list_variables(prefix) == tf.train.list_variables(prefix)
    for name in list(ours.get_variable_to_shape_map())[:50]:
        if name == "part":
            continue
        mine, tfs = ours.get_tensor(name), theirs.get_tensor(name)
        assert type(mine) is type(tfs), name
        if isinstance(tfs, np.ndarray):
            assert_same(mine, tfs, name)
        else:
            assert np.asarray(mine).tobytes() == np.asarray(tfs).tobytes() or mine == tfs, name
