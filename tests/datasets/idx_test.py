"""Tests for the idx reader: round trips and every kind of corruption."""

import gzip

import numpy as np
import pytest

from keras_ceb.datasets import CorruptDatasetError
from keras_ceb.datasets import read_idx
from keras_ceb.datasets import write_idx


def _header(magic, *dims):
    return magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in dims)


@pytest.mark.parametrize("name", ["images-idx3-ubyte", "images-idx3-ubyte.gz"])
def test_round_trip_uint8_images_raw_and_gzip(tmp_path, name):
    images = np.arange(2 * 28 * 28, dtype="uint8").reshape(2, 28, 28)
    write_idx(tmp_path / name, images)
    with open(tmp_path / name, "rb") as f:
        is_gzip = f.read(2) == b"\x1f\x8b"
    assert is_gzip == name.endswith(".gz")
    out = read_idx(tmp_path / name, ndim=3)
    assert out.dtype == np.uint8 and out.shape == (2, 28, 28)
    np.testing.assert_array_equal(out, images)
    out[0, 0, 0] = 7  # The result is writable, not a view of a bytes object.


def test_header_is_the_standard_one(tmp_path):
    write_idx(tmp_path / "labels", np.arange(5, dtype="uint8"))
    data = (tmp_path / "labels").read_bytes()
    assert data[:8] == _header(2049, 5)
    write_idx(tmp_path / "images", np.zeros((3, 4, 5), "uint8"))
    assert (tmp_path / "images").read_bytes()[:16] == _header(2051, 3, 4, 5)


@pytest.mark.parametrize("dtype", ["int8", "int16", "int32", "float32", "float64"])
def test_other_idx_dtypes_are_read_in_native_byte_order(tmp_path, dtype):
    values = (np.arange(12) - 5).astype(dtype).reshape(3, 4)
    write_idx(tmp_path / "x.idx", values)
    out = read_idx(tmp_path / "x.idx")
    assert out.dtype == np.dtype(dtype) and out.dtype.isnative
    np.testing.assert_array_equal(out, values)


def test_gzip_is_detected_from_content_not_name(tmp_path):
    raw = _header(2049, 3) + bytes([1, 2, 3])
    (tmp_path / "labels.gz").write_bytes(raw)  # Misnamed, not compressed.
    (tmp_path / "labels").write_bytes(gzip.compress(raw))  # Compressed, no .gz.
    np.testing.assert_array_equal(read_idx(tmp_path / "labels.gz"), [1, 2, 3])
    np.testing.assert_array_equal(read_idx(tmp_path / "labels"), [1, 2, 3])


def test_bad_magic(tmp_path):
    path = tmp_path / "bad-idx1-ubyte"
    path.write_bytes(_header(1234, 3) + bytes(3))
    with pytest.raises(CorruptDatasetError, match="bad magic 1234") as info:
        read_idx(path)
    message = str(info.value)
    assert str(path) in message and "2049" in message and "2051" in message
    assert isinstance(info.value, ValueError)
    assert info.value.path == str(path)


def test_unknown_dtype_code_is_bad_magic(tmp_path):
    path = tmp_path / "x"
    path.write_bytes(bytes([0, 0, 0x42, 1]) + (3).to_bytes(4, "big") + bytes(3))
    with pytest.raises(CorruptDatasetError, match="bad magic"):
        read_idx(path)


def test_truncated_payload(tmp_path):
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(_header(2051, 60000, 28, 28) + bytes(1000))
    with pytest.raises(
        CorruptDatasetError,
        match=r"expected 47040000 bytes of pixels for shape \(60000, 28, 28\), "
        "found 1000",
    ) as info:
        read_idx(path, ndim=3)
    assert str(path) in str(info.value)


def test_trailing_bytes_are_an_error_too(tmp_path):
    path = tmp_path / "labels"
    path.write_bytes(_header(2049, 3) + bytes(4))
    with pytest.raises(CorruptDatasetError, match="expected 3 bytes of data"):
        read_idx(path)


def test_truncated_gzip(tmp_path):
    path = tmp_path / "t10k-images-idx3-ubyte.gz"
    write_idx(path, np.random.default_rng(0).integers(0, 256, (50, 28, 28), "uint8"))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CorruptDatasetError, match="truncated or corrupt gzip") as info:
        read_idx(path)
    assert str(path) in str(info.value)


def test_corrupt_gzip_body(tmp_path):
    path = tmp_path / "labels.gz"
    path.write_bytes(b"\x1f\x8b\x08\x00" + b"\xff" * 40)
    with pytest.raises(CorruptDatasetError, match="gzip"):
        read_idx(path)


def test_wrong_ndim(tmp_path):
    path = tmp_path / "train-labels-idx1-ubyte"
    write_idx(path, np.zeros(10, "uint8"))
    with pytest.raises(CorruptDatasetError, match="expected a 3-d idx file, found a 1-d one"):
        read_idx(path, ndim=3)
    assert read_idx(path, ndim=1).shape == (10,)


@pytest.mark.parametrize(
    "content, match",
    [
        (b"\x00\x00", "too short for an idx header"),
        (b"\x00\x00\x08\x03" + bytes(6), "truncated header"),
    ],
)
def test_truncated_header(tmp_path, content, match):
    path = tmp_path / "x"
    path.write_bytes(content)
    with pytest.raises(CorruptDatasetError, match=match):
        read_idx(path)


def test_missing_file_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_idx(tmp_path / "nope.gz")


def test_argument_validation(tmp_path):
    with pytest.raises(ValueError, match=r"Received: ndim=0$"):
        read_idx(tmp_path / "x", ndim=0)
    with pytest.raises(ValueError, match=r"Received: array.dtype=int64$"):
        write_idx(tmp_path / "x", np.zeros(3, "int64"))
    with pytest.raises(ValueError, match=r"Received: array.shape=\(\)$"):
        write_idx(tmp_path / "x", np.uint8(3))
