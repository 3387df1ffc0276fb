"""Exact linear regions of a piecewise-linear network on a 2-D slice of its input space.

On a slice ``x = origin + directions.T @ u`` (``u`` in a convex polygon) every
pre-activation of the first hidden layer is affine in ``u``, so its zero lines
cut the polygon into convex pieces. Inside one piece the first layer's pattern
is fixed, hence the second layer's pre-activations are affine in ``u`` again,
and their zero lines cut each piece; and so on (Serra, Tjandraatmadja &
Ramalingam 2018, arXiv 1711.02114; SplineCam, Humayun et al. CVPR 2023). The
result is the exact partition of the slice into *activation regions* (convex
polygons, one activation pattern each). Neighbours whose output maps are equal
form one *linear region*. Any network in graph form works the same way, layer by
layer (:mod:`.refine`): skip connections and ``torch.cat`` only change which affine
maps feed a layer, other elementwise pieces (LeakyReLU, Hardtanh, ...) cut at each
breakpoint, and a max pool splits each region into the argmax cells of its windows;
patterns are then int8 choices (piece or winning position) instead of bools.

Everything runs in float64, one hidden layer at a time, one unit at a time,
vectorised over all polygons (no per-region Python loop).

Tolerances (stated once, used everywhere):

- a vertex whose pre-activation satisfies ``|z| <= 1e-12 * (|a| * diam + |b|)``
  (``a``, ``b`` the unit's affine map on the region, ``diam`` the slice
  diameter) is treated as lying on the unit's zero line;
- a cut is refused when one of the two pieces would have an area below
  ``1e-14`` times the slice's area (rounding slivers), so areas always sum to
  the slice's area exactly up to rounding;
- two output maps are *equal* when they differ by at most ``1e-9`` times their scale.
- two logits tie on a cell edge when their difference is at most ``1e-9`` times
  its scale at both ends; just beyond an edge a pre-activation is zero when
  ``|z| <= 1e-10`` times its magnitude (:mod:`.sides`);
- :func:`grid_estimate` counts a grid point only when every pre-activation clears
  ``GRID_TOL = 1e-9`` times its magnitude, so its count is a true lower bound.

>>> import torch
>>> from torch import nn
>>> net = nn.Sequential(nn.Linear(2, 1), nn.ReLU(), nn.Linear(1, 1))
>>> with torch.no_grad():
...     _ = net[0].weight.copy_(torch.tensor([[1.0, 0.0]])); _ = net[0].bias.zero_()
>>> partition_2d(net, box=(-1, 1, -1, 1)).num_regions
2

Beyond the plane, :func:`partition_nd` (inputs of 2 to about 6 entries, in a box, a polytope
or the whole space) and :func:`partition_slice` (a 3-D slice, e.g. :func:`space_through` four
samples) find every region by a search across facets (:mod:`.nd`); :func:`dual_graph` gives
which region touches which, and :func:`decision_topology` the Betti numbers of each class's
decision region on a 2-D or 3-D slice, from the cells (no grid).
"""

from .counts import GridEstimate, grid_estimate, serra_upper_bound
from .dual_graph import DualGraph, dual_graph
from .line import LinePartition, partition_line
from .linear_regions import MAP_TOL
from .nd import PartitionND, Space, partition_nd, partition_slice, space_through
from .partition import (
    LayerPartition,
    Partition,
    TooManyRegionsError,
    partition_2d,
    partition_plane,
)
from .planes import Plane, box_polygon, plane_from_directions, plane_through
from .polygons import SLIVER_TOL, ZERO_TOL
from .raster import PixelSample, pad_polygons, pixel_centres, rasterize, sample_pixels
from .surfaces import Faces, cell_faces, decision_surface, domain_edges
from .topology import Topology, decision_topology

__all__ = [
    'MAP_TOL', 'SLIVER_TOL', 'ZERO_TOL', 'DualGraph', 'GridEstimate', 'LayerPartition', 'LinePartition',
    'Partition', 'PartitionND', 'Plane', 'Space', 'Topology', 'TooManyRegionsError', 'box_polygon',
    'decision_topology', 'dual_graph', 'grid_estimate', 'partition_2d', 'partition_line', 'partition_nd',
    'partition_plane', 'partition_slice', 'plane_from_directions', 'plane_through', 'serra_upper_bound',
    'space_through',
]
__all__ += ['Faces', 'cell_faces', 'decision_surface', 'domain_edges']  # drawing a 3-D partition (.surfaces)
__all__ += ['PixelSample', 'pad_polygons', 'pixel_centres', 'rasterize', 'sample_pixels']  # on pixels (.raster)
