"""The Spectra tab: singular values of every weight layer, conv operators, Lipschitz bounds, truncation."""
