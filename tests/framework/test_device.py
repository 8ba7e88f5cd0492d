"""gpugraph.framework.device: parsing, canonical names and scope merging."""

import pytest

from gpugraph.framework import device
from gpugraph.framework.device import DeviceSpec, canonical_name, merge_device

CANONICAL = [
    ("/cpu:0", "/device:CPU:0"),
    ("/gpu:1", "/device:GPU:1"),
    ("/CPU:0", "/device:CPU:0"),
    ("/GPU:1", "/device:GPU:1"),
    ("GPU:1", "/device:GPU:1"),
    ("gpu:0", "/device:GPU:0"),
    ("CPU", "/device:CPU:*"),
    ("/device:GPU:3", "/device:GPU:3"),
    ("/device:GPU:*", "/device:GPU:*"),
    ("/device:gpu:2", "/device:GPU:2"),
    ("/device:CPU", "/device:CPU:*"),
    ("device:CPU:0", "/device:CPU:0"),
    ("/device:XLA_GPU:0", "/device:XLA_GPU:0"),
    ("/tpu:0", "/device:TPU:0"),
    ("/job:worker/replica:0/task:1/device:GPU:1", "/job:worker/replica:0/task:1/device:GPU:1"),
    ("/job:localhost/replica:0/task:0/cpu:0", "/job:localhost/replica:0/task:0/device:CPU:0"),
    ("/job:ps", "/job:ps"),
    ("/task:3/gpu:0", "/task:3/device:GPU:0"),
    ("/replica:1", "/replica:1"),
    ("//job:ps//cpu:0", "/job:ps/device:CPU:0"),
    ("", ""),
]


@pytest.mark.parametrize("text, expected", CANONICAL)
def test_canonical_name(text, expected):
    assert canonical_name(text) == expected
    assert DeviceSpec.from_string(text).to_string() == expected
    # Canonical strings are fixed points.
    assert canonical_name(expected) == expected


def test_canonical_name_of_spec_and_none():
    assert canonical_name(None) == ""
    assert canonical_name(DeviceSpec(device_type="gpu", device_index=0)) == "/device:GPU:0"


def test_wildcards_mean_unset():
    spec = DeviceSpec.from_string("/job:*/replica:*/task:*/device:GPU:*")
    assert (spec.job, spec.replica, spec.task, spec.device_index) == (None, None, None, None)
    assert spec.device_type == "GPU"


def test_fields():
    spec = DeviceSpec.from_string("/job:worker/replica:0/task:1/device:GPU:1")
    assert (spec.job, spec.replica, spec.task, spec.device_type, spec.device_index) == ("worker", 0, 1, "GPU", 1)
    empty = DeviceSpec.from_string("")
    assert (empty.job, empty.replica, empty.task, empty.device_type, empty.device_index) == (None,) * 5
    assert DeviceSpec.from_string(None).to_string() == ""


@pytest.mark.parametrize(
    "text, what",
    [
        ("/foo:0", "unknown part 'foo:0'"),
        ("/gpu:x", "device index 'x'"),
        ("/gpu:-1", "device index '-1'"),
        ("/job:", "job name ''"),
        ("/replica:a", "replica 'a'"),
        ("/task:1.5", "task '1.5'"),
        ("/gpu:0/cpu:0", "more than one device type"),
        ("/device:GPU:0/device:CPU:0", "more than one device type"),
        ("/device:G-PU:0", "device type 'G-PU'"),
        ("/task", "'task' should look like 'task:N'"),
        ("/device:GPU:0:1", "should look like 'device:TYPE:N'"),
        ("/job:a/b", "unknown part 'b'"),
    ],
)
def test_bad_strings_quote_the_string_and_the_part(text, what):
    with pytest.raises(ValueError) as info:
        DeviceSpec.from_string(text)
    assert repr(text) in str(info.value)
    assert what in str(info.value)


def test_non_string_is_a_type_error():
    with pytest.raises(TypeError, match="42"):
        DeviceSpec.from_string(42)


def test_constructor_normalises_and_validates():
    assert DeviceSpec(job="ps", device_type="cpu", device_index="0").to_string() == "/job:ps/device:CPU:0"
    assert DeviceSpec(device_type="tpu").device_type == "tpu"  # only CPU/GPU are upper-cased
    with pytest.raises(ValueError, match="replica must be a non-negative integer, got -1"):
        DeviceSpec(replica=-1)
    with pytest.raises(ValueError, match="'x'"):
        DeviceSpec(device_index="x")


def test_make_merged_spec_other_wins():
    outer = DeviceSpec.from_string("/job:ps/replica:0/device:CPU:0")
    merged = outer.make_merged_spec(DeviceSpec.from_string("/device:GPU:1"))
    assert merged.to_string() == "/job:ps/replica:0/device:GPU:1"
    assert outer.to_string() == "/job:ps/replica:0/device:CPU:0"  # unchanged
    assert outer.make_merged_spec("/task:2").to_string() == "/job:ps/replica:0/task:2/device:CPU:0"


def test_merge_from_mutates():
    spec = DeviceSpec.from_string("/job:ps/device:CPU:0")
    spec.merge_from(DeviceSpec(device_type="GPU", device_index=2))
    assert spec.to_string() == "/job:ps/device:GPU:2"


def test_parse_from_string_replaces_everything():
    spec = DeviceSpec.from_string("/job:ps/device:CPU:0")
    assert spec.parse_from_string("/gpu:1") is spec
    assert spec.to_string() == "/device:GPU:1"


def test_replace_and_setters():
    spec = DeviceSpec.from_string("/job:ps/task:1/device:GPU:0")
    assert spec.replace(task=None, device_index=3).to_string() == "/job:ps/device:GPU:3"
    with pytest.raises(TypeError, match="bogus"):
        spec.replace(bogus=1)
    spec.device_type = "cpu"
    spec.job = None
    assert spec.to_string() == "/task:1/device:CPU:0"


def test_eq_and_hash():
    a = DeviceSpec.from_string("/gpu:0")
    b = DeviceSpec.from_string("/device:GPU:0")
    assert a == b and hash(a) == hash(b) and len({a, b}) == 1
    assert a != DeviceSpec.from_string("/gpu:1")
    assert a != "/device:GPU:0"  # like TF: only DeviceSpecs compare equal
    assert "device_type=GPU" in repr(a)


def test_merge_device_inner_fields_win():
    outer = merge_device("/job:worker/replica:0/device:CPU:0")
    assert outer("") == "/job:worker/replica:0/device:CPU:0"
    assert outer("/gpu:1") == "/job:worker/replica:0/device:GPU:1"
    assert outer("/job:ps") == "/job:ps/replica:0/device:CPU:0"
    assert outer(None) == "/job:worker/replica:0/device:CPU:0"

    class Node:
        device = "/device:GPU:2"

    assert outer(Node()) == "/job:worker/replica:0/device:GPU:2"
    assert outer(DeviceSpec(task=3)) == "/job:worker/replica:0/task:3/device:CPU:0"
    assert merge_device(DeviceSpec(job="x")).spec.job == "x"
    assert merge_device("").is_null_merge and not outer.is_null_merge
    assert "CPU:0" in repr(outer)


def test_nested_scopes_compose_like_tensorflow():
    # Device functions are applied innermost first; each outer one fills gaps.
    scopes = ["/job:train", "/job:ps/gpu:0", "/device:GPU:1"]
    current = ""
    for scope in reversed(scopes):
        current = device.merge_device(scope)(current)
    assert current == "/job:ps/device:GPU:1"


@pytest.mark.tf
def test_matches_tensorflow():
    from tensorflow.python.framework import device as tf_device
    from tensorflow.python.framework import device_spec as tf_spec

    # Spellings TensorFlow's C++ parser takes but its Python parser rejects.
    extensions = {"/device:CPU"}
    for text, _ in CANONICAL:
        if text in extensions:
            with pytest.raises(ValueError):
                tf_device.canonical_name(text)
            continue
        assert canonical_name(text) == tf_device.canonical_name(text), text

    class Node:
        def __init__(self, d):
            self.device = d

    for outer in ["/job:worker/cpu:0", "/gpu:1", "", "/job:ps/replica:2/task:0"]:
        for inner in ["", "/gpu:0", "/job:a/task:1", "/device:CPU:*"]:
            ours = merge_device(outer)(Node(inner))
            theirs = tf_device.merge_device(outer)(Node(inner)).to_string()
            assert ours == theirs, (outer, inner)
            a = DeviceSpec.from_string(outer).make_merged_spec(DeviceSpec.from_string(inner))
            b = tf_spec.DeviceSpecV1.from_string(outer).make_merged_spec(tf_spec.DeviceSpecV1.from_string(inner))
            assert a.to_string() == b.to_string()
