"""Training citeqa's reading model (``make reader``): data from open extractive QA sets, a loop that
checkpoints and resumes, and the export of the shipped weights. Never imported at query time."""
