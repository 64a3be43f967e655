#!/bin/bash
# The 2026 shakespeare-char stack (the tricks and values of recipes/shakespeare-char/2026.toml, as confirmed
# by study derive-shakespeare-char-2026) against the baseline at the full reference budget, 5 paired seeds,
# one torch thread. With the records file beside this script every run is read back (nothing is trained)
# and the figures are printed again from the records; with another file the runs are trained.
#   bash benchmarks/results/shakespeare-2026-stack.sh [RECORDS.jsonl]
export OMP_NUM_THREADS=1
records=${1:-$(dirname "$0")/shakespeare-2026-stack.runs.jsonl}
exec python -m trickstack.benchmarks.stack --workload shakespeare-char \
  --stack qk_norm,rope,schedule_free,seq_length_warmup,swiglu,untied_embeddings,z_loss \
  --set qk_norm.kind=rms --set rope.base=811.3940848990716 \
  --set schedule_free.lr_ratio=6.958134199608933 --set schedule_free.beta=0.6460351551313037 \
  --set schedule_free.warmup=0.27013820813933037 --set schedule_free.weight_decay=0.9813604244929001 \
  --set seq_length_warmup.duration=0.4374537055054873 --set seq_length_warmup.min_seq_length=7 \
  --set seq_length_warmup.step_size=4 --set seq_length_warmup.truncate=true \
  --set z_loss.coefficient=0.0006402786203214952 --set lr=0.0004340507504564 \
  --seeds 5 --records "$records"
