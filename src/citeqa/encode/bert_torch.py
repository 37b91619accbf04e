"""The bulk path of :class:`~citeqa.encode.bert_numpy.BertEncoder`: its BERT forward pass in torch, bf16 matmuls.

Used only to embed many texts at once (an index build) on a CPU with native
bfloat16 dot products (AVX512-BF16 or AMX), where it is several times faster
than float32. Only the four large matrix products of each layer run in
bfloat16 (accumulating in float32); attention, softmax, GELU, layer norms and
the residual stream stay float32, so vectors agree with the float32 encoder to
a cosine above 0.9999 (tested in ``tests/test_encoder.py``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np

from citeqa.config import switched_off

if TYPE_CHECKING:
    from citeqa.encode.weights import BertWeights


@lru_cache(maxsize=1)
def native_bf16() -> bool:
    """Whether this CPU multiplies bfloat16 natively (Linux ``/proc/cpuinfo`` flags) and ``CITEQA_NO_BF16`` is unset."""
    if switched_off("bf16"):
        return False
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            flags = next((line for line in fh if line.startswith("flags")), "").split()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


@lru_cache(maxsize=1)
def torch_available() -> bool:
    """Whether torch can be imported (without importing it)."""
    if switched_off("torch"):
        return False
    from importlib.util import find_spec

    return find_spec("torch") is not None


class TorchForward:
    """Runs a model's weights through torch; ``forward`` mirrors ``BertEncoder.forward`` of the numpy encoder."""

    def __init__(self, enc: BertWeights, dtype: str = "bfloat16") -> None:
        import torch

        self.torch = torch
        self.dtype = getattr(torch, dtype)
        self.heads = enc.heads
        self.eps = float(enc.eps)
        t = torch.from_numpy
        self.word = t(enc.word)
        self.pos_type = t(enc.pos_type)
        self.ln0 = tuple(t(x) for x in enc.ln0)
        self.layers = [
            {
                "qkv": (t(ly.qkv_w).t().contiguous().to(self.dtype), t(ly.qkv_b)),
                "out": (t(ly.out_w).t().contiguous().to(self.dtype), t(ly.out_b)),
                "up": (t(ly.up_w).t().contiguous().to(self.dtype), t(ly.up_b)),
                "down": (t(ly.down_w).t().contiguous().to(self.dtype), t(ly.down_b)),
                "ln1": tuple(t(x) for x in ly.ln1),
                "ln2": tuple(t(x) for x in ly.ln2),
            }
            for ly in enc.layers
        ]

    @contextmanager
    def single_threaded_ops(self) -> Iterator[None]:
        """Run torch ops on one thread each, so that one batch per core runs in parallel Python threads."""
        before = self.torch.get_num_threads()
        self.torch.set_num_threads(1)
        try:
            yield
        finally:
            self.torch.set_num_threads(before)

    def _linear(self, x, wb):
        w, b = wb
        return self.torch.nn.functional.linear(x.to(self.dtype), w).float() + b

    def forward(self, batch: list[list[int]]) -> np.ndarray:
        """Mean-pooled last hidden states (not normalised) of a batch of token id lists."""
        torch = self.torch
        h, mask = self._states(batch)
        with torch.inference_mode():
            m = mask.unsqueeze(-1).float()
            pooled = (h * m).sum(1) / m.sum(1).clamp(min=1e-9)
        return pooled.numpy()

    def hidden(self, batch: list[list[int]]) -> np.ndarray:
        """Last hidden states ``(texts, width, dim)`` of a batch of token id lists (padding rows are junk)."""
        return self._states(batch)[0].numpy()

    def _states(self, batch: list[list[int]]):
        torch = self.torch
        F = torch.nn.functional
        n, width = len(batch), max(len(x) for x in batch)
        ids = torch.zeros((n, width), dtype=torch.long)
        mask = torch.zeros((n, width), dtype=torch.bool)
        for i, x in enumerate(batch):
            ids[i, : len(x)] = torch.tensor(x)
            mask[i, : len(x)] = True
        with torch.inference_mode():
            h = self.word[ids] + self.pos_type[:width]
            dim = h.shape[-1]
            h = F.layer_norm(h, (dim,), *self.ln0, eps=self.eps)
            attn_mask = mask[:, None, None, :]
            hd = dim // self.heads
            for ly in self.layers:
                qkv = self._linear(h, ly["qkv"]).view(n, width, 3, self.heads, hd).permute(2, 0, 3, 1, 4)
                ctx = F.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2], attn_mask=attn_mask)
                ctx = ctx.transpose(1, 2).reshape(n, width, dim)
                h = F.layer_norm(self._linear(ctx, ly["out"]) + h, (dim,), *ly["ln1"], eps=self.eps)
                up = F.gelu(self._linear(h, ly["up"]))
                h = F.layer_norm(self._linear(up, ly["down"]) + h, (dim,), *ly["ln2"], eps=self.eps)
        return h, mask
