"""Experiments that steered the small model: probes of what a checkpoint has learnt and proxy
data sets built from training videos. Not part of the installed package; run from the repo
root as `python -m research.<script>` (research/README.md says what each one answers)."""
