"""The Training tab: a ReLU net trained live, its regions, curves and the Koopman view of its run."""
