"""``gpugraph checkpoint``: list a checkpoint's variables; export them to .npz or .safetensors."""

import json
import os
import sys

import numpy as np

from gpugraph.cli._common import CliError, EXIT_OK, Progress, _progress_enabled


# -- checkpoint -----------------------------------------------------------------------------------
def _resolve_prefix(prefix):
    """A checkpoint prefix from a prefix, a training directory (its latest checkpoint) or a SavedModel."""
    from gpugraph.train import checkpoint_management
    if os.path.isdir(prefix):
        if os.path.isfile(os.path.join(prefix, "variables", "variables.index")):
            return os.path.join(prefix, "variables", "variables")
        latest = checkpoint_management.latest_checkpoint(prefix)
        if latest is None:
            raise CliError(f"{prefix} is a directory with no checkpoint (no 'checkpoint' state file naming one, and "
                           f"no SavedModel variables/)")
        return latest
    for suffix in (".index", ".meta"):
        if prefix.endswith(suffix):
            return prefix[:-len(suffix)]
    if ".data-" in os.path.basename(prefix):
        return prefix.rsplit(".data-", 1)[0]
    return prefix


_SAFETENSORS_DTYPES = {"bool": "BOOL", "uint8": "U8", "int8": "I8", "int16": "I16", "uint16": "U16",
                       "float16": "F16", "bfloat16": "BF16", "int32": "I32", "uint32": "U32", "float32": "F32",
                       "float64": "F64", "int64": "I64", "uint64": "U64"}


def write_safetensors(path, tensors, metadata=None, progress=None):
    """Writes ``tensors`` (name → NumPy array) in the safetensors format: an 8-byte little-endian
    header length, a JSON header (``dtype``, ``shape``, ``data_offsets`` per tensor, keys sorted,
    padded with spaces to 8 bytes), then the raw little-endian bytes. Written to a temporary file
    and renamed into place.

    Example:
        >>> write_safetensors("/tmp/w.safetensors", {"w": np.ones((2, 2), np.float32)})
    """
    header, offset, order = {}, 0, sorted(tensors)
    for name in order:
        arr = tensors[name]
        code = _SAFETENSORS_DTYPES.get(arr.dtype.name)
        if code is None:
            raise CliError(f"tensor {name!r} has dtype {arr.dtype}, which safetensors cannot hold")
        header[name] = {"dtype": code, "shape": list(arr.shape), "data_offsets": [offset, offset + arr.nbytes]}
        offset += arr.nbytes
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    blob = json.dumps(header, separators=(",", ":")).encode("utf-8")
    blob += b" " * (-len(blob) % 8)
    tmp = f"{path}.tmp{os.getpid()}"
    try:
        with open(tmp, "wb") as f:
            f.write(len(blob).to_bytes(8, "little"))
            f.write(blob)
            for name in order:
                arr = np.ascontiguousarray(tensors[name])
                if arr.dtype.byteorder == ">":
                    arr = arr.astype(arr.dtype.newbyteorder("<"))
                f.write(arr.tobytes())
                if progress is not None:
                    progress.advance(arr.nbytes)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def read_safetensors(path):
    """The tensors of a safetensors file (name → array), for checks and round trips."""
    import ml_dtypes
    codes = {v: k for k, v in _SAFETENSORS_DTYPES.items()}
    with open(path, "rb") as f:
        n = int.from_bytes(f.read(8), "little")
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        dtype = ml_dtypes.bfloat16 if info["dtype"] == "BF16" else np.dtype(codes[info["dtype"]])
        begin, end = info["data_offsets"]
        out[name] = np.frombuffer(data[begin:end], dtype=dtype).reshape(info["shape"])
    return out


def cmd_checkpoint(args):
    from gpugraph.train import bundle
    prefix = _resolve_prefix(args.prefix)
    try:
        reader = bundle.BundleReader(prefix)
    except Exception as e:  # noqa: BLE001 - named for the user
        raise CliError(f"cannot open checkpoint {prefix}: {e}") from None
    with reader:
        rows = []
        for key in reader.keys():
            dtype, shape = reader.dtype_and_shape(key)
            rows.append({"name": key, "dtype": dtype.name, "shape": list(shape), "bytes": reader.entry(key).size})
        total = sum(r["bytes"] for r in rows)
        if args.json:
            json.dump({"prefix": prefix, "tensors": rows, "bytes": total}, sys.stdout, indent=1)
            sys.stdout.write("\n")
        else:
            width = max([len(r["name"]) for r in rows] + [4])
            print(f"checkpoint {prefix}: {len(rows)} tensors, {total / (1 << 20):.2f} MB")
            for r in rows:
                print(f"  {r['name']:{width}s}  {r['dtype']:10s} {r['shape']}")
        if args.export:
            _export(reader, rows, args.export, prefix, _progress_enabled(args))
    return EXIT_OK


def _export(reader, rows, path, prefix, progress_on):
    lower = path.lower()
    if not lower.endswith((".npz", ".safetensors")):
        raise CliError(f"--export {path}: the file name must end in .npz or .safetensors")
    progress = Progress(f"reading {prefix}", sum(r["bytes"] for r in rows), progress_on)
    tensors, skipped, converted = {}, [], []
    for r in rows:
        value = np.asarray(reader.read(r["name"]))
        progress.advance(r["bytes"])
        if value.dtype == object:
            if lower.endswith(".safetensors"):
                skipped.append(r["name"])
                continue
            value = value.astype(bytes)  # fixed-width bytes: loads without pickle
        elif value.dtype.name == "bfloat16" and lower.endswith(".npz"):
            value = value.astype(np.float32)  # exact; .npy has no bfloat16
            converted.append(r["name"])
        tensors[r["name"]] = value
    progress.done()
    writing = Progress(f"writing {os.path.basename(path)}", sum(v.nbytes for v in tensors.values()), progress_on)
    if lower.endswith(".npz"):
        tmp = f"{path}.tmp{os.getpid()}.npz"
        try:
            np.savez(tmp, **tensors)
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    else:
        write_safetensors(path, tensors, {"format": "np", "source": prefix}, writing)
    writing.done()
    if skipped:
        sys.stderr.write(f"gpugraph checkpoint: skipped {len(skipped)} string tensor(s) safetensors cannot hold: "
                         f"{', '.join(skipped)}\n")
    if converted:
        sys.stderr.write(f"gpugraph checkpoint: wrote bfloat16 tensor(s) as float32 in the .npz: "
                         f"{', '.join(converted)}\n")
    print(f"wrote {len(tensors)} tensors to {path}")


