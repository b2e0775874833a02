"""The README's pruning tables, generated from a pruning run's results.json (so a table and
its run cannot drift apart): for each compensation and size, each criterion's test
accuracy and its paired difference from distinctiveness under the same compensation, with
the p-value of the test that fits the run's protocol, raw / Holm-adjusted.

    python benchmarks/prune_table.py --workdir=workdirs/scp1_prune_mlp --sizes=2,6,10,16
"""

import json
import os

from absl import app, flags

from eegjax.evaluate.prune_tables import results_markdown

flags.DEFINE_string("workdir", None, "a prune_mlp.py / prune_rnn.py workdir")
flags.DEFINE_list("sizes", [], "units pruned to show (default: every size)")
FLAGS = flags.FLAGS


def main(argv):
  del argv
  with open(os.path.join(FLAGS.workdir, "results.json"), encoding="utf-8") as f:
    res = json.load(f)
  print(results_markdown(res, [int(s) for s in FLAGS.sizes]))


if __name__ == "__main__":
  flags.mark_flag_as_required("workdir")
  app.run(main)
