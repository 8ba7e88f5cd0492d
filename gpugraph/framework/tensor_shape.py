"""Static tensor shapes with TensorFlow 1.x (``tf.compat.v1``) behaviour.

A shape is either of unknown rank (``TensorShape(None)``) or a tuple of
dimensions, each an ``int`` or unknown (``None``). As in TF1, indexing and
iterating yield :class:`Dimension` objects, whose comparisons return ``None``
when a value is unknown.

Example:
    >>> s = TensorShape([2, None])
    >>> s
    TensorShape([Dimension(2), Dimension(None)])
    >>> str(s), s[0], s[0].value, s.as_list()
    ('(2, ?)', Dimension(2), 2, [2, None])
    >>> s.merge_with([None, 3]).as_list()
    [2, 3]
"""

from __future__ import annotations

import functools
import operator

from gpugraph.protos import tensor_shape_pb2


class Dimension:
    """The size of one dimension: a non-negative int, or unknown (``None``).

    Arithmetic with an unknown operand gives an unknown result; comparisons
    with an unknown operand give ``None`` (neither true nor false).

    Example:
        >>> Dimension(3) + 1, Dimension(None) * 2, Dimension(None) == 3
        (Dimension(4), Dimension(None), None)
    """

    __slots__ = ("_value",)

    def __init__(self, value):
        if isinstance(value, Dimension):
            self._value = value._value
            return
        if value is None:
            self._value = None
            return
        try:
            value = int(value.__index__())
        except AttributeError:
            raise TypeError(
                "Dimension value must be an integer, None or have an __index__ method, "
                "got %r of type %s" % (value, type(value).__name__)
            ) from None
        if value < 0:
            raise ValueError("Dimension %d must be >= 0" % value)
        self._value = value

    @property
    def value(self):
        """The size as an int, or None if unknown."""
        return self._value

    def __repr__(self):
        return "Dimension(%r)" % (self._value,)

    def __str__(self):
        return "?" if self._value is None else str(self._value)

    def __int__(self):
        return self._value

    def __index__(self):
        return self._value

    def __bool__(self):
        return bool(self._value)

    def __reduce__(self):
        return Dimension, (self._value,)

    # -- compatibility ---------------------------------------------------------

    def is_compatible_with(self, other) -> bool:
        """True unless both values are known and differ."""
        other = as_dimension(other)
        return self._value is None or other._value is None or self._value == other._value

    def assert_is_compatible_with(self, other):
        """Raise ValueError naming both dimensions if they are not compatible."""
        if not self.is_compatible_with(other):
            raise ValueError("Dimensions %s and %s are not compatible" % (self, as_dimension(other)))

    def merge_with(self, other) -> "Dimension":
        """The more specific of two compatible dimensions.

        Example:
            >>> Dimension(None).merge_with(4)
            Dimension(4)
        """
        other = as_dimension(other)
        self.assert_is_compatible_with(other)
        return Dimension(other._value if self._value is None else self._value)

    # -- comparisons: None when either side is unknown ---------------------------

    def _compare(self, other, op):
        try:
            other = as_dimension(other)
        except (TypeError, ValueError):
            return NotImplemented
        if self._value is None or other._value is None:
            return None
        return op(self._value, other._value)

    def __eq__(self, other):
        return self._compare(other, operator.eq)

    def __ne__(self, other):
        return self._compare(other, operator.ne)

    def __lt__(self, other):
        return self._compare(other, operator.lt)

    def __le__(self, other):
        return self._compare(other, operator.le)

    def __gt__(self, other):
        return self._compare(other, operator.gt)

    def __ge__(self, other):
        return self._compare(other, operator.ge)

    # Like TensorFlow: defining __eq__ makes Dimension unhashable.
    __hash__ = None

    # -- arithmetic: unknown when either side is unknown -----------------------

    def _arith(self, other, op, reverse=False):
        try:
            other = as_dimension(other)
        except (TypeError, ValueError):
            return NotImplemented
        if self._value is None or other._value is None:
            return Dimension(None)
        a, b = (other._value, self._value) if reverse else (self._value, other._value)
        return Dimension(op(a, b))

    def __add__(self, other):
        return self._arith(other, operator.add)

    def __radd__(self, other):
        return self._arith(other, operator.add, reverse=True)

    def __sub__(self, other):
        return self._arith(other, operator.sub)

    def __rsub__(self, other):
        return self._arith(other, operator.sub, reverse=True)

    def __mul__(self, other):
        return self._arith(other, operator.mul)

    def __rmul__(self, other):
        return self._arith(other, operator.mul, reverse=True)

    def __floordiv__(self, other):
        return self._arith(other, operator.floordiv)

    def __rfloordiv__(self, other):
        return self._arith(other, operator.floordiv, reverse=True)

    def __mod__(self, other):
        return self._arith(other, operator.mod)

    def __rmod__(self, other):
        return self._arith(other, operator.mod, reverse=True)

    def __truediv__(self, other):
        raise TypeError(
            "unsupported operand type(s) for /: 'Dimension' and '%s', please use // instead"
            % type(other).__name__
        )

    def __rtruediv__(self, other):
        raise TypeError(
            "unsupported operand type(s) for /: '%s' and 'Dimension', please use // instead"
            % type(other).__name__
        )


def as_dimension(value) -> Dimension:
    """``value`` if it is a Dimension, else ``Dimension(value)``."""
    return value if isinstance(value, Dimension) else Dimension(value)


def dimension_value(dimension):
    """The plain value (int or None) of a Dimension, int or None.

    Example:
        >>> dimension_value(TensorShape([3])[0]), dimension_value(None)
        (3, None)
    """
    if isinstance(dimension, Dimension):
        return dimension.value
    return dimension


def dimension_at_index(shape, index) -> Dimension:
    """``shape[index]`` as a Dimension; ``Dimension(None)`` if the rank is unknown."""
    shape = as_shape(shape)
    if shape.rank is None:
        return Dimension(None)
    return shape.dims[index]


def _is_shape_proto(value) -> bool:
    # Also accepts TensorFlow's own TensorShapeProto (same fields, other package).
    descriptor = getattr(value, "DESCRIPTOR", None)
    return getattr(descriptor, "name", None) == "TensorShapeProto"


class TensorShape:
    """The static shape of a tensor: unknown rank, or a list of (possibly unknown) dims.

    Built from ``None`` (unknown rank), a list/tuple (or other iterable) of
    ints, ``None`` and Dimensions, a single int (rank 1), a ``TensorShapeProto``
    or another TensorShape.

    Example:
        >>> TensorShape(None).rank is None
        True
        >>> TensorShape([1, None, 3])[1:].as_list()
        [None, 3]
        >>> TensorShape([2, 3]).as_proto().dim[1].size
        3
    """

    __slots__ = ("_dims",)

    def __init__(self, dims):
        if isinstance(dims, (tuple, list)):
            self._dims = tuple(as_dimension(d).value for d in dims)
        elif dims is None:
            self._dims = None
        elif isinstance(dims, TensorShape):
            self._dims = dims._dims
        elif _is_shape_proto(dims):
            if dims.unknown_rank:
                self._dims = None
            else:
                self._dims = tuple(None if d.size == -1 else as_dimension(d.size).value for d in dims.dim)
        else:
            try:
                items = iter(dims)
            except TypeError:
                # A single dimension: TensorShape(10) is the shape (10,).
                self._dims = (as_dimension(dims).value,)
                return
            converted = []
            for d in items:
                try:
                    converted.append(as_dimension(d).value)
                except TypeError as exc:
                    raise TypeError(
                        "Failed to convert %r to a shape: %r could not be converted to a dimension. "
                        "A shape is a single dimension (e.g. 10) or an iterable of dimensions "
                        "(e.g. [1, 10, None])" % (dims, d)
                    ) from exc
            self._dims = tuple(converted)

    # -- rank and dimensions ---------------------------------------------------

    @property
    def rank(self):
        """The number of dimensions, or None if unknown."""
        return None if self._dims is None else len(self._dims)

    @property
    def ndims(self):
        """Same as :attr:`rank` (the TF1 name)."""
        return self.rank

    @property
    def dims(self):
        """A list of :class:`Dimension`, or None if the rank is unknown."""
        if self._dims is None:
            return None
        return [Dimension(d) for d in self._dims]

    def __len__(self):
        if self._dims is None:
            raise ValueError("Cannot take the length of shape with unknown rank.")
        return len(self._dims)

    def __bool__(self):
        # TF: a shape is "truthy" when its rank is known (even a scalar).
        return self._dims is not None

    def __iter__(self):
        if self._dims is None:
            raise ValueError("Cannot iterate over a shape with unknown rank.")
        return iter([Dimension(d) for d in self._dims])

    def __getitem__(self, key):
        """A Dimension for an int index, a TensorShape for a slice."""
        if self._dims is not None:
            if isinstance(key, slice):
                return TensorShape(self._dims[key])
            return Dimension(self._dims[key])
        if isinstance(key, slice):
            # Unknown rank: a slice with known bounds still has a known rank.
            start = key.start if key.start is not None else 0
            stop = key.stop
            if key.step is not None:
                raise ValueError("Steps are not yet handled for slices of a shape with unknown rank")
            if stop is None or start < 0 or stop < 0:
                return unknown_shape()
            return unknown_shape(rank=max(stop - start, 0))
        return Dimension(None)

    def as_list(self):
        """The dimensions as ints and Nones; ValueError if the rank is unknown."""
        if self._dims is None:
            raise ValueError("as_list() is not defined on an unknown TensorShape.")
        return list(self._dims)

    def num_elements(self):
        """The number of elements (1 for a scalar), or None unless fully defined."""
        if not self.is_fully_defined():
            return None
        return functools.reduce(operator.mul, self._dims, 1)

    def is_fully_defined(self) -> bool:
        return self._dims is not None and all(d is not None for d in self._dims)

    def assert_is_fully_defined(self):
        if not self.is_fully_defined():
            raise ValueError("Shape %s is not fully defined" % self)

    # -- combining -----------------------------------------------------------------

    def is_compatible_with(self, other) -> bool:
        """True if some fully defined shape matches both (unknowns match anything).

        Example:
            >>> TensorShape([32, None]).is_compatible_with([None, 784])
            True
        """
        other = as_shape(other)
        if self._dims is None or other._dims is None:
            return True
        if len(self._dims) != len(other._dims):
            return False
        return all(a is None or b is None or a == b for a, b in zip(self._dims, other._dims))

    def assert_is_compatible_with(self, other):
        other = as_shape(other)
        if not self.is_compatible_with(other):
            raise ValueError("Shapes %s and %s are incompatible" % (self, other))

    def merge_with(self, other) -> "TensorShape":
        """The most specific shape that both describe; ValueError naming both if none.

        Example:
            >>> TensorShape([None, 2]).merge_with([3, None]).as_list()
            [3, 2]
        """
        other = as_shape(other)
        if self._dims is None:
            return other
        if other._dims is None:
            return self
        if not self.is_compatible_with(other):
            raise ValueError("Shapes %s and %s are not compatible" % (self, other))
        return TensorShape([b if a is None else a for a, b in zip(self._dims, other._dims)])

    def most_specific_compatible_shape(self, other) -> "TensorShape":
        """The most specific shape compatible with both: differing dims become unknown."""
        other = as_shape(other)
        if self._dims is None or other._dims is None or len(self._dims) != len(other._dims):
            return unknown_shape()
        return TensorShape([a if a is not None and a == b else None for a, b in zip(self._dims, other._dims)])

    def concatenate(self, other) -> "TensorShape":
        """Dimensions of ``self`` then of ``other``; unknown rank if either is."""
        other = as_shape(other)
        if self._dims is None or other._dims is None:
            return unknown_shape()
        return TensorShape(self._dims + other._dims)

    def __add__(self, other):
        return self.concatenate(other)

    def __radd__(self, other):
        return as_shape(other).concatenate(self)

    __concat__ = concatenate

    # -- rank checks -----------------------------------------------------------

    def assert_same_rank(self, other):
        other = as_shape(other)
        if self.rank is not None and other.rank is not None and self.rank != other.rank:
            raise ValueError("Shapes %s and %s must have the same rank" % (self, other))

    def assert_has_rank(self, rank):
        if self.rank not in (None, rank):
            raise ValueError("Shape %s must have rank %d" % (self, rank))

    def with_rank(self, rank) -> "TensorShape":
        """``self`` with its rank set to ``rank`` (an unknown shape gains one)."""
        try:
            return self.merge_with(unknown_shape(rank=rank))
        except ValueError:
            raise ValueError("Shape %s must have rank %d" % (self, rank)) from None

    def with_rank_at_least(self, rank) -> "TensorShape":
        if self.rank is not None and self.rank < rank:
            raise ValueError("Shape %s must have rank at least %d" % (self, rank))
        return self

    def with_rank_at_most(self, rank) -> "TensorShape":
        if self.rank is not None and self.rank > rank:
            raise ValueError("Shape %s must have rank at most %d" % (self, rank))
        return self

    # -- protos, equality, printing ------------------------------------------------

    def as_proto(self) -> tensor_shape_pb2.TensorShapeProto:
        """A ``TensorShapeProto``: ``unknown_rank`` set, or one dim per axis (size -1 if unknown)."""
        if self._dims is None:
            return tensor_shape_pb2.TensorShapeProto(unknown_rank=True)
        return tensor_shape_pb2.TensorShapeProto(
            dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=-1 if d is None else d) for d in self._dims]
        )

    def __eq__(self, other):
        """Same rank and the same dims, unknowns included (TF: ``[1, None] == [1, None]``)."""
        try:
            other = as_shape(other)
        except (TypeError, ValueError):
            return NotImplemented
        return self._dims == other._dims

    def __hash__(self):
        return hash(self._dims)

    def __reduce__(self):
        return TensorShape, (None if self._dims is None else list(self._dims),)

    def __repr__(self):
        if self._dims is None:
            return "TensorShape(None)"
        return "TensorShape(%r)" % (self.dims,)

    def __str__(self):
        if self._dims is None:
            return "<unknown>"
        text = ", ".join("?" if d is None else str(d) for d in self._dims)
        return "(%s,)" % text if len(self._dims) == 1 else "(%s)" % text


def as_shape(shape) -> TensorShape:
    """``shape`` if it is a TensorShape, else ``TensorShape(shape)``."""
    return shape if isinstance(shape, TensorShape) else TensorShape(shape)


def unknown_shape(rank=None, **kwargs) -> TensorShape:
    """An unknown shape, of unknown rank unless ``rank`` is given.

    Example:
        >>> unknown_shape(rank=2).as_list()
        [None, None]
    """
    if rank is None and "ndims" in kwargs:  # the TF1 spelling
        rank = kwargs.pop("ndims")
    if kwargs:
        raise TypeError("unknown_shape() got unexpected arguments: %s" % sorted(kwargs))
    if rank is None:
        return TensorShape(None)
    return TensorShape([None] * rank)


def scalar() -> TensorShape:
    """The shape of a scalar: ``TensorShape([])``."""
    return TensorShape([])


def vector(length) -> TensorShape:
    """The shape of a vector: ``TensorShape([length])``."""
    return TensorShape([length])


def matrix(rows, cols) -> TensorShape:
    """The shape of a matrix: ``TensorShape([rows, cols])``."""
    return TensorShape([rows, cols])
