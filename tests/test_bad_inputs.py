"""The bad-input corpus: a user's mistake in data or flags ends every binary with exit code
1 and one line on stderr, `error: ...`, naming the file, field or flag and what was
expected, never a traceback. Each case: binary, arguments ({tmp} = a scratch folder),
files to write first, and a pattern the line must contain."""

import re

import numpy as np
import pytest
from absl import flags
from absl.testing import flagsaver

TS_HEAD = ("@problemName T\n@timeStamps false\n@univariate true\n@equalLength {eq}\n"
           "@classLabel true up down\n@data\n")


def ts(body, eq="true"):
  return TS_HEAD.format(eq=eq) + body


GOOD_TS = "1,2,3,4:up\n4,3,2,1:down\n1,2,3,3:up\n3,2,1,1:down\n"
NPZ_SEQ = dict(x=np.zeros((4, 5, 1)), y=np.array([0, 1, 0, 1]))

CASES = [
    # loaders: .ts
    ("train_rnn", ["--data_path={tmp}/none.ts"], {}, r"none.ts: no such file"),
    ("train_rnn", ["--data_path={tmp}/e.ts"], {"e.ts": ts("")}, r"e.ts: empty file"),
    ("train_rnn", ["--data_path={tmp}/r.ts"], {"r.ts": ts("1,2:3,4:up\n1,2:down\n")},
     r"r.ts:8: 1 channels, but the first case \(line 7\) has 2"),
    ("train_rnn", ["--data_path={tmp}/n.ts"], {"n.ts": ts("1,2:up\n1,b:down\n")},
     r"n.ts:8: channel 0, value 1: 'b' is not a number"),
    ("train_rnn", ["--data_path={tmp}/f.ts"], {"f.ts": ts("1,NaN:up\n1,2:down\n")},
     r"f.ts:7: channel 0, value 1 is NaN; expected finite numbers"),
    ("train_rnn", ["--data_path={tmp}/s.ts"], {"s.ts": ts("1,2:up\n3,4:up\n")},
     r"s.ts: every example has the label 'up'"),
    ("train_rnn", ["--data_path={tmp}/u.ts"], {"u.ts": ts("1,2:up\n3,4:left\n")},
     r"u.ts:8: unknown label 'left'; expected one of \['up', 'down'\]"),
    ("train_rnn", ["--data_path={tmp}/z.ts"], {"z.ts": ts("1,2:up\n:down\n", eq="false")},
     r"z.ts:8: channel 0 is empty \(a zero-length series\)"),
    # flags
    ("train_mlp", ["--dataset=nope"], {}, r"--dataset='nope': unknown"),
    ("train_mlp", ["--hidden_sizes=30,x"], {},
     r"--hidden_sizes=30,x: expected comma-separated integers"),
    # loaders: CSV
    ("train_mlp", ["--data_path={tmp}/a.csv"], {"a.csv": "f1,cls\n1,x\n2,y\n"},
     r"a.csv:1: no label column 'label' \(set --label_column\)"),
    ("train_mlp", ["--data_path={tmp}/b.csv"], {"b.csv": "f1,f2,label\n1,2,x\n3,y\n"},
     r"b.csv:3: 2 fields, expected 3"),
    ("train_mlp", ["--data_path={tmp}/c.csv"], {"c.csv": "f1,label\n1,x\nhigh,y\n"},
     r"c.csv:3: column 'f1' has 'high'; expected a number"),
    ("train_mlp", ["--data_path={tmp}/d.csv"], {"d.csv": "f1,label\n1,x\ninf,y\n"},
     r"d.csv:3: column 'f1' is inf"),
    ("train_mlp", ["--data_path={tmp}/o.csv"], {"o.csv": "f1,label\n1,x\n2,x\n"},
     r"o.csv: a single class \(\['x'\]\); classification needs at least two"),
    ("train_mlp", ["--data_path={tmp}/g.csv", "--group_column=subject"],
     {"g.csv": "f1,label\n1,x\n2,y\n"}, r"g.csv:1: no group column 'subject'"),
    ("train_mlp", ["--data_path={tmp}/empty.csv"], {"empty.csv": ""}, r"empty.csv: empty file"),
    ("train_mlp", ["--data_path={tmp}/nl.csv"], {"nl.csv": "f1,label\n1,x\n2,\n3,y\n"},
     r"nl.csv:3: the label is empty; expected a class label on every row"),
    ("train_mlp", ["--data_path={tmp}/nn.csv"], {"nn.csv": "f1,label\n1,x\n2,nan\n3,y\n"},
     r"nn.csv:3: the label is 'nan'; expected a class label on every row"),
    ("train_mlp", ["--data_path={tmp}/big.csv"], {"big.csv": "f1,label\n1,x\n-3e38,y\n"},
     r"big.csv:3: column 'f1' is -3e38; expected a magnitude below 1e\+30"),
    ("train_mlp", ["--data_path={tmp}/huge.csv"], {"huge.csv": "f1,label\n1,x\n1e39,y\n"},
     r"huge.csv:3: column 'f1' is 1e39; expected a magnitude below"),
    # loaders: .npz
    ("train_mlp", ["--data_path={tmp}/m.npz"], {"m.npz": dict(y=np.array([0, 1]))},
     r"m.npz: missing array 'x'"),
    ("train_rnn", ["--data_path={tmp}/l.npz"], {"l.npz": {**NPZ_SEQ,
                                                          "lengths": np.array([5, 5, 9, 5])}},
     r"l.npz: example 2 has length 9 beyond the padded length 5"),
    ("train_rnn", ["--data_path={tmp}/k.npz"], {"k.npz": {**NPZ_SEQ,
                                                          "lengths": np.array([5, 0, 5, 5])}},
     r"k.npz: example 1 has length 0; expected at least one time step"),
    ("train_mlp", ["--data_path={tmp}/q.npz"],
     {"q.npz": dict(x=np.array([[1.0], [np.nan]]), y=np.array([0, 1]))},
     r"q.npz: x has 1 NaN or inf values"),
    ("train_mlp", ["--data_path={tmp}/w.npz"],
     {"w.npz": dict(x=np.zeros((2, 1)), y=np.array([0, 5]), class_names=np.array(["a", "b"]))},
     r"w.npz: field 'y' has unknown label 5"),
    ("train_mlp", ["--data_path={tmp}/gn.npz"],
     {"gn.npz": dict(x=np.zeros((4, 1)), y=np.array([0, 1, 0, 1]),
                     groups=np.array([0.0, 1.0, np.nan, 1.0]))},
     r"gn.npz: field 'groups' has 1 ids that are not integers \(first at example 2"),
    ("train_mlp", ["--data_path={tmp}/bx.npz"],
     {"bx.npz": dict(x=np.array([[1.0], [3e38]]), y=np.array([0, 1]))},
     r"bx.npz: x has 1 values beyond \+-1e\+30 \(first at example 1"),
    ("train_mlp", ["--data_path={tmp}/data.xyz"], {"data.xyz": "x"},
     r"--data_path=.*data.xyz: cannot tell the format"),
    # data selection and flags
    ("train_mlp", ["--dataset=eeg2000"], {}, r"--dataset='eeg2000': unknown; expected one of"),
    ("train_mlp", ["--data_format=csv"], {}, r"--data_format=csv given without --data_path"),
    ("train_mlp", ["--dataset=music_features", "--split=group", "--num_folds=30"], {},
     r"--num_folds=30 exceeds the number of groups \(participants\) \(24\)"),
    ("train_mlp", ["--num_folds=1"], {}, r"--num_folds=1: expected at least 2 folds"),
    ("train_mlp", ["--hidden_sizes="], {}, r"--hidden_sizes=\[\]: expected one or more"),
    ("train_rnn", ["--hidden_sizes=10,10"], {}, r"the Elman RNN has one hidden layer"),
    ("train_mlp", ["--epochs=0"], {}, r"--epochs=0: expected a positive integer"),
    ("train_mlp", ["--learning_rate=-0.1"], {}, r"--learning_rate=-0.1: expected a positive"),
    ("train_mlp", ["--val_fraction=1.5"], {}, r"--val_fraction=1.5: expected a value in"),
    ("train_mlp", ["--patience=5"], {}, r"--patience needs a validation part"),
    ("train_mlp", ["--learning_rate=inf"], {}, r"--learning_rate=inf: expected a positive, "
     r"finite number"),
    ("train_mlp", ["--val_fraction=0.999"], {},
     r"--val_fraction=0.999: fold 0's \d+ training rows cannot be split"),
    ("train_mlp", ["--patience=-1"], {}, r"--patience=-1: expected an integer >= 0"),
    ("train_mlp", ["--epochs_per_call=-1"], {}, r"--epochs_per_call=-1: expected an integer "
     r">= 0"),
    ("train_mlp", ["--seed=-1"], {}, r"--seed=-1: expected an integer >= 0"),
    ("train_rnn", ["--channels=0,0"], {}, r"--channels=0,0: a channel is named twice"),
    ("train_rnn", ["--channels=C3p,3"], {}, r"--channels=C3p,3: a channel is picked twice"),
    ("train_mlp", ["--split=loo"], {}, r"--split='loo': expected one of"),
    ("train_mlp", ["--channels=Cz"], {}, r"--channels: no channel 'Cz'; expected a name from"),
    ("train_rnn", ["--median_filter=4"], {}, r"--median_filter=4: expected an odd width"),
    ("train_rnn", ["--dataset=music_features"], {},
     r"the RNN needs sequences; dataset .music_features. holds 25 features"),
    ("train_mlp", ["--activation=gelu"], {}, r"--activation='gelu': expected one of"),
    ("train_mlp", ["--inputs=bands"], {}, r"--inputs='bands': expected one of"),
    ("train_mlp", ["--num_devices=64"], {}, r"--num_devices=64: only \d+ cpu device"),
    ("train_mlp", ["--num_devices=-1"], {}, r"--num_devices=-1: expected >= 0"),
    ("train_mlp", ["--dataset=scp1", "--split=group_holdout"], {},
     r"--split=group_holdout needs participant groups"),
    ("train_mlp", ["--data_path={tmp}/nowhere", "--data_format=smni"], {},
     r"nowhere: no such file or folder"),
    # pruning flags
    ("prune_mlp", ["--similar_deg=170", "--complementary_deg=165"], {},
     r"--similar_deg=170.0 --complementary_deg=165.0: expected 0 < similar_deg < "
     r"complementary_deg < 180"),
    ("prune_mlp", ["--complementary_deg=190"], {}, r"expected 0 < similar_deg"),
    ("prune_mlp", ["--prune_step=0"], {}, r"--prune_step=0: expected a positive number"),
    ("prune_mlp", ["--max_pruned=30"], {},
     r"--max_pruned=30: cannot prune that many units from a layer of 30"),
    ("prune_mlp", ["--prune_step=30"], {}, r"cannot prune 30 units from a layer of 30"),
    ("prune_mlp", ["--criteria=size"], {}, r"--criteria: 'size' is not one of"),
    ("prune_mlp", ["--merge_rule=mean"], {}, r"--merge_rule='mean': expected one of"),
    ("prune_mlp", ["--prune_layer=1"], {}, r"--prune_layer=1: the MLP has hidden layers 0..0"),
    ("prune_rnn", ["--order=random"], {}, r"--order='random': expected one of"),
    ("prune_rnn", ["--finetune_epochs=2", "--masked"], {},
     r"--finetune_epochs with --masked"),
    ("prune_mlp", ["--compensation=refit"], {}, r"--compensation: 'refit' is not one of"),
    ("prune_mlp", ["--criteria=distinctiveness_masked"], {}, r"is now a removal option"),
    ("prune_mlp", ["--repeats=2", "--split=official"], {},
     r"--repeats=2 with --split=official"),
    ("prune_rnn", ["--grad_clip=-1"], {}, r"--grad_clip=-1.0: expected a norm >= 0"),
    ("prune_rnn", ["--dataset=music_features"], {},
     r"the RNN needs sequences; dataset .music_features. holds 25 features"),
    # the alcoholism study's flags
    ("classify_alcohol", ["--approaches=direct,deep"], {}, r"--approaches: 'deep' is not one of"),
    ("classify_alcohol", ["--prune_layers=5"], {},
     r"--prune_layers: layer 5 does not exist; the classifier has hidden layers 0..2"),
    ("classify_alcohol", ["--prune_layers=first"], {},
     r"--prune_layers=first: expected comma-separated integers"),
    ("compress_alcohol", ["--approaches=direct"], {},
     r"compress_alcohol.py trains the autoencoder; include codes"),
    ("compress_alcohol", ["--inputs=features"], {},
     r"--approaches=codes needs --inputs=band_power"),
    ("compress_alcohol", ["--code_size=0"], {}, r"--code_size=0: expected a positive integer"),
    ("compress_alcohol", ["--dataset=scp1"], {},
     r"--code_size=16: a code of 16 per band does not compress 6 electrodes"),
    # the GAN's flags
    ("train_gan", ["--generator=vae"], {}, r"--generator: 'vae' is not one of deconv, unet"),
    ("train_gan", ["--upsample=bilinear"], {},
     r"--upsample: 'bilinear' is not one of resize, transpose"),
    ("train_gan", ["--prune_conv_layers=3"], {},
     r"--prune_conv_layers: layer 3 does not exist; the discriminator has conv layers 0..2"),
    ("train_gan", ["--gan_layout=pmap"], {}, r"--gan_layout='pmap': expected vmap, loop or auto"),
    ("train_gan", ["--image_epochs=99"], {}, r"--image_epochs: 99 is not an epoch of 1..30"),
    ("train_gan", ["--quality_epochs=0"], {}, r"--quality_epochs: 0 is not an epoch of 1..30"),
    ("train_gan", ["--epochs=2"], {}, r"--epochs=2: not a flag of this binary; use "
     r"--classifier_epochs for the classifiers and --gan_epochs for the GANs"),
    ("train_gan", ["--head_mask=paint"], {}, r"--head_mask=.paint.: expected one of apply, montage, "
     r"learn"),
    ("train_gan", ["--inputs=features"], {},
     r"--inputs=features: the EEG images are drawn from band powers"),
    ("train_gan", ["--d_features=8,0"], {}, r"--d_features=\[8, 0\]: expected positive widths"),
    ("train_gan", ["--beta1=1.5"], {}, r"--beta1=1.5: expected a value in \[0, 1\)"),
    ("train_gan", ["--class_weight=-1"], {}, r"--class_weight=-1.0: expected a weight >= 0"),
    ("train_gan", ["--g_average=1"], {}, r"--g_average=1.0: expected a value in \[0, 1\)"),
    ("train_gan", ["--d_hidden=-2"], {}, r"--d_hidden=-2: expected a width >= 0"),
    ("train_gan", ["--d_pool=max"], {}, r"--d_pool='max': expected one of mean, flatten"),
    ("train_gan", ["--select_by=fid"], {}, r"--select_by='fid': expected one of cls_loss, tstr"),
    ("train_gan", ["--select_by=tstr", "--val_fraction=0"], {},
     r"--select_by=tstr chooses on the validation part; expected --val_fraction > 0"),
    ("train_gan", ["--conv_criteria=taylor"], {},
     r"--conv_criteria: taylor is not offered for conv channels"),
    ("train_gan", ["--conv_compensation=mean"], {},
     r"--conv_compensation='mean': expected one of merge, none"),
    ("train_gan", ["--conv_criteria=size"], {}, r"--criteria: 'size' is not one of"),
    ("train_gan", ["--dataset=scp1"], {},
     r"EEG images need at least 4 electrodes with a scalp position; of the channels "
     r"\['A1-Cz', 'A2-Cz', 'C3f', 'C3p', 'C4f', 'C4p'\] only \[\] have one"),
]


def write_files(tmp_path, files):
  for name, content in files.items():
    if isinstance(content, dict):
      np.savez(tmp_path / name, **content)
    else:
      (tmp_path / name).write_text(content)


@pytest.mark.parametrize("name, args, files, pattern", CASES,
                         ids=[f"{i:02d}-{c[0]}" for i, c in enumerate(CASES)])
def test_bad_input_exits_with_one_clear_line(binary, tmp_path, capsys, name, args, files,
                                             pattern):
  mod = binary(name)
  write_files(tmp_path, files)
  argv = [name, f"--workdir={tmp_path}/wd", "--epochs_per_call=1"] + \
      [a.format(tmp=tmp_path) for a in args]          # the case's flags last: they win
  with flagsaver.flagsaver():
    flags.FLAGS(argv)
    with pytest.raises(SystemExit) as exit_info:
      mod.main([name])
  assert exit_info.value.code == 1
  err = capsys.readouterr().err.strip().splitlines()
  assert len(err) == 1, err
  assert err[0].startswith("error: ") and "Traceback" not in err[0]
  assert re.search(pattern, err[0]), err[0]
