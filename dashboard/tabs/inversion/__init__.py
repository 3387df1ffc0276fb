"""The Inversion tab: recover a generator's latent code from a clean or corrupted signal."""
