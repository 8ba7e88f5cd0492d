"""The save/restore subgraph of a :class:`~gpugraph.train.saver.Saver`, built as TF1's
``BulkSaverBuilder`` builds it: the saveables (what is written under which checkpoint key), and the
builders that add SaveV2 / RestoreV2 / MergeV2Checkpoints and the assignments with TensorFlow's node
names and devices.

Example:
    >>> saveables = validate_and_slice_inputs([w, b])       # sorted by checkpoint key   # doctest: +SKIP
    >>> saver_def = BulkSaverBuilder().build(saveables)     # adds save/… nodes          # doctest: +SKIP
    >>> saver_def.restore_op_name                                                        # doctest: +SKIP
    'save/restore_all'
"""

import os

from gpugraph.framework import device as device_lib
from gpugraph.framework import ops
from gpugraph.framework.op_builder import apply_op, constant, convert_to_tensor
from gpugraph.ops import io_ops, state_ops
from gpugraph.protos import saver_pb2

_REF_VARIABLE_OPS = frozenset(["Variable", "VariableV2", "AutoReloadVariable"])
_VARIABLE_OPS = _REF_VARIABLE_OPS | {"VarHandleOp", "ReadVariableOp"}

# -- saveables ------------------------------------------------------------------------------------
class SaveSpec:
    """One tensor a saveable writes: its value tensor, slice spec ("" = whole), checkpoint key."""

    def __init__(self, tensor, slice_spec, name, dtype=None, device=None):
        self.tensor = tensor
        self.slice_spec = slice_spec
        self.name = name
        self.dtype = (dtype or tensor.dtype).base_dtype
        self.device = tensor.device if device is None else device


class SaveableObject:
    """Something the Saver writes as ``specs`` and rebuilds with :meth:`restore` (returns an op)."""

    def __init__(self, op, specs, name):
        self.op = op
        self.specs = specs
        self.name = name

    @property
    def device(self):
        return self.specs[0].device

    def restore(self, restored_tensors, restored_shapes):
        raise NotImplementedError


class ReferenceVariableSaveable(SaveableObject):
    """A ref variable (``VariableV2``): saved from its ref tensor, restored by ``Assign``."""

    def __init__(self, var, slice_spec, name):
        super().__init__(var, [SaveSpec(var, slice_spec, name, dtype=var.dtype)], name)

    def restore(self, restored_tensors, restored_shapes):
        restored = restored_tensors[0]
        if restored_shapes is not None:
            restored = _reshape(restored, restored_shapes[0])
        return state_ops.assign(self.op, restored,
                                validate_shape=restored_shapes is None and self.op.shape.is_fully_defined())


class ResourceVariableSaveable(SaveableObject):
    """A resource variable, given by its read tensor: restored by ``AssignVariableOp`` on its device."""

    def __init__(self, var, slice_spec, name):
        self._var_device = var.device
        self._var_shape = var.shape
        self.handle_op = var.op.inputs[0]
        super().__init__(var, [SaveSpec(var, slice_spec, name, dtype=var.dtype, device=var.device)], name)

    def restore(self, restored_tensors, restored_shapes):
        restored = restored_tensors[0]
        if restored_shapes is not None:
            restored = _reshape(restored, restored_shapes[0])
        g = ops.get_default_graph()
        with g.device(self._var_device):
            restored = apply_op("Identity", input=restored)
            if not self._var_shape.is_compatible_with(restored.shape):
                raise ValueError(f"Received incompatible tensor with shape {restored.shape} when attempting to "
                                 f"restore variable with shape {self._var_shape} and name {self.name}.")
            return apply_op("AssignVariableOp", resource=self.handle_op, value=restored)


def _reshape(tensor, shape):
    """``Reshape`` named like TF's wrapper (a static shape becomes the Const ``Reshape/shape``)."""
    g = ops.get_default_graph()
    with g.name_scope("Reshape") as scope:
        if not isinstance(shape, ops.Tensor):
            shape = constant(shape.as_list(), dtype="int32", name="shape")
        return apply_op("Reshape", tensor=tensor, shape=shape, name=scope)


def _variable_classes():
    from gpugraph.ops import variables
    return variables


def _is_resource_variable(var):
    """A resource variable (VarHandleOp-backed): has a ``handle``; ref variables do not."""
    return isinstance(var, _variable_classes().Variable) and hasattr(var, "handle")


def _partitioned_class():
    try:
        from gpugraph.ops.partitioned_variables import PartitionedVariable
    except ImportError:  # the family may not exist in every build
        return ()
    return PartitionedVariable


def _tensor_comes_from_variable(v):
    return isinstance(v, ops.Tensor) and v.op.type in _VARIABLE_OPS


def _flatten(items):
    for x in items:
        if isinstance(x, (list, tuple, set)):
            yield from _flatten(x)
        else:
            yield x


def op_list_to_dict(op_list, convert_variable_to_tensor=True):
    """Checkpoint key → variable (or list of slices) for a list of Variables/saveables; keys are the
    variables' op names. Raises ValueError for two variables with one name."""
    if not isinstance(op_list, (list, tuple, set)):
        raise TypeError(f"Variables to save should be passed in a dict or a list. Got {op_list!r}")
    variables = _variable_classes()
    partitioned = _partitioned_class()
    op_list = sorted(_flatten(list(op_list)), key=lambda x: x.name)
    names = {}
    for var in op_list:
        if isinstance(var, SaveableObject):
            names[var.name] = var
        elif partitioned and isinstance(var, partitioned):
            if var.name in names:
                raise ValueError(f"At least two variables have the same name: {var.name}")
            names[var.name] = var
        elif isinstance(var, variables.Variable) and var._get_save_slice_info():
            name = var._get_save_slice_info().full_name
            if name in names:
                if not isinstance(names[name], list):
                    raise ValueError(f"Mixing slices and non-slices with the same name: {name}")
                names[name].append(var)
            else:
                names[name] = [var]
        else:
            if convert_variable_to_tensor:
                if _is_resource_variable(var):
                    var = var._graph_element
                elif isinstance(var, variables.Variable):
                    var = convert_to_tensor(var, as_ref=True)
                if not _tensor_comes_from_variable(var):
                    raise TypeError(f"Variable to save is not a Variable: {var!r}")
            name = var.op.inputs[0].op.name if var.op.type == "ReadVariableOp" else var.op.name
            if name in names:
                raise ValueError(f"At least two variables have the same name: {name}")
            names[name] = var
    return names


def _saveables_for_op(op, name):
    partitioned = _partitioned_class()
    if isinstance(op, SaveableObject):
        yield op
        return
    if (partitioned and isinstance(op, partitioned)) or isinstance(op, (list, tuple)):
        slices = list(op)
        for var in slices:
            info = var._get_save_slice_info()
            if info is None:
                raise ValueError(f"Slices must all be slices of one partitioned variable: {var!r}")
            if info.full_name != name:
                raise ValueError(f"Slice for variable {name!r} has full_name {info.full_name!r}")
            yield from _saveables_for_var(var, info.spec, name)
        return
    yield from _saveables_for_var(op, "", name)


def _saveables_for_var(op, slice_spec, name):
    variables = _variable_classes()
    if _is_resource_variable(op):
        yield ResourceVariableSaveable(op._graph_element, slice_spec, name)
        return
    if isinstance(op, variables.Variable):
        yield ReferenceVariableSaveable(convert_to_tensor(op, as_ref=True), slice_spec, name)
        return
    if not _tensor_comes_from_variable(op):
        raise TypeError(f"names_to_saveables must be a dict mapping string names to Tensors/Variables. "
                        f"Not a variable: {op!r}")
    if op.op.type in _REF_VARIABLE_OPS:
        yield ReferenceVariableSaveable(op, slice_spec, name)
    elif op.op.type == "ReadVariableOp":
        yield ResourceVariableSaveable(op, slice_spec, name)
    else:
        raise TypeError(f"cannot save the resource handle {op.name} directly: pass the Variable or its "
                        f"ReadVariableOp tensor")


def validate_and_slice_inputs(names_to_saveables):
    """The SaveableObjects for ``names_to_saveables`` (dict or list), sorted by checkpoint key."""
    if not isinstance(names_to_saveables, dict):
        names_to_saveables = op_list_to_dict(names_to_saveables)
    saveables, seen = [], set()
    for name, op in sorted(names_to_saveables.items(), key=lambda x: x[0]):
        if not isinstance(name, str):
            raise TypeError(f"checkpoint keys must be strings, got {name!r} for {op!r}")
        for saveable in _saveables_for_op(op, name):
            key = saveable.op
            if key is not None:
                if key in seen:
                    raise ValueError(f"The same saveable will be restored with two names: {saveable.name}")
                seen.add(key)
            saveables.append(saveable)
    return saveables


# -- graph helpers with TensorFlow's node naming ------------------------------------------------
def _no_op(name=None):
    return apply_op("NoOp", name=name)


def _group_control_deps(dev, deps, name=None):
    g = ops.get_default_graph()
    with g.control_dependencies(deps), g.device(dev):
        return _no_op(name=name)


def _group(deps, name):
    """TF's ``tf.group``: one NoOp after ``deps``; with deps on several devices, one NoOp per device
    (``name/NoOp``, ``name/NoOp_1``, …) and ``name`` after those."""
    g = ops.get_default_graph()
    with g.name_scope(name) as scope:
        if not deps:
            return _no_op(name=scope)
        by_device = {}
        for op in deps:
            by_device.setdefault(op.device, []).append(op)
        if len(by_device) == 1:
            (dev, ops_on_device), = by_device.items()
            return _group_control_deps(dev, ops_on_device, name=scope)
        parts = [_group_control_deps(dev, by_device[dev]) for dev in sorted(by_device)]
        with g.control_dependencies(parts):
            return _no_op(name=scope)


def _with_dependencies(dependencies, output_tensor):
    """``Identity(output_tensor)`` run after ``dependencies``, colocated with ``output_tensor``."""
    g = ops.get_default_graph()
    with g.name_scope("control_dependency") as scope:
        with g.colocate_with(output_tensor.op), g.control_dependencies(dependencies):
            return apply_op("Identity", input=output_tensor, name=scope)


def _set_cpu0(device):
    """The CPU:0 of the job/replica/task of ``device`` (where TF puts a shard's file ops)."""
    spec = device_lib.DeviceSpec.from_string(device or "")
    return spec.replace(device_type="CPU", device_index=0).to_string()


# -- builders -------------------------------------------------------------------------------------
class BaseSaverBuilder:
    """Adds the save/restore nodes for a list of saveables (TF1's ``BaseSaverBuilder``): one
    ``RestoreV2`` per variable; :class:`BulkSaverBuilder` (the default) restores all in one."""

    SaveSpec = SaveSpec
    SaveableObject = SaveableObject
    VariableSaveable = ReferenceVariableSaveable
    ResourceVariableSaveable = ResourceVariableSaveable

    def __init__(self, write_version=saver_pb2.SaverDef.V2):
        self._write_version = write_version

    def save_op(self, filename_tensor, saveables):
        names, tensors, slices = [], [], []
        for saveable in saveables:
            for spec in saveable.specs:
                names.append(spec.name)
                tensors.append(spec.tensor)
                slices.append(spec.slice_spec)
        if self._write_version != saver_pb2.SaverDef.V2:
            raise RuntimeError(f"Unexpected write_version: {self._write_version} (only V2 checkpoints "
                               f"are written)")
        return io_ops.save_v2(filename_tensor, names, slices, tensors)

    def bulk_restore(self, filename_tensor, saveables, preferred_shard, restore_sequentially):
        g = ops.get_default_graph()
        tensors = []
        for saveable in saveables:
            device = _set_cpu0(saveable.device) if saveable.device else None
            with g.device(device):
                tensors.extend(self.restore_op(filename_tensor, saveable, preferred_shard))
        return tensors

    def restore_op(self, filename_tensor, saveable, preferred_shard):
        return [io_ops.restore_v2(filename_tensor, [spec.name], [spec.slice_spec], [spec.dtype])[0]
                for spec in saveable.specs]

    def sharded_filename(self, filename_tensor, shard, num_shards):
        return io_ops.sharded_filename(filename_tensor, shard, num_shards)

    def _AddSaveOps(self, filename_tensor, saveables):  # noqa: N802 - TensorFlow's method names
        save = self.save_op(filename_tensor, saveables)
        return _with_dependencies([save], filename_tensor)

    def _AddShardedSaveOpsForV2(self, checkpoint_prefix, per_device):  # noqa: N802
        # Each device's shard is written to "<prefix>_temp/part-SSSSS-of-NNNNN" (".part" on S3), then
        # MergeV2Checkpoints renames the data files into place and writes one index.
        g = ops.get_default_graph()
        with g.device("CPU"):
            is_s3 = io_ops.regex_full_match(checkpoint_prefix, "^s3://.*")
            suffix = apply_op("Select", condition=is_s3, t=constant(".part"),
                              e=constant(os.path.normpath("_temp/part")))
            tmp_prefix = io_ops.string_join([checkpoint_prefix, suffix])
        num_shards = constant(len(per_device), name="num_shards")
        sharded_saves, sharded_prefixes, last_device = [], [], None
        for shard, (device, saveables) in enumerate(per_device):
            last_device = device
            with g.device(_set_cpu0(device)):
                filename = self.sharded_filename(tmp_prefix, shard, num_shards)
                sharded_prefixes.append(filename)
                sharded_saves.append(self._AddSaveOps(filename, saveables))
        with g.control_dependencies([x.op for x in sharded_saves]):
            with g.device(_set_cpu0(last_device)):
                merge = io_ops.merge_v2_checkpoints(sharded_prefixes, checkpoint_prefix, delete_old_dirs=True)
                with g.control_dependencies([merge]):
                    return apply_op("Identity", input=checkpoint_prefix)

    def _AddShardedSaveOps(self, filename_tensor, per_device):  # noqa: N802
        return self._AddShardedSaveOpsForV2(filename_tensor, per_device)

    def _AddRestoreOps(self, filename_tensor, saveables, restore_sequentially, reshape,  # noqa: N802
                       preferred_shard=-1, name="restore_all"):
        all_tensors = self.bulk_restore(filename_tensor, saveables, preferred_shard, restore_sequentially)
        assign_ops, idx = [], 0
        for saveable in saveables:
            shapes = None
            if reshape:
                shapes = []
                for spec in saveable.specs:
                    shape = spec.tensor.shape
                    if not shape.is_fully_defined():
                        shape = apply_op("Shape", input=spec.tensor)
                    shapes.append(shape)
            tensors = all_tensors[idx:idx + len(saveable.specs)]
            idx += len(saveable.specs)
            restored = saveable.restore(tensors, shapes)
            assign_ops.append(restored.op if isinstance(restored, ops.Tensor) else restored)
        return _group(assign_ops, name=name)

    def _AddShardedRestoreOps(self, filename_tensor, per_device, restore_sequentially, reshape):  # noqa: N802
        g = ops.get_default_graph()
        restores = []
        for shard, (device, saveables) in enumerate(per_device):
            with g.device(device):
                restores.append(self._AddRestoreOps(filename_tensor, saveables, restore_sequentially, reshape,
                                                    preferred_shard=shard, name="restore_shard"))
        return _group(restores, name="restore_all")

    def _GroupByDevices(self, saveables):  # noqa: N802
        per_device = {}
        for saveable in saveables:
            devices = {device_lib.canonical_name(spec.device) for spec in saveable.specs}
            if len(devices) != 1:
                raise ValueError(f"All tensors of a saveable object must be on the same device: {saveable.name}")
            per_device.setdefault(devices.pop(), []).append(saveable)
        return sorted(per_device.items(), key=lambda t: t[0])

    def build(self, names_to_saveables, reshape=False, sharded=False, max_to_keep=5,
              keep_checkpoint_every_n_hours=10000.0, name=None, restore_sequentially=False, filename="model"):
        """Adds the save and restore nodes; returns their SaverDef."""
        return self._build_internal(names_to_saveables, reshape, sharded, max_to_keep,
                                    keep_checkpoint_every_n_hours, name, restore_sequentially, filename)

    def _build_internal(self, names_to_saveables, reshape=False, sharded=False, max_to_keep=5,
                        keep_checkpoint_every_n_hours=10000.0, name=None, restore_sequentially=False,
                        filename="model", build_save=True, build_restore=True):
        if not (build_save and build_restore):
            raise ValueError("save and restore operations need to be built together in graph mode")
        saveables = validate_and_slice_inputs(names_to_saveables)
        if max_to_keep is None:
            max_to_keep = 0
        with ops.name_scope(name, "save", [s.op for s in saveables if s.op is not None]):
            g = ops.get_default_graph()
            with g.name_scope("filename") as scope:
                default = constant(filename or "model", name="input")
                filename_tensor = apply_op("PlaceholderWithDefault", input=default, shape=[], name=scope)
            # Kept as "save/Const" (a PlaceholderWithDefault): the name every TF1 SaverDef uses.
            filename_tensor = apply_op("PlaceholderWithDefault", input=filename_tensor, shape=[], name="Const")
            if sharded:
                per_device = self._GroupByDevices(saveables)
                save_tensor = self._AddShardedSaveOps(filename_tensor, per_device)
                restore_op = self._AddShardedRestoreOps(filename_tensor, per_device, restore_sequentially, reshape)
            else:
                save_tensor = self._AddSaveOps(filename_tensor, saveables)
                restore_op = self._AddRestoreOps(filename_tensor, saveables, restore_sequentially, reshape)
        return saver_pb2.SaverDef(
            filename_tensor_name=filename_tensor.name, save_tensor_name=save_tensor.name,
            restore_op_name=restore_op.name, max_to_keep=max_to_keep, sharded=sharded,
            keep_checkpoint_every_n_hours=keep_checkpoint_every_n_hours, version=self._write_version)


class BulkSaverBuilder(BaseSaverBuilder):
    """Restores every variable with one ``RestoreV2`` on CPU:0 (TF1's default builder)."""

    def bulk_restore(self, filename_tensor, saveables, preferred_shard, restore_sequentially):
        specs = [(spec.name, spec.slice_spec, spec.dtype) for s in saveables for spec in s.specs]
        names, slices, dtypes = zip(*specs)
        with ops.get_default_graph().device("cpu:0"):
            return io_ops.restore_v2(filename_tensor, list(names), list(slices), list(dtypes))
