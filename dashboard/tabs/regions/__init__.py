"""The Linear regions tab: the exact partition of a 2-D slice, stable units, compression, recipes."""
