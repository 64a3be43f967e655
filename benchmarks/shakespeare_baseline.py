"""shakespeare-char's baseline recipe (nanoGPT's 2,000-step CPU run: 12 windows of 64 characters,
AdamW lr 1e-3, warm-up then cosine to 1e-4; nanoGPT reports about 1.88 on random validation batches)
trained at its reference budget for several seeds on the real corpus ($TRICKSTACK_DATA_DIR or
../shared/data): each seed's validation loss over the whole split, the mean, sd and seconds per run.

    python -m trickstack.benchmarks.shakespeare_baseline [--seeds 5] [--records runs.jsonl]
"""

from trickstack.benchmarks.reference import main

if __name__ == "__main__":
    main(workload="shakespeare-char")
