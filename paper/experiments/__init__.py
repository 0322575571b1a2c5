"""The stages of the reproduction: each computes one group of the paper's artefacts."""
