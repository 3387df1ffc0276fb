"""The Inverse problems tab: FIRENET against trained reconstruction networks (accuracy, stability, the twins)."""
