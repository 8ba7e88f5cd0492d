"""Generated protobuf bindings (see protos/generate.py)."""
