"""``gpugraph.losses``: ``tf.compat.v1.losses`` — filled from the op modules' EXPORTS tables (see
gpugraph/_api.py; the functions live in :mod:`gpugraph.ops.losses_impl`).

Example:
    >>> loss = tf.losses.sparse_softmax_cross_entropy(labels, logits)
"""
