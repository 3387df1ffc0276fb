"""The Overview tab: what the model does to its data (accuracy, decision map, samples, confusion;
reconstruction errors)."""
