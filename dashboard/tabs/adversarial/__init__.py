"""The Adversarial tab: DeepFool on a test sample, attack methods, robustness, the radii around a 2-D sample."""
