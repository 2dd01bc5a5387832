"""Reader for the idx file format of MNIST and Fashion-MNIST.

An idx file is a big-endian header followed by the raw array:

    bytes 0-1   0x00 0x00
    byte  2     dtype code (0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32,
                0x0D float32, 0x0E float64)
    byte  3     number of dimensions (1 for labels, 3 for images)
    then        one big-endian uint32 per dimension, then the data.

So the magic number of a uint8 label file is 2049 (0x00000801) and that of a
uint8 image file is 2051 (0x00000803). Files may be gzipped.
"""

import gzip
import os
import zlib

import numpy as np

# idx dtype code -> big-endian NumPy dtype.
IDX_DTYPES = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
LABELS_MAGIC = 2049
IMAGES_MAGIC = 2051
_GZIP_MAGIC = b"\x1f\x8b"


class CorruptDatasetError(ValueError):
    """A data file exists but its content is not what it should be.

    Attributes:
        path: the offending file.
        reason: what is wrong with it, in words.
    """

    def __init__(self, path, reason):
        self.path = os.fspath(path)
        self.reason = reason
        super().__init__(f"Corrupt data file {self.path}: {reason}")

    def __reduce__(self):
        return type(self), (self.path, self.reason)


def _read_bytes(path):
    """Returns the (decompressed) content of `path`; gzip is sniffed."""
    with open(path, "rb") as f:
        head = f.read(2)
    if head != _GZIP_MAGIC:
        with open(path, "rb") as f:
            return f.read()
    try:
        with gzip.open(path, "rb") as f:
            return f.read()
    except (EOFError, OSError, zlib.error) as e:
        raise CorruptDatasetError(path, f"truncated or corrupt gzip stream ({e})") from e


def read_idx(path, ndim=None):
    """Reads an idx file (raw or gzipped) into a NumPy array.

    The header is validated and the payload must hold exactly the product of
    the dimensions; anything else raises `CorruptDatasetError` naming the file
    and the problem, so a damaged download never turns into garbage arrays.

    Args:
        path: path to an idx file, e.g. `train-images-idx3-ubyte.gz`. Gzip is
            detected from the content, not from the name.
        ndim: optional expected number of dimensions (3 for images, 1 for
            labels). `None` accepts any.

    Returns:
        A NumPy array in native byte order with the shape given by the header
        (e.g. `(60000, 28, 28)` uint8 for Fashion-MNIST training images).

    Raises:
        CorruptDatasetError: (a `ValueError`) bad magic, unknown dtype code,
            wrong number of dimensions, truncated header, payload of the wrong
            size, or a truncated gzip stream.
        FileNotFoundError: `path` does not exist.

    Examples:

        >>> x = read_idx("t10k-images-idx3-ubyte.gz", ndim=3)  # doctest: +SKIP
        >>> x.shape, x.dtype                                    # doctest: +SKIP
        ((10000, 28, 28), dtype('uint8'))
    """
    if ndim is not None and (not isinstance(ndim, int) or ndim < 1):
        raise ValueError(f"`ndim` must be a positive integer or None. Received: ndim={ndim!r}")
    data = _read_bytes(path)
    if len(data) < 4:
        raise CorruptDatasetError(
            path, f"file holds {len(data)} bytes, too short for an idx header"
        )
    magic = int.from_bytes(data[:4], "big")
    zeros, code, file_ndim = data[:2], data[2], data[3]
    if zeros != b"\x00\x00" or code not in IDX_DTYPES or file_ndim == 0:
        raise CorruptDatasetError(
            path,
            f"bad magic {magic} (0x{magic:08x}), expected {LABELS_MAGIC} "
            f"(labels) or {IMAGES_MAGIC} (images), or another idx header "
            "0x0000<dtype code><ndim>",
        )
    if ndim is not None and file_ndim != ndim:
        raise CorruptDatasetError(
            path,
            f"expected a {ndim}-d idx file, found a {file_ndim}-d one (magic {magic})",
        )
    header_size = 4 + 4 * file_ndim
    if len(data) < header_size:
        raise CorruptDatasetError(
            path,
            f"truncated header: {file_ndim} dimensions need {header_size} "
            f"bytes, file holds {len(data)}",
        )
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(file_ndim))
    dtype = IDX_DTYPES[code]
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    found = len(data) - header_size
    if found != expected:
        what = "pixels" if file_ndim == 3 else "data"
        raise CorruptDatasetError(
            path,
            f"expected {expected} bytes of {what} for shape {shape}, found {found}",
        )
    array = np.frombuffer(data, dtype=dtype, offset=header_size)
    return array.reshape(shape).astype(dtype.newbyteorder("="))


def write_idx(path, array):
    """Writes `array` as an idx file (gzipped when `path` ends in `.gz`).

    The inverse of `read_idx`; handy for tests and for converting data.

    Args:
        path: destination path.
        array: a NumPy array whose dtype is one of the idx dtypes (uint8,
            int8, int16, int32, float32, float64) with at least 1 dimension.

    Examples:

        >>> write_idx("labels-idx1-ubyte.gz", np.arange(10, dtype="uint8"))
        ...     # doctest: +SKIP
    """
    array = np.asarray(array)
    codes = {dt.newbyteorder("="): c for c, dt in IDX_DTYPES.items()}
    dtype = array.dtype.newbyteorder("=")
    if dtype not in codes:
        raise ValueError(
            "`array` must have an idx dtype (uint8, int8, int16, int32, "
            f"float32, float64). Received: array.dtype={array.dtype}"
        )
    if array.ndim < 1:
        raise ValueError(
            f"`array` must have at least 1 dimension. Received: array.shape={array.shape}"
        )
    header = bytes([0, 0, codes[dtype], array.ndim])
    header += b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    big = IDX_DTYPES[codes[dtype]]
    payload = header + array.astype(big).tobytes()
    opener = gzip.open if os.fspath(path).endswith(".gz") else open
    with opener(path, "wb") as f:
        f.write(payload)
