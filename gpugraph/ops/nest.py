"""A small ``tf.nest``: flatten and rebuild nested lists, tuples, namedtuples and dicts.

Control-flow builders accept loop variables and branch results in any such structure; leaves are
everything else (Tensors, TensorArrays, Python numbers). Dicts flatten in sorted key order, as
TensorFlow's nest does.

Example:
    >>> flatten((1, [2, {"b": 4, "a": 3}]))
    [1, 2, 3, 4]
    >>> pack_sequence_as((0, [0, 0]), [5, 6, 7])
    (5, [6, 7])
"""

import collections.abc


def is_nested(x):
    """True for lists, tuples (incl. namedtuples) and mappings."""
    return isinstance(x, (list, tuple, collections.abc.Mapping))


def _children(x):
    if isinstance(x, collections.abc.Mapping):
        return [x[k] for k in sorted(x)]
    return list(x)


def flatten(structure):
    """The leaves of ``structure``, depth first."""
    if not is_nested(structure):
        return [structure]
    out = []
    for child in _children(structure):
        out.extend(flatten(child))
    return out


def _rebuild(template, children):
    if isinstance(template, collections.abc.Mapping):
        keys = sorted(template)
        pairs = dict(zip(keys, children))
        try:
            return type(template)((k, pairs[k]) for k in template)
        except TypeError:
            return {k: pairs[k] for k in template}
    if isinstance(template, tuple) and hasattr(template, "_fields"):
        return type(template)(*children)
    if isinstance(template, tuple):
        return tuple(children)
    return list(children)


def pack_sequence_as(structure, flat_sequence):
    """``flat_sequence`` arranged like ``structure`` (ValueError when the counts differ)."""
    flat_sequence = list(flat_sequence)
    expected = len(flatten(structure))
    if expected != len(flat_sequence):
        raise ValueError(f"The structure has {expected} leaves but the flat sequence has "
                         f"{len(flat_sequence)} elements")
    it = iter(flat_sequence)

    def build(s):
        if not is_nested(s):
            return next(it)
        return _rebuild(s, [build(c) for c in _children(s)])

    return build(structure)


def _same_sequence_type(x, y):
    if isinstance(x, collections.abc.Mapping) or isinstance(y, collections.abc.Mapping):
        return isinstance(x, collections.abc.Mapping) and isinstance(y, collections.abc.Mapping)
    if hasattr(x, "_fields") or hasattr(y, "_fields"):  # namedtuples: same name and fields
        return getattr(x, "_fields", None) == getattr(y, "_fields", None) and \
            type(x).__name__ == type(y).__name__
    return type(x) is type(y)


def assert_same_structure(a, b, check_types=True):
    """ValueError naming both structures when they nest differently; TypeError (``check_types``)
    when a list stands where the other has a tuple, or namedtuples differ."""
    def check(x, y):
        if is_nested(x) != is_nested(y):
            raise ValueError(f"The two structures don't have the same nested structure.\n\nFirst "
                             f"structure: {a}\n\nSecond structure: {b}")
        if not is_nested(x):
            return
        if isinstance(x, collections.abc.Mapping) != isinstance(y, collections.abc.Mapping) or \
                (check_types and not _same_sequence_type(x, y)):
            raise TypeError(f"The two structures don't have the same sequence type: {type(x).__name__} "
                            f"and {type(y).__name__}.\n\nFirst structure: {a}\n\nSecond structure: {b}")
        if isinstance(x, collections.abc.Mapping) and sorted(x) != sorted(y):
            raise ValueError(f"The two dictionaries don't have the same set of keys: {sorted(x)} and "
                             f"{sorted(y)}")
        cx, cy = _children(x), _children(y)
        if len(cx) != len(cy):
            raise ValueError(f"The two structures don't have the same number of elements.\n\nFirst "
                             f"structure: {a}\n\nSecond structure: {b}")
        for p, q in zip(cx, cy):
            check(p, q)
    check(a, b)


def map_structure(fn, *structures):
    """``fn`` applied leaf-wise to structures of the same shape; the result has that shape."""
    for s in structures[1:]:
        assert_same_structure(structures[0], s)
    flats = [flatten(s) for s in structures]
    return pack_sequence_as(structures[0], [fn(*leaves) for leaves in zip(*flats)])
