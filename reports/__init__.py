"""The CONSORT-style HTML verdict report, built from analysis results and the plan."""
