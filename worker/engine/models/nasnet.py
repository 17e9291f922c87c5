"""NASNet-A for CIFAR with ScheduledDropPath (Zoph et al. 2018, arXiv 1707.07012).

A faithful port of TF-slim's `nets/nasnet/nasnet.py` (`build_nasnet_cifar`, `_build_nasnet_base`) and
`nasnet_utils.py` (`NasNetABaseCell`, `NasNetANormalCell`, `NasNetAReductionCell`), read top to bottom:
the cells' genotypes as data, the operations, the cell that builds itself from a genotype, the network.
Any genotype of the paper's search space builds (`model.genotype`; its 13 operations at stride 1 and 2,
blocks combined by addition or concatenation); NASNet-A's cells are the default.

The network, "NASNet-A (N @ 24F)" in the paper's Table 1: a 3x3 stem conv with 3F filters, then three
stages of N normal cells with a reduction cell between stages; stage s works with F * 2^s filters and a
cell outputs a concatenation of several branches (6 for a normal cell, 4 for a reduction cell), so the last
stage's output has 6 * 4F = 24F channels (768 for F = 32). An auxiliary head sits after the last normal
cell of the second stage (the 2/3 point); training returns `(logits, aux_logits)` and the loss is
`CE(logits) + model.aux_weight * CE(aux_logits)`.

ScheduledDropPath (Zoph et al. 2018, arXiv:1707.07012; TF-slim `_apply_drop_path`, drop_connect_version
"v3"): the output of every operation other than the identity is dropped per sample, with a keep probability that falls
linearly with the cell's depth and with training progress. Progress lives in the 0-d buffer `progress`
(saved in the state_dict, so a resumed run continues its schedule) that the training loop sets every step
with `set_training_progress`; the forward reads it on the device, so the schedule costs no host sync and
no recompilation under torch.compile.

Parameter counts (CIFAR-10; weights, BN gamma/beta and FC, no running statistics), without / with the
auxiliary head, which exists only for training (TF-slim builds it only when `is_training`), so the paper's
counts are the ones without it:
  (N=6, F=32): 3,346,538 / 4,978,036, the paper's 3.3M (+1.4%);
  (N=7, F=96): 32,590,954 / 34,320,756, not the paper's 27.6M (+18%).
The cells are TF-slim's to the parameter: the same cells assembled as TF-slim's ImageNet models give
exactly its NASNet-A Mobile (5,289,978) and Large (88,753,150) counts (tests/unit/test_nasnet.py). TF-slim's
CIFAR builder itself gives 32.6M for N=7, F=96; no single architecture matches both 3.3M and 27.6M under
N 6 -> 7, F 32 -> 96 (the ratio is 9.7, not 8.4), while N=6, F=96 (the same 2304 penultimate filters)
gives 28.2M, so the paper's "7 @ 2304" row is probably a different N or a different count.

Deviations from TF-slim, none of which changes a parameter: stride-2 convolutions and pools pad
symmetrically (TF's SAME pads the odd pixel at the bottom/right, so its windows sit one pixel later), and
the classifier keeps PyTorch's default initialization rather than TF-slim's fan-out He init.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from worker.engine.batch_norm import GhostBatchNorm2d
from worker.engine.genotype import NASNET_A, OPERATIONS, CellGenotype, Genotype
from worker.engine.regularizers import drop_path

__all__ = ["NASNetCIFAR", "NORMAL_CELL", "REDUCTION_CELL", "OPERATIONS", "build", "keep_probability"]


# ------------------------------------------------------------------------------------------ genotypes

# The cells as data live in worker/engine/genotype.py (torch-free, part of the spec); NASNet-A's are the
# default. TF-slim NasNetANormalCell and NasNetAReductionCell, the paper's Fig. 4.
NORMAL_CELL: CellGenotype = NASNET_A.normal
REDUCTION_CELL: CellGenotype = NASNET_A.reduction


# ------------------------------------------------------------------------------------ ScheduledDropPath

def keep_probability(cell_num: int, total_cells: int, p_max: float, progress: float) -> float:
    """ScheduledDropPath's keep probability of cell `cell_num` (0-based, reduction cells counted).

    TF-slim `_apply_drop_path`, version v3: scaled by depth, `keep_layer = 1 - (cell_num+1)/total * p_max`,
    then by time, `keep = 1 - min(1, progress) * (1 - keep_layer)`. So every path is kept at the start of
    training and the last cell keeps 1 - p_max at the end. On CIFAR total_cells = 3N + 2.
    """
    keep_layer = 1.0 - (cell_num + 1) / total_cells * p_max
    return 1.0 - min(1.0, progress) * (1.0 - keep_layer)


# ----------------------------------------------------------------------------------------- operations

def _conv_bn(c_in: int, c_out: int, kernel: int = 1, stride: int = 1, relu: bool = True,
             dilation: int = 1) -> nn.Sequential:
    """(ReLU) conv BN, TF-slim's `relu; slim.conv2d; slim.batch_norm` (no conv bias: BN follows)."""
    layers = [nn.ReLU()] if relu else []
    layers += [nn.Conv2d(c_in, c_out, kernel, stride, dilation * (kernel // 2), dilation, bias=False),
               GhostBatchNorm2d(c_out)]
    return nn.Sequential(*layers)


class FactorizedConv(nn.Sequential):
    """The paper's "1xk then kx1 convolution": ReLU, 1xk conv, kx1 conv, BN, the pair standing in for one
    kxk convolution (one ReLU and one BN, as a convolution has); a stride applies along the width in the
    first and along the height in the second."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int):
        super().__init__(nn.ReLU(),
                         nn.Conv2d(c_in, c_out, (1, kernel), (1, stride), (0, kernel // 2), bias=False),
                         nn.Conv2d(c_out, c_out, (kernel, 1), (stride, 1), (kernel // 2, 0), bias=False),
                         GhostBatchNorm2d(c_out))


def _separable(c_in: int, c_out: int, kernel: int, stride: int) -> list[nn.Module]:
    """ReLU, depthwise kxk, pointwise 1x1, BN: one layer of TF-slim's `_stacked_separable_conv`."""
    return [nn.ReLU(),
            nn.Conv2d(c_in, c_in, kernel, stride, kernel // 2, groups=c_in, bias=False),
            nn.Conv2d(c_in, c_out, 1, bias=False),
            GhostBatchNorm2d(c_out)]


class SeparableConv(nn.Sequential):
    """NASNet's `separable_kxk_2`: the separable layer applied twice, striding only in the first."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int):
        super().__init__(*_separable(c_in, c_out, kernel, stride), *_separable(c_out, c_out, kernel, 1))


class Pool(nn.Sequential):
    """kxk average or max pooling; a 1x1 conv + BN (no ReLU, as in TF-slim) when the channels differ."""

    def __init__(self, kind: str, c_in: int, c_out: int, stride: int, kernel: int = 3):
        # TF's SAME average pooling averages only the pixels inside the image.
        pool = (nn.AvgPool2d(kernel, stride, kernel // 2, count_include_pad=False) if kind == "avg"
                else nn.MaxPool2d(kernel, stride, kernel // 2))
        super().__init__(pool, *([_conv_bn(c_in, c_out, relu=False)] if c_in != c_out else []))


class FactorizedReduction(nn.Module):
    """TF-slim `factorized_reduction`: halve the resolution without dropping pixels.

    Two strided 1x1 convolutions, each to half the filters, the second on the input shifted by one pixel
    (padded at the right and bottom), so the two paths see complementary pixels; concatenated, then BN.
    With stride 1 it is a plain 1x1 conv + BN. Needs an even filter count when striding.
    """

    def __init__(self, c_in: int, c_out: int, stride: int = 2):
        super().__init__()
        self.stride = stride
        if stride == 1:
            self.path1 = nn.Conv2d(c_in, c_out, 1, bias=False)
        else:
            if c_out % 2:
                raise ValueError(f"factorized reduction needs an even number of filters, got {c_out}")
            self.path1 = nn.Conv2d(c_in, c_out // 2, 1, stride, bias=False)
            self.path2 = nn.Conv2d(c_in, c_out // 2, 1, stride, bias=False)
        self.bn = GhostBatchNorm2d(c_out)

    def forward(self, x: Tensor) -> Tensor:
        if self.stride == 1:
            return self.bn(self.path1(x))
        shifted = F.pad(x, (0, 1, 0, 1))[:, :, 1:, 1:]
        return self.bn(torch.cat([self.path1(x), self.path2(shifted)], dim=1))


def _operation(name: str, c_in: int, c_out: int, stride: int) -> nn.Module:
    """TF-slim `_apply_conv_operation` over the paper's 13 operations: one operation, mapping c_in to c_out
    channels at `stride` (every kernel is odd and padded to keep the size, so stride 2 halves it)."""
    if name.startswith("sep_conv_"):  # the names end in their kernel size
        return SeparableConv(c_in, c_out, int(name[-1]), stride)
    if name.startswith(("avg_pool_", "max_pool_")):
        return Pool(name[:3], c_in, c_out, stride, int(name[-1]))
    if name in ("conv_1x1", "conv_3x3"):
        return _conv_bn(c_in, c_out, int(name[-1]), stride)
    if name == "dil_conv_3x3":
        return _conv_bn(c_in, c_out, 3, stride, dilation=2)  # not separable, dilation 2 (docs/engine.md)
    if name in ("conv_1x3_3x1", "conv_1x7_7x1"):
        return FactorizedConv(c_in, c_out, int(name[7]), stride)
    if name == "identity":
        # TF-slim's "none": a strided or channel-changing identity becomes ReLU-conv1x1-BN.
        return _conv_bn(c_in, c_out, 1, stride) if stride > 1 or c_in != c_out else nn.Identity()
    raise ValueError(f"unknown NASNet operation {name!r}; expected one of {', '.join(OPERATIONS)}")


# ----------------------------------------------------------------------------------------------- cell

class Cell(nn.Module):
    """A NASNet cell built from its genotype (TF-slim `NasNetABaseCell.__call__`).

    c_in: channels of the input h_i. c_prev: channels of h_{i-1}, or None for the first cell, which
    takes the stem twice and leaves h_{i-1} as it is (TF-slim's `prev_layer=None`). prev_larger: h_{i-1}
    has twice h_i's resolution (the cell after a reduction cell). filters: the cell's filters, so each
    concatenated state has `filters` channels (twice as many when its block concatenates). reduction: stride 2
    on the operations that read h_i or h_{i-1}. An input the genotype never uses is not processed at all, so
    the cell has no parameter without a gradient.
    """

    def __init__(self, genotype: CellGenotype, c_in: int, c_prev: int | None, prev_larger: bool, filters: int,
                 reduction: bool):
        super().__init__()
        self.concat = genotype.concat
        self.inputs = [state for _, state in genotype.ops]
        self.combines = [block.combine for block in genotype.blocks]
        # Drop path regularizes every operation except the identity (TF-slim: `operation != 'none'`).
        self.dropped = [name != "identity" for name, _ in genotype.ops]
        used = set(self.inputs) | set(self.concat)

        # TF-slim `_cell_base`: h_i through ReLU-conv1x1-BN to the cell's filters; h_{i-1} matched to h_i's
        # resolution (factorized reduction) or to the filters (ReLU-conv1x1-BN) when it differs.
        self.preprocess = _conv_bn(c_in, filters) if 0 in used else None
        if 1 not in used:
            self.preprocess_prev = None
        elif c_prev is None:
            self.preprocess_prev, c_prev = nn.Identity(), c_in
        elif prev_larger:
            self.preprocess_prev = nn.Sequential(nn.ReLU(), FactorizedReduction(c_prev, filters))
            c_prev = filters
        elif c_prev != filters:
            self.preprocess_prev, c_prev = _conv_bn(c_prev, filters), filters
        else:
            self.preprocess_prev = nn.Identity()

        # Channels of each hidden state; a reduction cell strides only the operations on the cell's inputs.
        channels, ops = [filters, c_prev], []
        for block in genotype.blocks:
            for name, state in ((block.op_1, block.input_1), (block.op_2, block.input_2)):
                ops.append(_operation(name, channels[state], filters, 2 if reduction and state < 2 else 1))
            channels.append(2 * filters if block.combine == "concat" else filters)
        self.ops = nn.ModuleList(ops)

        # TF-slim `_combine_unused_states`: an input that is concatenated is first brought to the
        # combinations' resolution and filters (factorized reduction, without a ReLU).
        self.concat_adjust = nn.ModuleList(
            FactorizedReduction(channels[s], filters, 2 if reduction else 1)
            if s < 2 and (reduction or channels[s] != filters) else nn.Identity()
            for s in self.concat)
        self.out_channels = sum(filters if s < 2 else channels[s] for s in self.concat)

    def forward(self, x: Tensor, prev: Tensor, keep: Tensor | None) -> Tensor:
        # An unused input stays as it is (it is read by nothing).
        states = [x if self.preprocess is None else self.preprocess(x),
                  prev if self.preprocess_prev is None else self.preprocess_prev(prev)]
        for b, combine in enumerate(self.combines):
            first, second = self._branch(2 * b, states, keep), self._branch(2 * b + 1, states, keep)
            states.append(first + second if combine == "add" else torch.cat([first, second], dim=1))
        outputs = zip(self.concat, self.concat_adjust, strict=True)
        return torch.cat([adjust(states[s]) for s, adjust in outputs], dim=1)

    def _branch(self, i: int, states: list[Tensor], keep: Tensor | None) -> Tensor:
        y = self.ops[i](states[self.inputs[i]])
        if keep is not None and self.dropped[i]:
            y = drop_path(y, keep, training=self.training)
        return y


# --------------------------------------------------------------------------------------------- network

class AuxHead(nn.Module):
    """TF-slim `_build_aux_head`: ReLU, avgpool 5/3, conv1x1 128 BN ReLU, conv (whole map) 768 BN ReLU, FC."""

    def __init__(self, c_in: int, num_classes: int, size: int):
        super().__init__()
        pooled = (size - 5) // 3 + 1  # 16x16 -> 4x4 for 32x32 images
        self.features = nn.Sequential(
            nn.ReLU(), nn.AvgPool2d(5, 3),
            nn.Conv2d(c_in, 128, 1, bias=False), GhostBatchNorm2d(128), nn.ReLU(),
            nn.Conv2d(128, 768, pooled, bias=False), GhostBatchNorm2d(768), nn.ReLU(),
            nn.Flatten())
        self.fc = nn.Linear(768, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(self.features(x))


class NASNetCIFAR(nn.Module):
    """NASNet-A (N @ 24F) for 32x32 images, or the NASNet of another `genotype`: `cells` N normal cells per
    stage, `filters` F.

    p_max: ScheduledDropPath's final drop probability of the last cell (TF-slim 1 - drop_path_keep_prob;
    0 turns drop path off). aux_weight: the auxiliary head's loss weight (0: no auxiliary head).
    """

    def __init__(self, cells: int = 6, filters: int = 32, num_classes: int = 10, *, aux_weight: float = 0.4,
                 p_max: float = 0.4, stem_multiplier: int = 3, image_size: int = 32,
                 genotype: Genotype = NASNET_A):
        super().__init__()
        self.aux_weight, self.p_max = aux_weight, p_max
        self.register_buffer("progress", torch.zeros(()))  # fraction of training done, set every step

        c_stem = stem_multiplier * filters
        self.stem = nn.Sequential(nn.Conv2d(3, c_stem, 3, padding=1, bias=False), GhostBatchNorm2d(c_stem))

        # TF-slim `_build_nasnet_base` with num_cells = 3N and two reduction layers: N normal cells, a
        # reduction cell doubling the filters (filter_scaling_rate 2), N normal, reduction, N normal. Each
        # cell reads the outputs of the two cells before it (skip_reduction_layer_input 0 on CIFAR).
        self.cells = nn.ModuleList()
        # (channels, resolution level) of the last two outputs; the first cell reads the stem twice.
        outputs: list[tuple[int | None, int]] = [(None, 0), (c_stem, 0)]
        for stage in range(3):
            for i in range(cells + (stage > 0)):
                reduction = stage > 0 and i == 0
                (c_prev, level_prev), (c_in, level) = outputs[-2:]
                cell = Cell(genotype.reduction if reduction else genotype.normal, c_in, c_prev, level_prev < level,
                            filters * 2 ** stage, reduction)
                self.cells.append(cell)
                outputs.append((cell.out_channels, level + reduction))
        self.total_cells = len(self.cells)  # 3N + 2: TF-slim's total_num_cells

        # After the last normal cell of the second stage (TF-slim: reduction_indices[1] - 1).
        self.aux_after = 2 * cells
        self.aux_head = (AuxHead(self.cells[self.aux_after].out_channels, num_classes, image_size // 2)
                         if aux_weight > 0 else None)
        # dense_dropout_keep_prob is 1.0 on CIFAR: no dropout before the classifier.
        self.classifier = nn.Linear(self.cells[-1].out_channels, num_classes)

        # 1 - keep probability of each cell at the end of training; the forward scales it by progress.
        self.register_buffer("final_drop", torch.tensor(
            [1.0 - keep_probability(c, self.total_cells, p_max, 1.0) for c in range(self.total_cells)]),
            persistent=False)
        self._init_weights()

    def _init_weights(self) -> None:
        # TF-slim's variance_scaling_initializer(mode="FAN_OUT"): He-normal over the fan-out, which for a
        # depthwise kernel is k*k (PyTorch's fan-in of a depthwise kernel); BN starts at gamma 1, beta 0.
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                mode = "fan_in" if m.groups > 1 else "fan_out"
                nn.init.kaiming_normal_(m.weight, mode=mode, nonlinearity="relu")
            elif isinstance(m, nn.Linear):
                nn.init.zeros_(m.bias)  # the weights keep PyTorch's default (see the module docstring)

    def set_training_progress(self, fraction: float) -> None:
        """Fraction of training done (step / total steps); in place, so a compiled model is not retraced."""
        self.progress.fill_(fraction)

    def keep_probabilities(self) -> Tensor:
        """Every cell's current keep probability, `keep_probability` evaluated on the device."""
        return 1.0 - torch.clamp(self.progress, max=1.0) * self.final_drop

    def forward(self, x: Tensor) -> Tensor | tuple[Tensor, Tensor]:
        keeps = self.keep_probabilities() if self.training and self.p_max > 0 else None
        prev = x = self.stem(x)
        aux_logits = None
        for c, cell in enumerate(self.cells):
            prev, x = x, cell(x, prev, None if keeps is None else keeps[c])
            if c == self.aux_after and self.aux_head is not None and self.training:
                aux_logits = self.aux_head(x)
        logits = self.classifier(F.adaptive_avg_pool2d(F.relu(x), 1).flatten(1))
        return logits if aux_logits is None else (logits, aux_logits)


def build(model_spec, regularization, num_classes: int) -> NASNetCIFAR:
    """NASNet (NASNet-A unless the spec names a genotype) from the run spec's `model` (NASNetModel) and
    `regularization` sections."""
    if regularization.method == "scheduled_drop_path":
        p_max = regularization.p_max
    elif regularization.method == "none":
        p_max = 0.0
    else:
        raise ValueError(f"regularization {regularization.method!r} does not apply to NASNet; "
                         "it takes 'none' or 'scheduled_drop_path'")
    return NASNetCIFAR(model_spec.cells, model_spec.filters, num_classes,
                       aux_weight=model_spec.aux_weight, p_max=p_max, genotype=model_spec.genotype)
