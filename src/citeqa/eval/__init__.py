"""Eval: gold sets, the SQuAD 2.0 harness and the calibration fit. Beside the pipeline, never imported by it."""
