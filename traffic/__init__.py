"""Synthetic traffic: arrival processes, case-blocked randomization and the SimPy request stream."""
