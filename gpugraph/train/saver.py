"""``tf.compat.v1.train.Saver``: save and restore variables through the graph's own save/restore ops.

The Saver adds the nodes TensorFlow 1's ``BulkSaverBuilder`` adds, with the same names, under a
``save`` scope (``save_1``, … when taken)::

    save/filename/input (Const "model") → save/filename → save/Const      (PlaceholderWithDefault ×2)
    save/SaveV2(save/Const, save/SaveV2/tensor_names, save/SaveV2/shape_and_slices, variables…)
    save/control_dependency = Identity(save/Const) after save/SaveV2       (the SaverDef's save tensor)
    save/RestoreV2 on /device:CPU:0 → save/Assign* (ref) / save/Identity* + save/AssignVariableOp*
    save/restore_all = NoOp after every assignment                         (the SaverDef's restore op)

``sharded=True`` writes one data file per device (StaticRegexFullMatch/Select/StringJoin pick the
temporary prefix, ShardedFilename names each shard, MergeV2Checkpoints merges them). ``save`` runs
the graph's save tensor with the filename fed — so a SaverDef TensorFlow wrote runs here unchanged —
then writes the ``.meta`` and the ``checkpoint`` state file (each atomically) and deletes the
checkpoints ``max_to_keep`` / ``keep_checkpoint_every_n_hours`` no longer keep, also those a previous
process recorded in the state file.

Example:
    >>> w = tf.Variable([1.0, 2.0], name="w")
    >>> saver = tf.train.Saver(max_to_keep=2)
    >>> with tf.Session() as sess:
    ...     sess.run(tf.global_variables_initializer())
    ...     prefix = saver.save(sess, "/tmp/train/model", global_step=10)      # doctest: +SKIP
    ...     saver.restore(sess, prefix)                                       # doctest: +SKIP
    >>> prefix                                                                # doctest: +SKIP
    '/tmp/train/model-10'
"""

import collections
import logging
import os
import threading
import time

import numpy as np
from google.protobuf import text_format

from gpugraph import errors
from gpugraph.framework import meta_graph, ops
from gpugraph.framework.op_builder import constant_value
from gpugraph.ops import io_bundle
from gpugraph.protos import saver_pb2
from gpugraph.train import bundle, checkpoint_management
from gpugraph.train.saver_builder import (  # noqa: F401  (tf.compat.v1.train names)
    BaseSaverBuilder, BulkSaverBuilder, ReferenceVariableSaveable, ResourceVariableSaveable, SaveableObject,
    SaveSpec, op_list_to_dict, validate_and_slice_inputs)

_log = logging.getLogger(__name__)

SaverDef = saver_pb2.SaverDef


# -- the restore subgraph, for checking a checkpoint before restoring it ----------------------------
class _RestoreTarget:
    __slots__ = ("key", "variable", "dtype", "shape", "reshaped")

    def __init__(self, key, variable, dtype, shape, reshaped):
        self.key, self.variable, self.dtype, self.shape, self.reshaped = key, variable, dtype, shape, reshaped


def _restore_targets(graph, restore_op_name):
    """What ``restore_op_name`` assigns: one :class:`_RestoreTarget` per variable, found by walking the
    restore subgraph back to its RestoreV2 ops (works for SaverDefs TensorFlow wrote, too). Parts
    that do not look like a Saver's are left to the kernels' own errors."""
    try:
        root = graph.get_operation_by_name(restore_op_name.split(":")[0])
    except (KeyError, ValueError):
        return []
    assigns, seen, stack = [], set(), [root]
    while stack:
        op = stack.pop()
        if op in seen:
            continue
        seen.add(op)
        if op.type in ("Assign", "AssignVariableOp"):
            assigns.append(op)
            continue
        if op.type == "RestoreV2":
            continue
        stack.extend(op.control_inputs)
        stack.extend(t.op for t in op.inputs)
    targets = []
    for assign in assigns:
        value, reshaped = assign.inputs[1], False
        while value.op.type in ("Identity", "Reshape", "Snapshot"):
            reshaped |= value.op.type == "Reshape"
            value = value.op.inputs[0]
        var_op = assign.inputs[0].op
        if value.op.type != "RestoreV2" or var_op.type not in ("VariableV2", "Variable", "VarHandleOp"):
            continue
        names = constant_value(value.op.inputs[1])
        if names is None:
            continue
        key = names.reshape(-1)[value.value_index]
        key = key.decode("utf-8", "surrogateescape") if isinstance(key, bytes) else str(key)
        shape = var_op.get_attr("shape")
        if assign.type == "Assign" and not assign.get_attr("validate_shape"):
            shape = None
        targets.append(_RestoreTarget(key, var_op.name, value.dtype.base_dtype,
                                      tuple(shape.as_list()) if shape is not None and shape.is_fully_defined()
                                      else None, reshaped))
    return targets


def _fmt_shape(shape):
    return "[" + ",".join(str(d) for d in shape) + "]"


def _check_checkpoint_matches(targets, prefix):
    """Raises a NotFoundError / InvalidArgumentError listing every variable the checkpoint lacks or
    holds with another dtype or shape — before anything is assigned."""
    if not targets:
        return
    with bundle.BundleReader(prefix) as reader:
        missing, mismatched = [], []
        for t in targets:
            if t.key not in reader:
                missing.append(t)
                continue
            dtype, shape = reader.dtype_and_shape(t.key)
            if dtype != t.dtype:
                mismatched.append(f"variable {t.variable!r} (checkpoint key {t.key!r}) has dtype "
                                  f"{t.dtype.name}, but the checkpoint holds {dtype.name}")
            elif t.shape is not None:
                if t.reshaped:
                    if int(np.prod(t.shape)) != int(np.prod(shape)):
                        mismatched.append(f"variable {t.variable!r} (checkpoint key {t.key!r}) has shape "
                                          f"{_fmt_shape(t.shape)}, which cannot be reshaped from the "
                                          f"checkpoint's {_fmt_shape(shape)}")
                elif tuple(shape) != t.shape:
                    mismatched.append(f"variable {t.variable!r} (checkpoint key {t.key!r}) has shape "
                                      f"{_fmt_shape(t.shape)}, but the checkpoint holds shape {_fmt_shape(shape)}")
        if missing:
            names = ", ".join(f"{t.variable!r}" + (f" (key {t.key!r})" if t.key != t.variable else "")
                              for t in missing[:10])
            more = f" and {len(missing) - 10} more" if len(missing) > 10 else ""
            raise errors.NotFoundError(None, None, (
                f"Restoring from checkpoint failed: checkpoint {prefix} has no value for variable(s) "
                f"{names}{more} ({len(reader)} keys in the checkpoint). This is most likely due to a "
                f"Variable name or other graph key that is missing from the checkpoint."))
        if mismatched:
            raise errors.InvalidArgumentError(None, None, (
                f"Restoring from checkpoint {prefix} failed: " + "; ".join(mismatched[:10]) +
                (f"; and {len(mismatched) - 10} more" if len(mismatched) > 10 else "") +
                ". This is most likely due to a mismatch between the current graph and the graph from "
                "the checkpoint."))


def _wrap_restore_error(err, extra):
    return type(err)(err.node_def, err.op, (
        f"Restoring from checkpoint failed. This is most likely due to {extra} from the checkpoint. Please "
        f"ensure that you have not altered the graph expected based on the checkpoint. Original error:\n\n"
        f"{err.message}"))


# -- Saver ----------------------------------------------------------------------------------------

# Checkpoint prefixes (absolute) whose retention deletion is queued on the background thread.
_pending_deletions = collections.Counter()
_pending_lock = threading.Lock()


def _wait_for_deletion_of(prefix):
    """Waits for queued deletions when one of them is of ``prefix``: a checkpoint saved again under
    a name that retention just dropped must not be deleted after it is written."""
    with _pending_lock:
        pending = _pending_deletions.get(os.path.abspath(prefix))
    if pending:
        io_bundle.wait_for_pending_flushes()


class Saver:
    """``tf.compat.v1.train.Saver``: adds save/restore ops for variables and runs them.

    ``var_list``: a list of Variables (checkpoint keys are their op names) or a dict key → Variable;
    None means every global variable (plus the ``saveable_objects`` collection).

    Example:
        >>> saver = tf.train.Saver({"dense/kernel": w}, max_to_keep=3)
        >>> saver.save(sess, "/tmp/run/model", global_step=100)                  # doctest: +SKIP
        '/tmp/run/model-100'
        >>> saver.restore(sess, tf.train.latest_checkpoint("/tmp/run"))           # doctest: +SKIP
    """

    def __init__(self, var_list=None, reshape=False, sharded=False, max_to_keep=5,
                 keep_checkpoint_every_n_hours=10000.0, name=None, restore_sequentially=False,
                 saver_def=None, builder=None, defer_build=False, allow_empty=False,
                 write_version=saver_pb2.SaverDef.V2, pad_step_number=False, save_relative_paths=False,
                 filename=None):
        if defer_build and var_list:
            raise ValueError("If `var_list` is provided then build cannot be deferred. Either set "
                             "defer_build=False or var_list=None.")
        if write_version != saver_pb2.SaverDef.V2 and saver_def is None:
            raise ValueError(f"write_version {write_version}: gpugraph writes only V2 checkpoints "
                             f"(saver_pb2.SaverDef.V2)")
        if saver_def is not None:
            saver_def = self._as_saver_def(saver_def)
        self._var_list = var_list
        self._reshape = reshape
        self._sharded = sharded
        self._max_to_keep = max_to_keep
        self._keep_checkpoint_every_n_hours = keep_checkpoint_every_n_hours
        self._name = name
        self._restore_sequentially = restore_sequentially
        self.saver_def = saver_def
        self._builder = builder
        self._is_built = False
        self._allow_empty = allow_empty
        self._is_empty = None
        self._write_version = write_version
        self._pad_step_number = pad_step_number
        self._filename = filename
        self._last_checkpoints = []
        self._checkpoints_to_be_deleted = []
        self._recovered_state_files = set()
        self._explicit_last_checkpoints = False
        self._restore_targets = None
        self._next_checkpoint_time = None
        if not defer_build:
            self.build()
        if self.saver_def:
            self._check_saver_def()
            self._write_version = self.saver_def.version
        self._save_relative_paths = save_relative_paths

    @staticmethod
    def _as_saver_def(saver_def):
        if isinstance(saver_def, saver_pb2.SaverDef):
            copy = saver_pb2.SaverDef()
            copy.CopyFrom(saver_def)  # the caller's proto is never modified
            return copy
        if hasattr(saver_def, "SerializeToString") and type(saver_def).__name__ == "SaverDef":
            return saver_pb2.SaverDef.FromString(saver_def.SerializeToString())
        raise ValueError(f"saver_def must be a saver_pb2.SaverDef: {saver_def!r}")

    # -- building ---------------------------------------------------------------------------------
    def build(self):
        """Adds the save/restore ops (needed once when ``defer_build=True``)."""
        self._build(self._filename)

    def _build(self, checkpoint_path):
        if self._is_built:
            return
        self._is_built = True
        if not self.saver_def:
            if self._builder is None:
                self._builder = BulkSaverBuilder(self._write_version)
            if self._var_list is None:
                g = ops.get_default_graph()
                self._var_list = g.get_collection(ops.GraphKeys.GLOBAL_VARIABLES) + \
                    g.get_collection(ops.GraphKeys.SAVEABLE_OBJECTS)
            if not self._var_list:
                if self._allow_empty:
                    self._is_empty = True
                    return
                raise ValueError("No variables to save")
            self._is_empty = False
            self.saver_def = self._builder._build_internal(
                self._var_list, reshape=self._reshape, sharded=self._sharded, max_to_keep=self._max_to_keep,
                keep_checkpoint_every_n_hours=self._keep_checkpoint_every_n_hours, name=self._name,
                restore_sequentially=self._restore_sequentially, filename=checkpoint_path)
        elif self._name:
            d = self.saver_def
            d.filename_tensor_name = meta_graph.prepend_name_scope(d.filename_tensor_name, self._name)
            d.save_tensor_name = meta_graph.prepend_name_scope(d.save_tensor_name, self._name)
            d.restore_op_name = meta_graph.prepend_name_scope(d.restore_op_name, self._name)
        self._check_saver_def()
        self._next_checkpoint_time = time.time() + self.saver_def.keep_checkpoint_every_n_hours * 3600

    def _check_saver_def(self):
        if not isinstance(self.saver_def, saver_pb2.SaverDef):
            raise ValueError(f"saver_def must be a saver_pb2.SaverDef: {self.saver_def!r}")
        if not self.saver_def.save_tensor_name:
            raise ValueError(f"saver_def must specify the save_tensor_name: {self.saver_def}")
        if not self.saver_def.restore_op_name:
            raise ValueError(f"saver_def must specify the restore_op_name: {self.saver_def}")

    def as_saver_def(self):
        """The SaverDef: the names of the filename tensor, save tensor and restore op."""
        return self.saver_def

    def to_proto(self, export_scope=None):
        """This Saver's SaverDef with ``export_scope`` removed (None if its ops are outside it)."""
        if export_scope is None:
            return self.saver_def
        d = self.saver_def
        names = (d.filename_tensor_name, d.save_tensor_name, d.restore_op_name)
        if not all(n.startswith(export_scope) for n in names):
            return None
        out = saver_pb2.SaverDef()
        out.CopyFrom(d)
        out.filename_tensor_name = meta_graph.strip_name_scope(d.filename_tensor_name, export_scope)
        out.save_tensor_name = meta_graph.strip_name_scope(d.save_tensor_name, export_scope)
        out.restore_op_name = meta_graph.strip_name_scope(d.restore_op_name, export_scope)
        return out

    @staticmethod
    def from_proto(saver_def, import_scope=None):
        """A Saver for a SaverDef whose ops are already in the default graph (names scoped)."""
        return Saver(saver_def=saver_def, name=import_scope)

    # -- checkpoint bookkeeping -----------------------------------------------------------------
    @property
    def last_checkpoints(self):
        """Checkpoint prefixes not yet deleted, oldest first."""
        return [p for p, _ in self._last_checkpoints]

    def set_last_checkpoints(self, last_checkpoints):
        """Deprecated: sets the tracked checkpoints (timestamps unknown, so never kept by age)."""
        assert isinstance(last_checkpoints, list)
        self._last_checkpoints = [(s, np.inf) for s in last_checkpoints]
        self._explicit_last_checkpoints = True

    def set_last_checkpoints_with_time(self, last_checkpoints_with_time):
        """Sets the tracked checkpoints as ``[(prefix, timestamp), …]``, oldest first."""
        assert isinstance(last_checkpoints_with_time, list)
        self._last_checkpoints = list(last_checkpoints_with_time)
        self._explicit_last_checkpoints = True

    def recover_last_checkpoints(self, checkpoint_paths):
        """Tracks ``checkpoint_paths`` that still exist, timestamped by their files' mtimes — e.g. after
        a restart: ``saver.recover_last_checkpoints(get_checkpoint_state(d).all_model_checkpoint_paths)``."""
        found = []
        for path in checkpoint_paths:
            mtimes = checkpoint_management.get_checkpoint_mtimes([path])
            if mtimes:
                found.append((path, mtimes[0]))
        self.set_last_checkpoints_with_time(found)

    def _recover_from_state_file(self, save_dir, latest_filename):
        """Picks up where a previous process left off: the checkpoints (and the last kept-by-age
        time) its state file lists, so retention applies across restarts."""
        state_file = os.path.join(save_dir, latest_filename)
        if self._explicit_last_checkpoints or self._last_checkpoints or state_file in self._recovered_state_files:
            return
        self._recovered_state_files.add(state_file)
        try:
            state = checkpoint_management.get_checkpoint_state(save_dir, latest_filename)
        except ValueError:
            return
        if state is None:
            return
        paths = list(state.all_model_checkpoint_paths) or [state.model_checkpoint_path]
        stamps = list(state.all_model_checkpoint_timestamps)
        recovered = []
        for i, path in enumerate(paths):
            if not checkpoint_management.checkpoint_exists(path):
                continue
            if len(stamps) == len(paths):
                recovered.append((path, stamps[i]))
            else:
                recovered.append((path, checkpoint_management.get_checkpoint_mtimes([path])[0]))
        self._last_checkpoints = recovered
        if state.last_preserved_timestamp:
            self._next_checkpoint_time = (state.last_preserved_timestamp +
                                          self.saver_def.keep_checkpoint_every_n_hours * 3600)

    def _record_last_checkpoint(self, path):
        if not self.saver_def.max_to_keep:
            return
        self._last_checkpoints = [p for p in self._last_checkpoints if p[0] != path]
        self._last_checkpoints.append((path, time.time()))
        while len(self._last_checkpoints) > self.saver_def.max_to_keep:
            self._checkpoints_to_be_deleted.append(self._last_checkpoints.pop(0))

    def _maybe_delete_old_checkpoints(self, meta_graph_suffix="meta"):
        """Deletes the checkpoints beyond ``max_to_keep`` that ``keep_checkpoint_every_n_hours`` does not
        keep. The state file (already written) no longer names them, so the deletion runs on the
        checkpoint background thread, off the training loop's path (unlinking a big data file takes
        as long as writing a quarter of it); it is finished at exit, and a save to a prefix whose
        deletion is still queued waits for it first."""
        hours = self.saver_def.keep_checkpoint_every_n_hours
        doomed = []
        while self._checkpoints_to_be_deleted:
            path, stamp = self._checkpoints_to_be_deleted.pop(0)
            if stamp > self._next_checkpoint_time:
                # Kept for good (every N hours); the next one is due N hours later.
                self._next_checkpoint_time += hours * 3600
                continue
            doomed.append(path)
        if not doomed:
            return
        version = self.saver_def.version or saver_pb2.SaverDef.V2

        keys = [os.path.abspath(p) for p in doomed]
        with _pending_lock:
            _pending_deletions.update(keys)

        def delete():
            for path, key in zip(doomed, keys):
                try:
                    checkpoint_management.remove_checkpoint(path, version, meta_graph_suffix)
                except OSError as e:
                    _log.warning("Ignoring: %s", e)
                finally:
                    with _pending_lock:
                        _pending_deletions[key] -= 1
                        if not _pending_deletions[key]:
                            del _pending_deletions[key]
        io_bundle.run_later(delete)

    # -- save / restore ---------------------------------------------------------------------------
    def save(self, sess, save_path, global_step=None, latest_filename=None, meta_graph_suffix="meta",
             write_meta_graph=True, write_state=True, strip_default_attrs=False, save_debug_info=False):
        """Runs the save op; writes ``<prefix>.meta`` and updates the ``checkpoint`` file; returns the
        checkpoint prefix (``save_path`` or ``save_path-<global_step>``), or None for an empty Saver.

        Every file appears atomically (written aside, then renamed), the state file last, so a process
        killed mid-save leaves the previous checkpoints and ``latest_checkpoint`` valid. See
        :mod:`gpugraph.ops.io_bundle` for when the files are fsynced.

        Example:
            >>> saver.save(sess, "/tmp/run/model", global_step=7)                # doctest: +SKIP
            '/tmp/run/model-7'
        """
        if not self._is_built:
            raise RuntimeError("`build()` should be called before save if defer_build==True")
        if latest_filename is None:
            latest_filename = "checkpoint"
        if os.path.split(latest_filename)[0]:
            raise ValueError("'latest_filename' must not contain path components")
        if save_path is None:
            raise ValueError("save_path is None: pass the checkpoint prefix to write, e.g. 'train/model'")
        save_path = os.fspath(save_path)
        save_path = save_path.decode() if isinstance(save_path, bytes) else save_path
        try:
            bundle.check_prefix(save_path)
        except ValueError as e:
            raise ValueError(f"save_path {e}") from None
        if not hasattr(sess, "run") or not hasattr(sess, "graph"):
            raise TypeError(f"'sess' must be a Session; {sess!r}")
        if global_step is not None:
            if not isinstance(global_step, (int, np.integer)):
                global_step = int(np.asarray(sess.run(global_step)))
            checkpoint_file = "%s-%d" % (save_path, global_step)
            if self._pad_step_number:
                checkpoint_file = "%s-%s" % (save_path, "{:08d}".format(global_step))
        else:
            checkpoint_file = save_path
            if os.path.basename(save_path) == latest_filename and not self._sharded:
                raise ValueError(f"'latest_filename' collides with 'save_path': '{latest_filename}' and "
                                 f"'{save_path}'")
        _wait_for_deletion_of(checkpoint_file)
        save_dir = os.path.dirname(save_path)
        sync = io_bundle.sync_enabled()
        written = []
        model_checkpoint_path = None
        if not self._is_empty:
            value = sess.run(self.saver_def.save_tensor_name,
                             {self.saver_def.filename_tensor_name: checkpoint_file})
            value = np.asarray(value, dtype=object).reshape(-1)[0]
            model_checkpoint_path = value.decode("utf-8", "surrogateescape") if isinstance(value, bytes) \
                else str(value)
        if write_meta_graph:
            # Before the state file names the checkpoint: the latest checkpoint always has its .meta.
            meta_file = "%s.%s" % (checkpoint_file, meta_graph_suffix)
            with sess.graph.as_default():
                graph = ops.get_default_graph()
                meta_graph.export_meta_graph(
                    filename=meta_file, graph_def=graph.as_graph_def(add_shapes=True), saver_def=self.saver_def,
                    strip_default_attrs=strip_default_attrs, save_debug_info=save_debug_info, _sync=sync)
            written.append(meta_file)
        if model_checkpoint_path is not None and write_state:
            self._recover_from_state_file(save_dir, latest_filename)
            self._record_last_checkpoint(model_checkpoint_path)
            written.append(self._write_state(save_dir, model_checkpoint_path, latest_filename, sync))
            self._maybe_delete_old_checkpoints(meta_graph_suffix)
        if written and not sync:
            io_bundle.flush_later(written + [save_dir or "."])
        return model_checkpoint_path

    def _write_state(self, save_dir, model_checkpoint_path, latest_filename, sync):
        """Writes the ``checkpoint`` state file (atomically); returns its path. Timestamps and the last
        kept-by-age time are recorded too (TF's fields), so a Saver in a later process applies the same
        retention."""
        stamps = [t for _, t in self._last_checkpoints]
        stamps = stamps if stamps and all(np.isfinite(stamps)) else None
        preserved = self._next_checkpoint_time - self.saver_def.keep_checkpoint_every_n_hours * 3600
        if sync:
            checkpoint_management.update_checkpoint_state(
                save_dir, model_checkpoint_path, all_model_checkpoint_paths=self.last_checkpoints,
                latest_filename=latest_filename, all_model_checkpoint_timestamps=stamps,
                last_preserved_timestamp=preserved, save_relative_paths=self._save_relative_paths)
            return os.path.join(save_dir, latest_filename)
        # update_checkpoint_state without its fsync: the file is flushed in the background with the
        # checkpoint it names.
        paths = list(self.last_checkpoints)
        if self._save_relative_paths:
            def rel(p):
                return os.path.relpath(p, save_dir) if os.path.isabs(p) else p
            model_checkpoint_path = rel(model_checkpoint_path)
            paths = [rel(p) for p in paths]
        state = checkpoint_management.generate_checkpoint_state_proto(
            save_dir, model_checkpoint_path, paths, stamps, preserved)
        filename = os.path.join(save_dir, latest_filename)
        if filename == state.model_checkpoint_path:
            raise RuntimeError("Save path '%s' conflicts with path used for checkpoint state.  Please use a "
                               "different save path." % model_checkpoint_path)
        meta_graph._atomic_write(filename, text_format.MessageToString(state).encode("utf-8"), sync=False)
        return filename

    def export_meta_graph(self, filename=None, collection_list=None, as_text=False, export_scope=None,
                          clear_devices=False, clear_extraneous_savers=False, strip_default_attrs=False,
                          save_debug_info=False):
        """The default graph with this Saver's SaverDef as a MetaGraphDef (written to ``filename``)."""
        graph = ops.get_default_graph()
        return meta_graph.export_meta_graph(
            filename=filename, graph_def=graph.as_graph_def(add_shapes=True), saver_def=self.saver_def,
            collection_list=collection_list, as_text=as_text, export_scope=export_scope,
            clear_devices=clear_devices, clear_extraneous_savers=clear_extraneous_savers,
            strip_default_attrs=strip_default_attrs, save_debug_info=save_debug_info)

    def restore(self, sess, save_path):
        """Runs the restore op with ``save_path`` (a checkpoint prefix) fed. Variables need not be
        initialized. Errors name the checkpoint and every variable it lacks or holds with another
        dtype or shape; nothing is assigned then.

        Example:
            >>> saver.restore(sess, "/tmp/run/model-100")                        # doctest: +SKIP
        """
        if self._is_empty:
            return
        if save_path is None:
            raise ValueError("Can't load save_path when it is None.")
        prefix = os.fspath(save_path)
        prefix = prefix.decode("utf-8", "surrogateescape") if isinstance(prefix, bytes) else prefix
        try:
            bundle.check_prefix(prefix)
        except ValueError as e:
            raise ValueError(f"The passed save_path is not a valid checkpoint: {e}") from None
        if not checkpoint_management.checkpoint_exists(prefix):
            hint = ""
            if os.path.isdir(prefix):
                latest = checkpoint_management.latest_checkpoint(prefix)
                hint = (f" ({prefix} is a directory; pass a checkpoint prefix in it, e.g. {latest!r} from "
                        f"tf.train.latest_checkpoint)") if latest else f" ({prefix} is a directory)"
            raise ValueError(f"The passed save_path is not a valid checkpoint: {prefix} (no file "
                             f"{bundle.index_filename(prefix)}){hint}")
        if self._restore_targets is None or self._restore_targets[0] is not sess.graph:
            self._restore_targets = (sess.graph, _restore_targets(sess.graph, self.saver_def.restore_op_name))
        _check_checkpoint_matches(self._restore_targets[1], prefix)
        try:
            sess.run(self.saver_def.restore_op_name, {self.saver_def.filename_tensor_name: prefix})
        except errors.NotFoundError as err:
            raise _wrap_restore_error(err, "a Variable name or other graph key that is missing") from None
        except errors.InvalidArgumentError as err:
            raise _wrap_restore_error(err, "a mismatch between the current graph and the graph") from None


# -- MetaGraph import / export with tf.compat.v1.train's names -----------------------------------
def _import_meta_graph_with_return_elements(meta_graph_or_file, clear_devices=False, import_scope=None,
                                            return_elements=None, **kwargs):
    mg = meta_graph._as_meta_graph_def(meta_graph_or_file)
    imported_vars, elements = meta_graph.import_scoped_meta_graph_with_return_elements(
        mg, clear_devices=clear_devices, import_scope=import_scope, return_elements=return_elements, **kwargs)
    return _create_saver_from_imported_meta_graph(mg, import_scope, imported_vars), elements


def _create_saver_from_imported_meta_graph(mg, import_scope, imported_vars):
    if mg.HasField("saver_def"):
        scope = import_scope
        if imported_vars:
            key = next(iter(imported_vars))
            scope = imported_vars[key].name[:-len(key)]  # the scope actually used ("tower_1/")
        return Saver(saver_def=mg.saver_def, name=scope)
    g = ops.get_default_graph()
    saveables = g.get_collection(ops.GraphKeys.GLOBAL_VARIABLES, import_scope) + \
        g.get_collection(ops.GraphKeys.SAVEABLE_OBJECTS, import_scope)
    if saveables:
        return Saver()
    _log.info("Saver not created because there are no variables in the graph to restore")
    return None


def import_meta_graph(meta_graph_or_file, clear_devices=False, import_scope=None, **kwargs):
    """``tf.compat.v1.train.import_meta_graph``; see :func:`gpugraph.framework.meta_graph.import_meta_graph`.

    Example:
        >>> saver = tf.train.import_meta_graph("/tmp/run/model-100.meta")      # doctest: +SKIP
    """
    return _import_meta_graph_with_return_elements(meta_graph_or_file, clear_devices, import_scope, **kwargs)[0]


def export_meta_graph(filename=None, meta_info_def=None, graph_def=None, saver_def=None, collection_list=None,
                      as_text=False, graph=None, export_scope=None, clear_devices=False,
                      clear_extraneous_savers=False, strip_default_attrs=False, save_debug_info=False, **kwargs):
    """``tf.compat.v1.train.export_meta_graph``; see :func:`gpugraph.framework.meta_graph.export_meta_graph`.

    Example:
        >>> tf.train.export_meta_graph("/tmp/model.meta", as_text=True)         # doctest: +SKIP
    """
    return meta_graph.export_meta_graph(
        filename=filename, meta_info_def=meta_info_def, graph_def=graph_def, saver_def=saver_def,
        collection_list=collection_list, as_text=as_text, graph=graph, export_scope=export_scope,
        clear_devices=clear_devices, clear_extraneous_savers=clear_extraneous_savers,
        strip_default_attrs=strip_default_attrs, save_debug_info=save_debug_info, **kwargs)
