"""``gpugraph.layers``: ``tf.compat.v1.layers`` (dense, conv2d, pooling, flatten, dropout) — filled
from the op modules' EXPORTS tables (see gpugraph/_api.py; the functions live in
:mod:`gpugraph.ops.layers_v1`).

Example:
    >>> y = tf.layers.dense(tf.layers.flatten(x), 10, activation=tf.nn.relu)
"""
