"""Entity embeddings + Temporal Convolutional Network + fully connected head (paper §3.1.3, Figure 1).

Shapes: B pairs in a batch, T periods, C channels. One forward pass over a pair's whole history
gives a logit at every period from the inputs up to that period (causal), so training is
sequence-to-sequence.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import weight_norm


@dataclass(frozen=True)
class NetworkShape:
    """Sizes read from the data at fit time; stored in checkpoints to rebuild the network."""

    temporal_continuous: int
    static_continuous: int
    temporal_cardinalities: tuple[int, ...]
    static_cardinalities: tuple[int, ...]


def embedding_size(cardinality: int, max_size: int) -> int:
    """fast.ai's rule of thumb, capped: enough capacity for big vocabularies, little for small ones."""
    return int(min(max_size, round(1.6 * cardinality**0.56)))


class _TemporalBlock(nn.Module):
    """Two dilated causal convolutions with a residual connection."""

    def __init__(self, c_in: int, c_out: int, kernel: int, dilation: int, dropout: float, use_weight_norm: bool) -> None:
        super().__init__()
        wrap = weight_norm if use_weight_norm else (lambda m: m)
        self.left_pad = (kernel - 1) * dilation  # pad the past only: no information from the future
        self.conv1 = wrap(nn.Conv1d(c_in, c_out, kernel, dilation=dilation))
        self.conv2 = wrap(nn.Conv1d(c_out, c_out, kernel, dilation=dilation))
        self.dropout = nn.Dropout(dropout)
        self.skip = nn.Conv1d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C_in, T) -> (B, C_out, T)
        h = self.dropout(F.relu(self.conv1(F.pad(x, (self.left_pad, 0)))))
        h = self.dropout(F.relu(self.conv2(F.pad(h, (self.left_pad, 0)))))
        return F.relu(h + self.skip(x))


class TCNNetwork(nn.Module):
    def __init__(
        self,
        shape: NetworkShape,
        *,
        channels: int = 32,
        dilations: tuple[int, ...] = (1, 2, 4),
        kernel_size: int = 3,
        dropout: float = 0.1,
        use_weight_norm: bool = True,
        hidden: tuple[int, ...] = (64, 32, 16),
        max_embedding: int = 16,
    ) -> None:
        super().__init__()
        self.temporal_emb = nn.ModuleList(nn.Embedding(n, embedding_size(n, max_embedding)) for n in shape.temporal_cardinalities)
        self.static_emb = nn.ModuleList(nn.Embedding(n, embedding_size(n, max_embedding)) for n in shape.static_cardinalities)
        c_in = shape.temporal_continuous + sum(e.embedding_dim for e in self.temporal_emb)
        blocks, c = [], c_in
        for d in dilations:
            blocks.append(_TemporalBlock(c, channels, kernel_size, d, dropout, use_weight_norm))
            c = channels
        self.tcn = nn.Sequential(*blocks)
        static_dim = shape.static_continuous + sum(e.embedding_dim for e in self.static_emb)
        layers, width = [], channels + static_dim
        for size in hidden:  # the paper's 3 fully connected ReLU layers
            layers += [nn.Linear(width, size), nn.ReLU(), nn.Dropout(dropout)]
            width = size
        self.head = nn.Sequential(*layers, nn.Linear(width, 1))

    def forward(self, tc: torch.Tensor, tcat: torch.Tensor, sc: torch.Tensor, scat: torch.Tensor) -> torch.Tensor:
        """tc (B, T, Ftc) float, tcat (B, T, Ktc) long, sc (B, Fsc) float, scat (B, Ksc) long -> logits (B, T)."""
        temporal = [tc] + [emb(tcat[..., j]) for j, emb in enumerate(self.temporal_emb)]
        x = torch.cat(temporal, dim=-1).transpose(1, 2)  # (B, C_in, T)
        h = self.tcn(x).transpose(1, 2)  # (B, T, channels)
        static = torch.cat([sc] + [emb(scat[:, j]) for j, emb in enumerate(self.static_emb)], dim=-1)  # (B, S)
        static = static.unsqueeze(1).expand(-1, h.shape[1], -1)  # (B, T, S)
        return self.head(torch.cat([h, static], dim=-1)).squeeze(-1)  # (B, T)
