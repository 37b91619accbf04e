"""Answer: retrieval fusion, sentence scoring and extraction, question types, calibration. Pure functions over
Passages where possible; no I/O beyond reading the shipped calibration.
"""
