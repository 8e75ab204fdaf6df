"""The locked analysis: plain trial records in, estimates, intervals and gate verdicts out."""
