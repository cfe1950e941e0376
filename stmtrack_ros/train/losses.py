"""Training losses of the paper / official code (reference spec §7.5).

Each loss is a sum over the batch divided by max(count, 1) (positives, or ctr cells). Under
DDP, gradients are averaged over the W processes, so for them to equal one process on the
combined batch each process divides by max(global count, 1) / W: the counts go through
`sum_count` (identity on one process, an all-reduce sum under DDP; see engine.py).

Beyond the paper, off by default (`optim.cls_iou_target`): the classification target at a
positive cell is the IoU of that cell's predicted box with the ground truth (detached), not 1,
so the score learns to rank a cell by how good its box is (quality focal loss, GFL-style;
negatives stay 0). Why: the tracker picks the box of the best-scoring cell, and its confidence
(LOST, memory writes) should say how right that box is.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class LossWeights:
    cls: float = 1.0
    ctr: float = 1.0
    reg: float = 3.0
    focal_alpha: float = 0.75
    focal_gamma: float = 2.0


def _identity(x):
    return x


def focal_loss_sum(logits, cls_gt, alpha: float, gamma: float):
    """Sum of the sigmoid focal loss over cells with cls_gt != -1 (alpha on positives)."""
    valid = cls_gt >= 0
    target = (cls_gt > 0).to(logits.dtype)
    p = torch.sigmoid(logits)
    p_t = torch.where(target > 0, p, 1 - p)
    alpha_t = torch.where(target > 0, torch.full_like(p, alpha), torch.full_like(p, 1 - alpha))
    bce = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    return (alpha_t * (1 - p_t).pow(gamma) * bce * valid).sum()


def quality_focal_loss_sum(logits, cls_gt, quality, alpha: float, gamma: float):
    """Sum over cells with cls_gt != -1 of alpha_t |y - p|^gamma BCE(logit, y), where y is
    `quality` (in [0, 1], no gradient) at positive cells and 0 at negative ones; alpha on
    positives. With quality 1 at every positive it is `focal_loss_sum` (to float rounding)."""
    valid = cls_gt >= 0
    pos = cls_gt > 0
    y = torch.where(pos, quality.detach().to(logits.dtype).clamp(0.0, 1.0), torch.zeros_like(logits))
    p = torch.sigmoid(logits)
    alpha_t = torch.where(pos, torch.full_like(p, alpha), torch.full_like(p, 1 - alpha))
    bce = F.binary_cross_entropy_with_logits(logits, y, reduction="none")
    return (alpha_t * (y - p).abs().pow(gamma) * bce * valid).sum()


def ctr_loss_sum(logits, ctr_gt):
    """Sum over cells with ctr_gt != 0 of BCE(logit, gt) - H(gt): 0 at the optimum."""
    mask = ctr_gt != 0
    gt = ctr_gt.clamp(1e-12, 1.0)
    entropy = -(gt * gt.log() + (1 - gt) * (1 - gt).clamp_min(1e-12).log())
    bce = F.binary_cross_entropy_with_logits(logits, ctr_gt, reduction="none")
    return ((bce - entropy) * mask).sum()


def iou_plus1(pred, gt):
    """IoU of xyxy boxes with the official +1 area convention."""
    area_p = (pred[..., 2] - pred[..., 0] + 1).abs() * (pred[..., 3] - pred[..., 1] + 1).abs()
    area_g = (gt[..., 2] - gt[..., 0] + 1).abs() * (gt[..., 3] - gt[..., 1] + 1).abs()
    iw = (torch.minimum(pred[..., 2], gt[..., 2]) - torch.maximum(pred[..., 0], gt[..., 0]) + 1).clamp_min(0)
    ih = (torch.minimum(pred[..., 3], gt[..., 3]) - torch.maximum(pred[..., 1], gt[..., 1]) + 1).clamp_min(0)
    inter = iw * ih
    return inter / (area_p + area_g - inter).clamp_min(1e-6)


def iou_loss_sum(boxes, box_gt, cls_gt):
    """Sum over positive cells of -log(IoU); also returns the IoUs there (detached, for
    logging and the quality target) and the positive mask they were taken at."""
    pos = (cls_gt[..., 0] > 0)
    iou = iou_plus1(boxes[pos].float(), box_gt[pos].float())
    return -(iou.clamp_min(1e-6).log()).sum(), iou.detach(), pos


def stm_losses(out: dict, cls_gt, ctr_gt, box_gt, w: LossWeights = LossWeights(), sum_count=_identity,
               world: int = 1, cls_iou_target: bool = False):
    """dict of total, cls, ctr, reg (weighted) and iou (mean, detached) for one batch;
    `cls_iou_target`: the quality focal loss on the predicted boxes' IoUs (module docstring)."""
    cls_logits = out["cls_logits"].float()
    n_pos = sum_count((cls_gt > 0).sum().to(cls_logits.dtype)).clamp_min(1) / world
    n_ctr = sum_count((ctr_gt != 0).sum().to(cls_logits.dtype)).clamp_min(1) / world
    reg_sum, iou, pos = iou_loss_sum(out["boxes"], box_gt, cls_gt)
    if cls_iou_target:
        quality = torch.zeros_like(cls_logits)
        quality[pos] = iou.to(quality.dtype)[:, None]
        cls = quality_focal_loss_sum(cls_logits, cls_gt, quality, w.focal_alpha, w.focal_gamma) / n_pos
    else:
        cls = focal_loss_sum(cls_logits, cls_gt, w.focal_alpha, w.focal_gamma) / n_pos
    ctr = ctr_loss_sum(out["ctr_logits"].float(), ctr_gt) / n_ctr
    reg = reg_sum / n_pos
    total = w.cls * cls + w.ctr * ctr + w.reg * reg
    mean_iou = iou.mean() if iou.numel() else torch.zeros((), device=iou.device)
    return {"total": total, "cls": w.cls * cls, "ctr": w.ctr * ctr, "reg": w.reg * reg, "iou": mean_iou}
