"""Help texts shared by several commands' flags (no imports: the CLI starts fast)."""

DEVICE_HELP = ("auto (a CUDA GPU when there is one, else the CPU), cpu, cuda, cuda:N or mps; a device this machine "
               "lacks is refused")
WORKERS_DEVICE_HELP = DEVICE_HELP + ("; with several GPUs each local worker gets its own (worker i on GPU i mod the "
                                     "GPU count: more workers than GPUs share them)")
DETERMINISTIC_HELP = ("torch's deterministic algorithms (and cuBLAS's deterministic workspace): same seed, same "
                      "bits on a GPU too, at some speed; the record says which")
PRECISION_HELP = ("fp32, or bf16: torch.autocast to bfloat16 over the model's forward (loss and metrics in fp32); "
                  "tricks that cannot run under it are refused; the record's provenance says which")
COMPILE_HELP = ("compile the model's forward with torch.compile (Composer's compile_config; needs a C compiler on the "
                "CPU; the first steps pay the compilation)")
STUDY_SYSTEM_HELP = ("; a study setting (study.precision, study.compile in the spec): given here, it fills in a spec that "
                     "leaves it out, and must agree with one that sets it")
WORKER_SYSTEM_HELP = ("; a worker trains its study's setting: given here, it must agree with the study's (else the "
                      "worker refuses)")

STORAGE_RETRY_HELP = ("seconds to keep retrying a storage server (PostgreSQL) that stops answering, e.g. while it "
                      "restarts, before giving up with exit 2; one line marks each outage's start and end. Default: "
                      "$TRICKSTACK_STORAGE_RETRY, else 300")  # trickstack.ablations.resilient's RETRY_ENV, DEFAULT_RETRY_SECONDS
WORKERS_HELP = ("local worker processes (forked from one server that imports Composer once; each runs many trials); "
                "0: train nothing here, queue and coordinate while workers elsewhere run the jobs (`trickstack "
                "worker`, `trickstack launch`)")
TRACKER_HELP = ("also write each trial as a run to tensorboard:DIR, mlflow:URI (e.g. mlflow:sqlite:///mlflow.db) or "
                "wandb-offline:DIR, tagged with its study, arm, seed, tricks and budget, its hyperparameters logged; "
                "repeatable; each needs its extra: pip install 'trickstack[tensorboard]' (or [mlflow], [wandb])")
WORKERS_TRACKER_HELP = TRACKER_HELP + "; the local workers write there (workers elsewhere name their own --tracker)"
IDLE_WARNING_HELP = ("with --workers 0: seconds of jobs waiting with no worker alive before the coordinator says so "
                     "(and again as often); default a few minutes")
