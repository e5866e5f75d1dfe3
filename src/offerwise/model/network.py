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
    offer_index: int | None = None  # position of the period's own offer % in the temporal continuous inputs


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
        offer_term: bool = False,
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
        # logit += s(pair) x offer_t: the paper's sigmoid-in-offer response made structural, with a
        # slope that varies with the consumer's and item's static inputs. Starts at 0 (no effect assumed).
        self.offer_index = shape.offer_index if offer_term else None
        if self.offer_index is not None:
            self.offer_slope = nn.Linear(static_dim, 1)
            nn.init.zeros_(self.offer_slope.weight)
            nn.init.zeros_(self.offer_slope.bias)

    def _static(self, sc: torch.Tensor, scat: torch.Tensor) -> torch.Tensor:
        return torch.cat([sc] + [emb(scat[:, j]) for j, emb in enumerate(self.static_emb)], dim=-1)  # (B, S)

    def _temporal(self, tc: torch.Tensor, tcat: torch.Tensor) -> torch.Tensor:
        return torch.cat([tc] + [emb(tcat[..., j]) for j, emb in enumerate(self.temporal_emb)], dim=-1)  # (..., C_in)

    def _logits(self, h: torch.Tensor, static: torch.Tensor, tc: torch.Tensor) -> torch.Tensor:
        """h (B, T, channels), static (B, S), tc (B, T, Ftc) -> (B, T)."""
        logits = self.head(torch.cat([h, static.unsqueeze(1).expand(-1, h.shape[1], -1)], dim=-1)).squeeze(-1)
        if self.offer_index is not None:
            logits = logits + self.offer_slope(static) * tc[..., self.offer_index]
        return logits

    def forward(self, tc: torch.Tensor, tcat: torch.Tensor, sc: torch.Tensor, scat: torch.Tensor) -> torch.Tensor:
        """tc (B, T, Ftc) float, tcat (B, T, Ktc) long, sc (B, Fsc) float, scat (B, Ksc) long -> logits (B, T)."""
        h = self.tcn(self._temporal(tc, tcat).transpose(1, 2)).transpose(1, 2)  # (B, T, channels)
        return self._logits(h, self._static(sc, scat), tc)

    def _trunk(self, tc: torch.Tensor, tcat: torch.Tensor) -> tuple[torch.Tensor, list[tuple[torch.Tensor, torch.Tensor]]]:
        """The blocks' output (B, channels, T) and each block's left-padded inputs to its two
        convolutions: the arithmetic of _TemporalBlock.forward (in eval mode), kept for `_at_column`."""
        x = self._temporal(tc, tcat).transpose(1, 2)  # (B, C_in, T)
        padded = []
        for block in self.tcn:
            xp = F.pad(x, (block.left_pad, 0))
            h1p = F.pad(F.relu(block.conv1(xp)), (block.left_pad, 0))
            padded.append((xp, h1p))
            x = F.relu(F.relu(block.conv2(h1p)) + block.skip(x))
        return x, padded

    def _at_column(self, padded: list[tuple[torch.Tensor, torch.Tensor]], column: int, x: torch.Tensor) -> torch.Tensor:
        """The blocks' output at `column` (G, B, channels) for G variants x (G, B, C_in) of that period's
        block input. Causality makes this exact: the activations before `column` are unchanged, so each
        convolution's earlier taps are summed once (`_earlier_taps`) and only its last tap, the period
        itself, is a product per variant (a convolution per variant and position costs ~10x more)."""
        for block, (xp, h1p) in zip(self.tcn, padded):
            w1, w2 = block.conv1.weight, block.conv2.weight  # (C_out, C_in, kernel), weight norm applied
            h1 = F.relu(_earlier_taps(block.conv1, w1, xp, column) + x @ w1[:, :, -1].T)
            h2 = F.relu(_earlier_taps(block.conv2, w2, h1p, column) + h1 @ w2[:, :, -1].T)
            skip = x if isinstance(block.skip, nn.Identity) else x @ block.skip.weight[:, :, 0].T + block.skip.bias
            x = F.relu(h2 + skip)
        return x

    @torch.no_grad()
    def column_logits(
        self,
        tc: torch.Tensor,
        tcat: torch.Tensor,
        sc: torch.Tensor,
        scat: torch.Tensor,
        columns: list[int],
        varied: list[tuple[int, list[tuple[torch.Tensor, torch.Tensor]]]] = (),
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits at `columns` from the inputs as given (B, len(columns)), and for each (column, variants)
        of `varied` the logits at that column for each variant (tc_at (B, Ftc), tcat_at (B, Ktc)) of its
        inputs, the rest as given: (B, G) with the G variants of every column side by side, in order.

        One pass over the sequence serves them all: scoring needs a few periods, not all T (the head runs
        only there), and a variant recomputes only its own period's activations (`_at_column`).
        """
        x, padded = self._trunk(tc, tcat)
        static = self._static(sc, scat)
        observed = self._logits(x[..., columns].transpose(1, 2), static, tc[:, columns, :])
        out = [observed[:, :0]]
        for at, variants in varied:
            tc_at, tcat_at = torch.stack([v[0] for v in variants]), torch.stack([v[1] for v in variants])  # (G, B, ...)
            h = self._at_column(padded, at, self._temporal(tc_at, tcat_at))  # (G, B, channels)
            out.append(self._logits(h.transpose(0, 1), static, tc_at.transpose(0, 1)))  # the variants in the head's period axis
        return observed, torch.cat(out, dim=1)


def _earlier_taps(conv: nn.Conv1d, weight: torch.Tensor, padded: torch.Tensor, column: int) -> torch.Tensor:
    """(B, C_out): the convolution's bias plus its taps before the last at output `column` of the
    left-padded input (B, C_in, left_pad + T), whose window starts at padded index `column`."""
    dilation = conv.dilation[0]
    out = conv.bias.expand(padded.shape[0], -1)
    for j in range(weight.shape[-1] - 1):
        out = out + padded[:, :, column + j * dilation] @ weight[:, :, j].T
    return out
