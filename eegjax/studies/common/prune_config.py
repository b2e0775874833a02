"""The configuration of a study that prunes one hidden layer of its classifier (the MLP or
RNN studies' `PruneStudyConfig`): the classifier's settings, the pruning step's, the
criteria and compensations compared, and the regimes (controls) beside them. Every
(criterion, compensation) pair is one variant (`variants`)."""

from __future__ import annotations

import dataclasses

from eegjax.errors import ConfigError
from eegjax.pruning import compensation as comp
from eegjax.pruning import criteria as criteria_registry
from eegjax.pruning.progressive import PruneConfig
from eegjax.settings import setting
from eegjax.studies.common import regimes
from eegjax.studies.common.regimes import SIDE_BY_SIDE_HELP
from eegjax.studies.common.classifier import ClassifyConfig, WrapsClassify


@dataclasses.dataclass(frozen=True)
class PruneStudyConfig(WrapsClassify):
  classify: ClassifyConfig
  prune: PruneConfig = PruneConfig()
  criteria: tuple[str, ...] = setting(
      tuple(criteria_registry.names()), "pruning criteria to compare at equal size (each "
      "only chooses which unit goes; eegjax.pruning.criteria): distinctiveness, "
      "weight_angle, magnitude, random, taylor, variance")
  compensations: tuple[str, ...] = setting(
      ("mean",), "what becomes of a removed unit's contribution, each applied to every "
      "criterion: none (deleted), mean (its mean activation folded into the next biases), "
      "least_squares (the next layer refitted from the kept units), merge (folded into a "
      "partner by --merge_rule)", flag="compensation")
  masked: bool = setting(False, "zero the pruned units and keep the layer's size (the music "
                         "study's RNN variant) instead of cutting them")
  layer: int = setting(0, "hidden layer to prune (0-based)", flag="prune_layer")
  finetune_epochs: int = setting(0, "retrain this many epochs after every step (0 = "
                                 "evaluate as-is only)")
  regimes: tuple[str, ...] = setting(
      ("oneshot",), "how the small networks are got, compared at each --regime_macs level "
      "on the same folds, seeds and test rows (eegjax.studies.common.regimes): oneshot "
      "(pruned, not retrained), finetune (pruned, then retrained --regime_epochs), scratch "
      "(the pruned architecture trained from a fresh initialisation), uniform (every hidden "
      "layer narrowed evenly to the same multiply-adds, trained from scratch)")
  regime_macs: tuple[int, ...] = setting(
      (75, 50, 25), "compute levels where the regimes are compared: percent of the trained "
      "network's multiply-adds per trial (the nearest evaluated size of each)")
  regime_epochs: int = setting(30, "fine-tuning epochs of the finetune regime (Adam "
                               "re-initialised)")
  regime_side_by_side: int = setting(0, SIDE_BY_SIDE_HELP)

  def __post_init__(self):
    c = self.classify
    if not 0 <= self.layer < len(c.hidden_sizes):
      raise ConfigError(f"--prune_layer={self.layer}: the MLP has hidden layers "
                        f"0..{len(c.hidden_sizes) - 1}")
    if not self.criteria:
      raise ConfigError("--criteria is empty; expected some of "
                        + ",".join(criteria_registry.names()))
    if not self.compensations:
      raise ConfigError("--compensation is empty; expected some of "
                        + ",".join(comp.COMPENSATIONS))
    for name, given in (("criteria", self.criteria), ("compensation", self.compensations)):
      if len(set(given)) != len(given):
        raise ConfigError(f"--{name}={','.join(given)} names one twice")
    for pcfg in self.variants():     # each validated by PruneConfig
      if pcfg.masked and self.finetune_epochs:
        raise ConfigError("--finetune_epochs with --masked: fine-tuning would move the "
                          "zeroed weights (masked updates are not implemented); drop one "
                          "of them")
    self.prune.check_width(c.hidden_sizes[self.layer])
    regimes.check(self.regimes, self.regime_macs, self.regime_epochs, self.regime_side_by_side)
    if self.masked and len(self.regimes) > 1:
      raise ConfigError(f"--regimes={','.join(self.regimes)} with --masked: the masked "
                        "variant keeps its width; expected --regimes=oneshot")
    if self.finetune_epochs < 0:
      raise ConfigError(f"--finetune_epochs={self.finetune_epochs}: expected >= 0")

  @property
  def regime_levels(self) -> tuple[int, ...]:
    """Where the regimes are compared: percent of the trained network's multiply-adds."""
    return self.regime_macs

  def variants(self) -> list[PruneConfig]:
    """Every (criterion, compensation) run, criteria outer."""
    return [dataclasses.replace(self.prune, criterion=c, compensation=m, masked=self.masked)
            for c in self.criteria for m in self.compensations]

  @property
  def limit(self) -> int:
    """Units to prune at most: a whole number of steps, leaving at least one unit."""
    return self.prune.limit(self.classify.hidden_sizes[self.layer])

  def to_json(self) -> dict:
    return {**dataclasses.asdict(self), "classify": self.classify.to_json()}
