"""The pruning study: a classifier's hidden layer pruned step by step under every criterion
and compensation, with paired tests that fit the protocol: `run(PruneStudyConfig)`;
`restore_pruned` rebuilds a saved pruned network."""

from eegjax.studies.prune.study import PruneStudyConfig, restore_pruned, run

__all__ = ["PruneStudyConfig", "restore_pruned", "run"]
