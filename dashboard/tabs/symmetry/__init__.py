"""The Symmetry tab: rotated digits through a plain CNN and a p4-equivariant one."""
