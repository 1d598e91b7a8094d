"""Converts the UCI optical-recognition digits, as distributed with scikit-learn, into
assets/data/digits.safetensors (the data set frontier ships; users need no Python).

Run once by a developer, from the repository root:

    pip install scikit-learn        # brings NumPy
    python3 scripts/data/digits.py

Writes two tensors (the format of `frontier train --data`, see the README):
  x  F32 [1797, 1, 8, 8]  grey levels 0..16 divided by 16, so in [0, 1]
  y  U8  [1797]           the digit, 0..9
and the source, licence and attribution in the file's `__metadata__`. The safetensors file is
written by hand (an 8-byte little-endian header length, a JSON header, the raw bytes) so that
only scikit-learn and NumPy are needed.
"""
import json
import os
import struct

import numpy as np
from sklearn.datasets import load_digits

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "..", "assets", "data", "digits.safetensors")

METADATA = {
    "name": "UCI optical recognition of handwritten digits (scikit-learn load_digits)",
    "source": "https://archive.ics.uci.edu/dataset/80 via sklearn.datasets.load_digits",
    "license": "CC BY 4.0",
    "attribution": "E. Alpaydin and C. Kaynak (1998), Optical Recognition of Handwritten "
    "Digits, UCI Machine Learning Repository, https://doi.org/10.24432/C50P49",
    "x": "grey level / 16, in [0, 1]",
    "y": "digit 0..9",
}


def save_safetensors(path, tensors, metadata):
    """Writes {name: array} as safetensors (tensors in name order, C order, little endian)."""
    dtypes = {np.dtype("float32"): "F32", np.dtype("uint8"): "U8"}
    header, chunks, offset = {"__metadata__": metadata}, [], 0
    for name in sorted(tensors):
        a = np.ascontiguousarray(tensors[name])
        raw = a.astype(a.dtype.newbyteorder("<")).tobytes()
        header[name] = {
            "dtype": dtypes[a.dtype],
            "shape": list(a.shape),
            "data_offsets": [offset, offset + len(raw)],
        }
        chunks.append(raw)
        offset += len(raw)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)  # align the data to 8 bytes
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for raw in chunks:
            f.write(raw)


def main():
    digits = load_digits()
    images = digits.images.astype(np.float32)  # [1797, 8, 8], 0..16
    assert images.shape == (1797, 8, 8) and images.min() == 0 and images.max() == 16
    x = (images / 16.0).reshape(-1, 1, 8, 8).astype(np.float32)
    y = digits.target.astype(np.uint8)
    save_safetensors(os.path.normpath(OUT), {"x": x, "y": y}, METADATA)
    counts = np.bincount(y, minlength=10)
    print(f"wrote {os.path.normpath(OUT)}: x {x.shape} F32, y {y.shape} U8, counts {counts.tolist()}")


if __name__ == "__main__":
    main()
