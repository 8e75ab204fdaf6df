"""The campaign: wiring of plan, traffic, arms, store, analysis and report; the CLI."""
