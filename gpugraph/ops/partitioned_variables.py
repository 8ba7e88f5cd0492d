"""Partitioned variables: ``get_variable(..., partitioner=...)`` creates ``name/part_0``,
``name/part_1``, … sliced along one axis, each with the ``SaveSliceInfo`` a Saver needs to write them
as one checkpoint tensor; the :class:`PartitionedVariable` converts to their concatenation.

Example:
    >>> emb = tf.get_variable("emb", [10, 4], partitioner=tf.fixed_size_partitioner(3))
    >>> [v.op.name for v in emb], [v.shape.as_list() for v in emb]
    (['emb/part_0', 'emb/part_1', 'emb/part_2'], [[4, 4], [3, 4], [3, 4]])
"""

from gpugraph.framework import dtypes, ops, tensor_shape
from gpugraph.framework.op_builder import apply_op, convert_to_tensor, register_tensor_conversion_function
from gpugraph.ops import variables


class PartitionedVariable:
    """A variable stored as slices ``name/part_i`` along one axis (``get_variable`` with a
    partitioner). Converts to the concatenation of its parts; iterates over the parts."""

    def __init__(self, name, shape, dtype, variable_list, partitions):
        if not isinstance(variable_list, (list, tuple)):
            raise TypeError(f"variable_list is not a list or tuple: {variable_list}")
        if not isinstance(partitions, (list, tuple)):
            raise TypeError(f"partitions is not a list or tuple: {partitions}")
        if not all(p >= 1 for p in partitions):
            raise ValueError(f"partition values must be positive: {partitions}")
        if not variable_list:
            raise ValueError("variable_list may not be empty")
        for v in variable_list:
            info = v._get_save_slice_info()
            if info is None:
                raise ValueError(f"All variables must have a save_slice_info available: "
                                 f"{[v.name for v in variable_list]}")
            if len(shape) != len(partitions):
                raise ValueError(f"len(shape) != len(partitions): {shape} vs. {partitions}")
            if info.full_shape != list(tensor_shape.as_shape(shape).as_list()):
                raise ValueError(f"All variables' full shapes must match shape: {shape}; but full "
                                 f"shapes were: {info.full_shape}")
        self._variable_list = sorted(variable_list, key=lambda v: v._get_save_slice_info().var_offset)
        self._name = name
        self._shape = tensor_shape.as_shape(shape)
        self._dtype = dtypes.as_dtype(dtype)
        self._partitions = list(partitions)

    name = property(lambda self: self._name)
    dtype = property(lambda self: self._dtype)
    shape = property(lambda self: self._shape)

    def get_shape(self):
        return self._shape

    def __iter__(self):
        return iter(self._variable_list)

    def __len__(self):
        axes = self._partition_axes()
        if len(axes) > 1:
            raise ValueError(f"Cannot get a length for {len(axes)} > 1 partition axes")
        return len(self._variable_list)

    def _get_variable_list(self):
        return self._variable_list

    def _get_partitions(self):
        return self._partitions

    def _partition_axes(self):
        if all(p == 1 for p in self._partitions):
            return [0]
        return [i for i, p in enumerate(self._partitions) if p > 1]

    def as_tensor(self):
        """The full value: ``<name>/ConcatPartitions/concat`` of the parts, then ``Identity`` named
        after the variable (as TF's ``_concat``)."""
        with ops.control_dependencies(None):
            if len(self._variable_list) == 1:
                with ops.name_scope(None):
                    return apply_op("Identity", input=self._variable_list[0], name=self._name)
            with ops.name_scope(self._name + "/ConcatPartitions/"):
                concatenated = apply_op("ConcatV2", values=list(self._variable_list),
                                        axis=self._partition_axes()[0], name="concat")
            with ops.name_scope(None):
                return apply_op("Identity", input=concatenated, name=self._name)

    def _dense_var_to_tensor(self, dtype=None, name=None, as_ref=False):
        if dtype is not None and not dtypes.as_dtype(dtype).is_compatible_with(self.dtype):
            raise ValueError(f"Incompatible type conversion requested to type '{dtypes.as_dtype(dtype).name}' "
                             f"for variable of type '{self.dtype.name}'")
        if as_ref:
            raise NotImplementedError("PartitionedVariable doesn't support being used as a reference.")
        return self.as_tensor()

    def _apply_assign_fn(self, assign_fn, value):
        axes = self._partition_axes()
        if len(axes) > 1:
            raise NotImplementedError(f"Cannot do assign action along more than one dimension: {axes}.")
        if isinstance(value, list):
            if len(value) != len(self._variable_list):
                raise ValueError(f"expected {len(self._variable_list)} values, got {len(value)}")
            value_list = value
        elif isinstance(value, PartitionedVariable):
            value_list = list(value)
        else:
            sizes = [tensor_shape.dimension_value(v.shape[axes[0]]) for v in self._variable_list]
            value_list = apply_op("SplitV", value=value, size_splits=convert_to_tensor(sizes),
                                  split_dim=axes[0], num_split=len(sizes), name="split")
        return [assign_fn(var, value_list[i]) for i, var in enumerate(self._variable_list)]

    def assign(self, value, use_locking=False, name=None, read_value=True):
        return self._apply_assign_fn(lambda var, v: var.assign(v, use_locking, name, read_value), value)

    def assign_add(self, value, use_locking=False, name=None, read_value=True):
        return self._apply_assign_fn(lambda var, v: var.assign_add(v, use_locking, name, read_value), value)

    def assign_sub(self, value, use_locking=False, name=None, read_value=True):
        return self._apply_assign_fn(lambda var, v: var.assign_sub(v, use_locking, name, read_value), value)


register_tensor_conversion_function(PartitionedVariable, variables._convert_variable)


class _PartitionInfo:
    """Where one partition sits in the full variable; initializers get it as ``partition_info``."""

    def __init__(self, full_shape, var_offset):
        if len(var_offset) != len(full_shape):
            raise ValueError(f"Expected equal length, but `var_offset` is of length {len(var_offset)} "
                             f"while full_shape is of length {len(full_shape)}.")
        for offset, dim in zip(var_offset, full_shape):
            if offset < 0 or offset >= dim:
                raise ValueError(f"Expected 0 <= offset < shape but found offset={var_offset}, "
                                 f"shape={full_shape}")
        self._full_shape = full_shape
        self._var_offset = var_offset

    full_shape = property(lambda self: self._full_shape)
    var_offset = property(lambda self: self._var_offset)


def _call_partitioner(partitioner, shape, dtype):
    if not shape.is_fully_defined():
        raise ValueError(f"Shape of a new partitioned variable must be fully defined, but instead was "
                         f"{shape}.")
    if shape.ndims < 1:
        raise ValueError(f"A partitioned Variable must have rank at least 1, shape: {shape}")
    slicing = partitioner(shape=shape, dtype=dtype)
    if not isinstance(slicing, (list, tuple)):
        raise ValueError(f"Partitioner must return a sequence, but saw: {slicing}")
    if len(slicing) != shape.ndims:
        raise ValueError(f"Partitioner returned a partition list that does not match the Variable's "
                         f"rank: {slicing} vs. {shape}")
    if any(p < 1 for p in slicing):
        raise ValueError(f"Partitioner returned zero partitions for some axes: {slicing}")
    if sum(p > 1 for p in slicing) > 1:
        raise ValueError(f"Can only slice a variable along one dimension: shape: {shape}, "
                         f"partitioning: {slicing}")
    return list(slicing)


def _get_slice_dim_and_num_slices(slicing):
    for slice_dim, num_slices in enumerate(slicing):
        if num_slices > 1:
            return slice_dim, num_slices
    return 0, 1


def _iter_slices(full_shape, num_slices, slice_dim):
    """(offset, shape) of each slice; the first ``size % num_slices`` slices get one extra row."""
    num_slices_with_excess = full_shape[slice_dim] % num_slices
    offset = [0] * len(full_shape)
    min_slice_len = full_shape[slice_dim] // num_slices
    for i in range(num_slices):
        shape = full_shape[:]
        shape[slice_dim] = min_slice_len + bool(i < num_slices_with_excess)
        yield offset[:], shape
        offset[slice_dim] += shape[slice_dim]


def fixed_size_partitioner(num_shards, axis=0):
    """A partitioner splitting ``axis`` into ``num_shards`` (fewer if the axis is shorter).

    Example:
        >>> emb = tf.get_variable("emb", [100, 8], partitioner=tf.fixed_size_partitioner(4))
    """
    def _partitioner(shape, **unused_args):
        partitions = [1] * len(shape)
        partitions[axis] = min(num_shards, tensor_shape.dimension_value(shape[axis]))
        return partitions
    return _partitioner


def get_partitioned_variable(store, name, partitioner, shape=None, dtype=dtypes.float32,
                             initializer=None, regularizer=None, reuse=None, trainable=None,
                             collections=None, caching_device=None, validate_shape=True,
                             use_resource=None, constraint=None, synchronization=None,
                             aggregation=None):
    """Creates (or reuses) ``name/part_0``, ``name/part_1``, … sliced along one axis, each
    carrying its SaveSliceInfo so a Saver writes them as one checkpoint tensor."""
    initializing_from_value = isinstance(initializer, ops.Tensor)
    if name in store._vars:
        raise ValueError(f"A partitioner was provided, but an unpartitioned version of the variable "
                         f"was found: {name}.  Perhaps a variable of the same name was already "
                         f"created without partitioning?")
    shape = tensor_shape.as_shape(shape)
    if initializing_from_value:
        shape = shape.merge_with(initializer.get_shape())
    partitions = None
    if not reuse or partitioner:
        partitions = _call_partitioner(partitioner, shape, dtype)
    if name in store._partitioned_vars:
        if reuse is False:
            raise ValueError(f"Partitioned variable with name {name} already exists. Did you mean to "
                             f"set reuse=True or reuse=tf.AUTO_REUSE in VarScope?")
        existing = store._partitioned_vars[name]
        if not shape.is_compatible_with(existing.get_shape()):
            raise ValueError(f"Trying to reuse partitioned variable {name}, but specified shape "
                             f"{shape} and found shape {existing.get_shape()}.")
        if not dtype.is_compatible_with(existing.dtype):
            raise ValueError(f"Trying to reuse partitioned variable {name}, but specified dtype "
                             f"{dtype.name} and found dtype {existing.dtype.name}.")
        if partitions is not None and existing._get_partitions() != partitions:
            raise ValueError(f"Trying to reuse partitioned variable {name}, but specified partitions "
                             f"{partitions} and found partitions {existing._get_partitions()}.")
        return existing
    if reuse is True:
        raise ValueError(f"PartitionedVariable {name} does not exist, or was not created with "
                         f"tf.get_variable(). Did you mean to set reuse=False or "
                         f"reuse=tf.AUTO_REUSE in VarScope?")
    slice_dim, num_slices = _get_slice_dim_and_num_slices(partitions)
    if f"{name}/part_0" in store._vars:
        if f"{name}/part_{num_slices - 1}" not in store._vars:
            raise ValueError(f"Partitioner returned a different partitioning than what was already "
                             f"found.  Partitioner returned {num_slices} shards, and shard "
                             f"{name}/part_0 was found, but {name}/part_{num_slices - 1} was not.")
        if f"{name}/part_{num_slices}" in store._vars:
            raise ValueError(f"Partitioner returned a different partitioning than what was already "
                             f"found.  Partitioner returned {num_slices} shards, and shard "
                             f"{name}/part_0 was found, but so was the extra shard "
                             f"{name}/part_{num_slices}.")
    parts = []
    for i, (var_offset, var_shape) in enumerate(_iter_slices(shape.as_list(), num_slices, slice_dim)):
        partition_info = _PartitionInfo(full_shape=shape.as_list(), var_offset=var_offset)
        var_full_name = f"{name}/part_{i}"
        with ops.name_scope(var_full_name + "/PartitionedInitializer"):
            if initializer is None:
                init, from_value = store._get_default_initializer(name, shape, dtype)
                init_shape = None if from_value else var_shape
            elif callable(initializer):
                init, init_shape = initializer, var_shape
            else:
                value = initializer if isinstance(initializer, ops.Tensor) else \
                    convert_to_tensor(initializer, dtype=dtype)
                init = apply_op("Slice", input=value, begin=var_offset, size=var_shape)
                dtype = init.dtype.base_dtype
                init_shape = None
        with ops.name_scope(None):
            var = store._get_single_variable(
                name=var_full_name, shape=init_shape, dtype=dtype, initializer=init,
                partition_info=partition_info, regularizer=regularizer, reuse=reuse,
                trainable=trainable, collections=collections, caching_device=caching_device,
                validate_shape=validate_shape, use_resource=use_resource, constraint=constraint,
                synchronization=synchronization, aggregation=aggregation)
        var._set_save_slice_info(variables.SaveSliceInfo(name, shape.as_list(), var_offset, var_shape))
        parts.append(var)
    partitioned = PartitionedVariable(name=name, shape=shape, dtype=dtype, variable_list=parts,
                                      partitions=partitions)
    store._partitioned_vars[name] = partitioned
    return partitioned
