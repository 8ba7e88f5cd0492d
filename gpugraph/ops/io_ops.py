"""Checkpoint I/O ops — ``SaveV2``, ``RestoreV2``, ``MergeV2Checkpoints`` — and the string ops the
Saver's graph uses to name files: ``StringJoin``, ``ShardedFilename``, ``ShardedFilespec`` and
``StaticRegexFullMatch``.

Kernels read and write V2 checkpoints with :mod:`gpugraph.train.bundle`, so a graph's own save and
restore nodes (ours, or those in a TensorFlow-written ``.meta``) produce and consume files that
TensorFlow reads and writes. Slices (non-empty ``shape_and_slices`` entries, written for partitioned
variables) are not supported and fail with an UnimplementedError naming the tensor.

Example:
    >>> w = tf.constant([1.0, 2.0])
    >>> save = save_v2("/tmp/ckpt/model", ["w"], [""], [w])
    >>> with tf.control_dependencies([save]):
    ...     (restored,) = restore_v2("/tmp/ckpt/model", ["w"], [""], [tf.float32])
    >>> tf.Session().run(restored).tolist()                              # doctest: +SKIP
    [1.0, 2.0]
"""

import os
import re

import numpy as np

from gpugraph import errors
from gpugraph.framework import dtypes as dtypes_lib
from gpugraph.framework import tensor_shape
from gpugraph.framework import ops, registry
from gpugraph.framework.op_builder import apply_op, convert_to_tensor
from gpugraph.framework.registry import register_op
from gpugraph.ops import io_bundle
from gpugraph.protos import tensor_bundle_pb2
from gpugraph.train import bundle, table
from gpugraph.util import fileio

TensorShape = tensor_shape.TensorShape


# -- helpers ----------------------------------------------------------------------------------
def _as_str(value):
    """A path/name element (bytes from a string tensor) as ``str``; undecodable bytes survive."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "surrogateescape")
    return str(value)


def _scalar_string(ctx, value, what):
    arr = np.asarray(value, dtype=object)
    if arr.size != 1:
        raise ctx.error(f"Input {what} should have a single element, got {arr.size} instead.")
    return _as_str(arr.reshape(-1)[0])


def _string_vector(ctx, value, what, expected):
    arr = np.asarray(value, dtype=object)
    if arr.ndim != 1 or arr.size != expected:
        raise ctx.error(f"Input {what} should be a vector of {expected} strings (one per tensor), got "
                        f"shape {list(arr.shape)}")
    return [_as_str(v) for v in arr.tolist()]


def _reject_slices(ctx, names, slices):
    for name, spec in zip(names, slices):
        if spec:
            raise ctx.error(f"tensor {name!r} has the slice spec {spec!r}: saving or restoring slices of "
                            f"partitioned variables is not supported by gpugraph (only whole tensors, "
                            f"shape_and_slices \"\")", errors.UnimplementedError)


def _vector_shape_check(op, index, what, n):
    shape = op.inputs[index].shape
    if not shape.is_compatible_with(TensorShape([n])):
        raise ValueError(f"{op.type} '{op.name}': {what} must be a vector of {n} elements (one per "
                         f"tensor), got shape {shape}")


def _scalar_shape_check(op, index, what):
    shape = op.inputs[index].shape
    if not shape.is_compatible_with(TensorShape([])):
        raise ValueError(f"{op.type} '{op.name}': {what} must be a scalar, got shape {shape}")


def _os_error(ctx, e, doing):
    cls = errors.PermissionDeniedError if isinstance(e, PermissionError) else \
        errors.NotFoundError if isinstance(e, FileNotFoundError) else errors.UnknownError
    return ctx.error(f"{doing}: {e}", cls)


# -- SaveV2 -----------------------------------------------------------------------------------
def _save_v2_shape(op):
    n = len(op.get_attr("dtypes"))
    _scalar_shape_check(op, 0, "prefix")
    _vector_shape_check(op, 1, "tensor_names", n)
    _vector_shape_check(op, 2, "shape_and_slices", n)
    return []


def _save_v2_kernel(ctx, prefix, tensor_names, shape_and_slices, *tensors):
    prefix = _scalar_string(ctx, prefix, "prefix")
    names = _string_vector(ctx, tensor_names, "tensor_names", len(tensors))
    slices = _string_vector(ctx, shape_and_slices, "shape_and_slices", len(tensors))
    _reject_slices(ctx, names, slices)
    try:
        io_bundle.write_bundle(prefix, names, tensors)
    except OSError as e:
        raise _os_error(ctx, e, f"writing checkpoint {prefix} failed") from None
    except (ValueError, TypeError) as e:  # a duplicate key, a file name as prefix, an odd value
        raise ctx.error(f"cannot save to {prefix}: {e}") from None


register_op("SaveV2", inputs=["prefix: string", "tensor_names: string", "shape_and_slices: string",
                              "tensors: dtypes"],
            attrs=["dtypes: list(type) >= 1"], shape=_save_v2_shape, cpu=_save_v2_kernel, stateful=True,
            host_memory=("prefix", "tensor_names", "shape_and_slices", "tensors"))


# -- RestoreV2 --------------------------------------------------------------------------------
def _restore_v2_shape(op):
    n = len(op.get_attr("dtypes"))
    _scalar_shape_check(op, 0, "prefix")
    _vector_shape_check(op, 1, "tensor_names", n)
    _vector_shape_check(op, 2, "shape_and_slices", n)
    return [TensorShape(None)] * n


def _open_reader(ctx, prefix):
    try:
        return bundle.BundleReader(prefix)
    except ValueError as e:  # a file name (".index", ".data-…") given instead of the prefix
        raise ctx.error(str(e)) from None
    except errors.OpError as e:  # no .index (NotFound), corruption (DataLoss), big-endian (Unimplemented)
        cls = next(c for c in (errors.NotFoundError, errors.DataLossError, errors.UnimplementedError, errors.OpError)
                   if isinstance(e, c))
        raise ctx.error(e.message, cls) from None
    except OSError as e:
        raise _os_error(ctx, e, f"cannot open checkpoint {prefix}") from None


def _restore_v2_kernel(ctx, prefix, tensor_names, shape_and_slices):
    want = ctx.attrs["dtypes"]
    prefix = _scalar_string(ctx, prefix, "prefix")
    names = _string_vector(ctx, tensor_names, "tensor_names", len(want))
    slices = _string_vector(ctx, shape_and_slices, "shape_and_slices", len(want))
    _reject_slices(ctx, names, slices)
    reader = _open_reader(ctx, prefix)
    try:
        # Check every key and dtype before reading any data: a bad request fails fast.
        for name, dtype in zip(names, want):
            if name not in reader:
                raise ctx.error(f"Key {name} not found in checkpoint {prefix} (the checkpoint has "
                                f"{len(reader)} tensors)", errors.NotFoundError)
            have, _ = reader.dtype_and_shape(name)
            if have != dtype:
                raise ctx.error(f"tensor {name!r} in checkpoint {prefix} has dtype {have.name}, but "
                                f"{dtype.name} was requested (Expected to restore a tensor of type "
                                f"{dtype.name}, got a tensor of type {have.name} instead: tensor_name "
                                f"= {name})")
        try:
            out = io_bundle.read_tensors(reader, names)
        except errors.OpError as e:
            raise ctx.error(e.message, errors.DataLossError if isinstance(e, errors.DataLossError)
                            else errors.UnimplementedError) from None
        except OSError as e:
            raise _os_error(ctx, e, f"reading checkpoint {prefix} failed") from None
        return out[0] if len(out) == 1 else out  # the plan stores a lone output as is, not a list
    finally:
        reader.close()


register_op("RestoreV2", inputs=["prefix: string", "tensor_names: string", "shape_and_slices: string"],
            outputs=["tensors: dtypes"], attrs=["dtypes: list(type) >= 1"], shape=_restore_v2_shape,
            cpu=_restore_v2_kernel, stateful=True,
            host_memory=("prefix", "tensor_names", "shape_and_slices"))


# -- MergeV2Checkpoints -----------------------------------------------------------------------
def _merge_shape(op):
    shape = op.inputs[0].shape
    if shape.ndims is not None and shape.ndims > 1:
        raise ValueError(f"MergeV2Checkpoints '{op.name}': checkpoint_prefixes must be a vector, got "
                         f"shape {shape}")
    _scalar_shape_check(op, 1, "destination_prefix")
    return []


def _read_bundle_index(ctx, prefix):
    path = bundle.index_filename(prefix)
    try:
        items = table.read_table_file(path)
    except FileNotFoundError:
        return None
    except errors.OpError as e:
        raise ctx.error(e.message, errors.DataLossError) from None
    if not items or items[0][0] != b"":
        raise ctx.error(f"{path}: no bundle header", errors.DataLossError)
    header = tensor_bundle_pb2.BundleHeaderProto.FromString(items[0][1])
    entries = [(k, tensor_bundle_pb2.BundleEntryProto.FromString(v)) for k, v in items[1:]]
    return header, entries


def merge_bundles(ctx, prefixes, dest, allow_missing_files=False):
    """TF's ``MergeBundles``: one bundle at ``dest`` whose shards are the source bundles' data files
    (renamed into place), with one merged index written last, atomically."""
    sources, merged, shard_base = [], {}, 0
    for prefix in prefixes:
        parsed = _read_bundle_index(ctx, prefix)
        if parsed is None:
            if allow_missing_files:
                continue
            raise ctx.error(f"checkpoint {prefix} to merge is missing ({bundle.index_filename(prefix)} "
                            f"not found)", errors.NotFoundError)
        header, entries = parsed
        if header.endianness != tensor_bundle_pb2.BundleHeaderProto.LITTLE:
            raise ctx.error(f"{prefix}: big-endian bundles cannot be merged", errors.UnimplementedError)
        for key, entry in entries:
            if key in merged:
                raise ctx.error(f"Duplicate tensor keyed by {_as_str(key)!r} encountered when merging "
                                f"{prefix} into {dest}")
            entry.shard_id += shard_base
            merged[key] = entry
        sources.append((prefix, header.num_shards, shard_base))
        shard_base += header.num_shards
    if not sources:
        raise ctx.error(f"no checkpoints to merge into {dest}", errors.NotFoundError if prefixes
                        else errors.InvalidArgumentError)
    total = shard_base
    directory = os.path.dirname(dest)
    if directory:
        os.makedirs(directory, exist_ok=True)
    for prefix, num_shards, base in sources:
        for i in range(num_shards):
            src = bundle.data_filename(prefix, i, num_shards)
            dst = bundle.data_filename(dest, base + i, total)
            if src != dst:
                os.replace(src, dst)
    header = tensor_bundle_pb2.BundleHeaderProto(num_shards=total)
    header.endianness = tensor_bundle_pb2.BundleHeaderProto.LITTLE
    header.version.producer = bundle.BUNDLE_VERSION
    header.version.min_consumer = bundle.BUNDLE_MIN_CONSUMER
    with fileio.atomic_open(bundle.index_filename(dest)) as f:
        writer = table.TableWriter(f)
        writer.add(b"", header.SerializeToString())
        for key in sorted(merged):
            writer.add(key, merged[key].SerializeToString())
        writer.finish()
    for prefix, _, _ in sources:
        if prefix != dest:
            try:
                os.remove(bundle.index_filename(prefix))
            except FileNotFoundError:
                pass
    return [prefix for prefix, _, _ in sources]


def _merge_kernel(ctx, checkpoint_prefixes, destination_prefix):
    prefixes = [_as_str(p) for p in np.asarray(checkpoint_prefixes, dtype=object).reshape(-1).tolist()]
    dest = _scalar_string(ctx, destination_prefix, "destination_prefix")
    try:
        merged = merge_bundles(ctx, prefixes, dest, ctx.attrs["allow_missing_files"])
    except OSError as e:
        raise _os_error(ctx, e, f"merging {prefixes} into {dest} failed") from None
    if ctx.attrs["delete_old_dirs"]:
        # TF removes each source's directory when it is now empty (the "<prefix>_temp" folder).
        dest_dir = os.path.dirname(dest)
        for prefix in merged:
            directory = os.path.dirname(prefix)
            if directory and directory != dest_dir:
                try:
                    os.rmdir(directory)
                except OSError:
                    pass


register_op("MergeV2Checkpoints", inputs=["checkpoint_prefixes: string", "destination_prefix: string"],
            attrs=["delete_old_dirs: bool = true", "allow_missing_files: bool = false"],
            shape=_merge_shape, cpu=_merge_kernel, stateful=True,
            host_memory=("checkpoint_prefixes", "destination_prefix"))


# -- file-name string ops ---------------------------------------------------------------------
def _string_join_shape(op):
    shapes = [t.shape for t in op.inputs]
    if all(s.ndims == 0 for s in shapes):
        return [TensorShape([])]
    # Inputs of unknown rank may be scalars, so only known non-scalar shapes are merged (as TF does).
    out = TensorShape(None)
    for s in shapes:
        if s.ndims is not None and s.ndims != 0:
            if not out.is_compatible_with(s):
                raise ValueError(f"StringJoin '{op.name}': non-scalar inputs must have the same shape, got "
                                 f"{out} and {s}")
            out = out.merge_with(s)
    return [out]


def _string_join_kernel(ctx, *inputs):
    sep = ctx.attrs["separator"].encode("utf-8", "surrogateescape")
    arrays = [np.asarray(x, dtype=object) for x in inputs]
    shape = None
    for a in arrays:
        if a.ndim:
            if shape is not None and a.shape != shape:
                raise ctx.error(f"Input shapes do not match: {list(shape)} vs. {list(a.shape)}")
            shape = a.shape
    if not arrays:
        return np.array(b"", dtype=object)
    out = arrays[0]
    for a in arrays[1:]:
        out = np.add(np.add(out, sep), a) if sep else np.add(out, a)
    result = np.empty(shape or (), dtype=object)
    result[...] = out
    return result


register_op("StringJoin", inputs=["inputs: N * string"], outputs=["output: string"],
            attrs=["N: int >= 0", "separator: string = ''"], shape=_string_join_shape,
            cpu=_string_join_kernel)


def _int_scalar(ctx, value, what):
    arr = np.asarray(value)
    if arr.size != 1:
        raise ctx.error(f"{what} must be a scalar, got shape {list(arr.shape)}")
    return int(arr.reshape(-1)[0])


def _scalar_outputs(op):
    for i, t in enumerate(op.inputs):
        if not t.shape.is_compatible_with(TensorShape([])):
            raise ValueError(f"{op.type} '{op.name}': input {i} must be a scalar, got shape {t.shape}")
    return [TensorShape([])]


def _bytes_scalar(value):
    return np.array(value, dtype=object)


def _sharded_filename_kernel(ctx, basename, shard, num_shards):
    base = np.asarray(basename, dtype=object).reshape(-1)[0]
    return _bytes_scalar(b"%s-%05d-of-%05d" % (base, _int_scalar(ctx, shard, "shard"),
                                               _int_scalar(ctx, num_shards, "num_shards")))


def _sharded_filespec_kernel(ctx, basename, num_shards):
    base = np.asarray(basename, dtype=object).reshape(-1)[0]
    return _bytes_scalar(b"%s-?????-of-%05d" % (base, _int_scalar(ctx, num_shards, "num_shards")))


register_op("ShardedFilename", inputs=["basename: string", "shard: int32", "num_shards: int32"],
            outputs=["filename: string"], shape=_scalar_outputs, cpu=_sharded_filename_kernel)
register_op("ShardedFilespec", inputs=["basename: string", "num_shards: int32"],
            outputs=["filename: string"], shape=_scalar_outputs, cpu=_sharded_filespec_kernel)


def _static_regex_kernel(ctx, value):
    regex = ctx.cache.get("regex")
    if regex is None:
        try:
            regex = ctx.cache["regex"] = re.compile(ctx.attrs["pattern"].encode("utf-8", "surrogateescape"))
        except re.error as e:
            raise ctx.error(f"Invalid pattern: {ctx.attrs['pattern']!r}, error: {e}") from None
    arr = np.asarray(value, dtype=object)
    flat = [regex.fullmatch(s) is not None for s in arr.reshape(-1).tolist()]
    return np.array(flat, dtype=np.bool_).reshape(arr.shape)


register_op("StaticRegexFullMatch", inputs=["input: string"], outputs=["output: bool"],
            attrs=["pattern: string"], shape=lambda op: [op.inputs[0].shape], cpu=_static_regex_kernel)


# -- API --------------------------------------------------------------------------------------
def _is_graph_value(v):
    return isinstance(v, ops.Tensor) or hasattr(v, "_as_graph_element")


def _apply_named(op_type, name, inputs, **attrs):
    """Builds ``op_type`` the way TensorFlow's generated wrappers do, so node names match TF's: inside
    ``name_scope(name or op_type)``, Python values become Consts named after their input arg
    ("save/SaveV2/tensor_names"), a list of tensors given for a single-tensor arg is packed by a
    ``Pack`` named after the arg, and the op takes the scope's name."""
    spec = registry.get_op_spec(op_type)
    g = ops.get_default_graph()
    with g.name_scope(name or op_type) as scope:
        converted = {}
        for arg in spec.inputs:
            value = inputs[arg.name]
            if arg.is_list:
                converted[arg.name] = [v if _is_graph_value(v) else
                                       convert_to_tensor(v, dtype=arg.type, name=f"{arg.name}_{i}")
                                       for i, v in enumerate(value)]
            elif _is_graph_value(value):
                converted[arg.name] = value
            elif isinstance(value, (list, tuple)) and any(_is_graph_value(v) for v in value):
                elems = [convert_to_tensor(v, dtype=arg.type) for v in value]
                converted[arg.name] = apply_op("Pack", values=elems, axis=0, name=arg.name)
            else:
                converted[arg.name] = convert_to_tensor(value, dtype=arg.type, name=arg.name)
        return apply_op(op_type, name=scope, **converted, **attrs)


def save_v2(prefix, tensor_names, shape_and_slices, tensors, name=None):
    """Writes ``tensors`` to the V2 checkpoint ``prefix`` under ``tensor_names`` (returns the op).

    Example:
        >>> save = save_v2("/tmp/m", ["a", "b"], ["", ""], [tf.constant(1.0), tf.constant([2, 3])])
    """
    return _apply_named("SaveV2", name, dict(prefix=prefix, tensor_names=tensor_names,
                                             shape_and_slices=shape_and_slices, tensors=list(tensors)))


def restore_v2(prefix, tensor_names, shape_and_slices, dtypes, name=None):  # noqa: A002 - TF's name
    """Reads tensors ``tensor_names`` of ``dtypes`` from the V2 checkpoint ``prefix``; returns a list.

    Example:
        >>> (w,) = restore_v2("/tmp/m", ["w"], [""], [tf.float32])
    """
    out = _apply_named("RestoreV2", name, dict(prefix=prefix, tensor_names=tensor_names,
                                               shape_and_slices=shape_and_slices),
                       dtypes=[dtypes_lib.as_dtype(d).base_dtype for d in dtypes])
    return list(out)


def merge_v2_checkpoints(checkpoint_prefixes, destination_prefix, delete_old_dirs=True,
                         allow_missing_files=False, name=None):
    """Merges single-shard checkpoints into one sharded checkpoint at ``destination_prefix``.

    Example:
        >>> merge = merge_v2_checkpoints(["/tmp/m_temp/part-00000-of-00002",
        ...                               "/tmp/m_temp/part-00001-of-00002"], "/tmp/m")
    """
    return _apply_named("MergeV2Checkpoints", name, dict(checkpoint_prefixes=checkpoint_prefixes,
                                                         destination_prefix=destination_prefix),
                        delete_old_dirs=delete_old_dirs, allow_missing_files=allow_missing_files)


def sharded_filename(basename, shard, num_shards, name=None):
    """``"<basename>-<shard:05d>-of-<num_shards:05d>"`` as a string tensor.

    Example:
        >>> sharded_filename("/tmp/m", 1, 4)   # evaluates to b"/tmp/m-00001-of-00004"
    """
    return _apply_named("ShardedFilename", name, dict(basename=basename, shard=shard, num_shards=num_shards))


def sharded_filespec(basename, num_shards, name=None):
    """``"<basename>-?????-of-<num_shards:05d>"``: the glob of every shard's file name.

    Example:
        >>> sharded_filespec("/tmp/m", 4)      # evaluates to b"/tmp/m-?????-of-00004"
    """
    return _apply_named("ShardedFilespec", name, dict(basename=basename, num_shards=num_shards))


def string_join(inputs, separator="", name=None):
    """``tf.strings.join`` / ``tf.compat.v1.string_join``: elementwise concatenation; scalars
    broadcast against the (equal) shapes of the other inputs.

    Example:
        >>> tf.string_join(["ckpt", tf.constant(["a", "b"])], separator="-")   # [b"ckpt-a", b"ckpt-b"]
    """
    return _apply_named("StringJoin", name, dict(inputs=list(inputs)), separator=separator)


def static_regex_full_match(input, pattern, name=None):  # noqa: A002 - TF's argument name
    """Whether each string matches ``pattern`` (a Python string fixed when the graph is built) as a
    whole. Example: ``static_regex_full_match("s3://bucket/x", "^s3://.*")`` is True."""
    return _apply_named("StaticRegexFullMatch", name, dict(input=input), pattern=pattern)


def regex_full_match(input, pattern, name=None):  # noqa: A002 - TF's argument name
    """``tf.strings.regex_full_match`` for a pattern known when the graph is built.

    Example:
        >>> tf.strings.regex_full_match(tf.constant(["ab", "b"]), "a.*")      # [True, False]
    """
    if not isinstance(pattern, (str, bytes)):
        raise NotImplementedError("regex_full_match: only a Python string pattern is supported "
                                  "(the RegexFullMatch op with a pattern tensor is not implemented)")
    if isinstance(pattern, bytes):
        pattern = pattern.decode()
    return static_regex_full_match(input, pattern, name=name or "StaticRegexFullMatch")


EXPORTS = {"": ["string_join"]}
