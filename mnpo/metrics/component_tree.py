"""Best IoU for every threshold at once, from union-find sweeps (METRICS.md §8).

For a binary mask ``{q > T}``, ``cv2.findContours(RETR_TREE)`` returns one outer border per
8-connected foreground component and one hole border per 4-connected background component that
does not touch the image edge. Their ``boundingRect`` boxes are, exactly:

- outer border of a component with pixel extent ``[x0, x1] x [y0, y1]``:
  ``(x0, y0, min(x1 + 1, W - 1), min(y1 + 1, H - 1))``;
- hole border of a hole with pixel extent ``[hx0, hx1] x [hy0, hy1]`` (the hole grown by 1 px):
  ``(hx0 - 1, hy0 - 1, min(hx1 + 2, W - 1), min(hy1 + 2, H - 1))``.

Foreground components only grow as ``T`` decreases and background components only grow as ``T``
increases. So for the all-contour mode (:func:`all_best`) one sweep over the pixels in
decreasing value order (8-connectivity) gives the outer boxes at every level and one sweep in
increasing order (4-connectivity) over the pixels that are ever in a hole gives the hole boxes.
For the largest-contour mode (:func:`largest_best`) one decreasing sweep over the hole-filled
map counts each component's ``contourArea``. An empty mask gives the box ``(0, 0, 0, 0)``. The
IoU counts inclusive pixels, as :func:`mnpo.metrics.boxes.iou_matrix`. Each sweep costs
O(H W) whatever the number of contours.

Layout: the union-find arrays cover the image padded by a 1-pixel frame (``(H + 2) (W + 2)``
nodes, node of pixel (x, y) = ``(y + 1) (W + 2) + x + 1``), so neighbours need no bounds checks.
Pixel orders hold packed coordinates ``y << 16 | x``.
"""

from __future__ import annotations

import numba
import numpy as np

X0, Y0, X1, Y1, SIZE, TOTAL, FIRST = range(7)
"""Columns of the per-set statistics (nodes, 7) int32: pixel extent, pixel count, doubled
contour area (largest mode), first node in raster order (largest mode's tie-break)."""


def _ring_groups() -> tuple[np.ndarray, np.ndarray]:
    """Per subset of the 8 neighbours already in (bit i = ``ring[i]``), one representative per
    group of mutually 8-connected ones: they are already one set, so one find per group is
    enough. Returns (256, 4) int8 ring positions and (256,) int8 group counts."""
    ring = [(-1, -1), (0, -1), (1, -1), (-1, 0), (1, 0), (-1, 1), (0, 1), (1, 1)]
    groups = np.full((256, 4), -1, dtype=np.int8)
    counts = np.zeros(256, dtype=np.int8)
    for subset in range(256):
        present = [i for i in range(8) if subset >> i & 1]
        label = {i: i for i in present}
        for a in present:
            for b in present:
                (ax, ay), (bx, by) = ring[a], ring[b]
                if max(abs(ax - bx), abs(ay - by)) == 1:
                    old, new = label[b], label[a]
                    label = {i: new if v == old else v for i, v in label.items()}
        for representative in sorted(set(label.values())):
            groups[subset, counts[subset]] = representative
            counts[subset] += 1
    return groups, counts


RING_GROUPS, RING_GROUP_COUNTS = _ring_groups()


@numba.njit(cache=True)
def _value_order(q: np.ndarray, keep: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The pixels where ``keep`` (H, W) bool, sorted by their value in ``q`` (H, W) uint8,
    ascending (counting sort, raster order within a value).

    Returns (M,) int32 packed coordinates ``y << 16 | x`` and (257,) int64 ``starts``: kept
    pixels of value v are ``order[starts[v]:starts[v + 1]]``.
    """
    height, width = q.shape
    starts = np.zeros(257, dtype=np.int64)
    for y in range(height):
        for x in range(width):
            starts[q[y, x] + 1] += keep[y, x]
    for value in range(256):
        starts[value + 1] += starts[value]
    fill = starts.copy()
    order = np.empty(starts[256], dtype=np.int32)
    for y in range(height):
        for x in range(width):
            if keep[y, x]:
                order[fill[q[y, x]]] = (y << 16) | x
                fill[q[y, x]] += 1
    return order, starts


@numba.njit(cache=True)
def filled_map(q: np.ndarray) -> np.ndarray:
    """Grayscale hole filling (H, W) uint8 of ``q`` (H, W) uint8.

    The filled value of a pixel is the min over 4-paths to the image edge of the max of ``q``
    along the path, so ``{filled > T}`` is ``{q > T}`` with every hole filled, and the pixels
    with ``q <= T < filled`` are exactly the holes of ``{q > T}``. Computed by a priority flood
    from the edge with a bucket queue.
    """
    height, width = q.shape
    wp = width + 2
    queued = np.ones((height + 2) * wp, dtype=np.bool_)
    for y in range(height):
        queued[(y + 1) * wp + 1 : (y + 1) * wp + width + 1] = False
    head = np.full(256, -1, dtype=np.int32)
    link = np.empty((height + 2) * wp, dtype=np.int32)
    filled = np.empty_like(q)
    for y in range(height):
        for x in range(width):
            if x == 0 or y == 0 or x == width - 1 or y == height - 1:
                p = (y + 1) * wp + x + 1
                queued[p] = True
                link[p] = head[q[y, x]]
                head[q[y, x]] = p
    for value in range(256):
        while head[value] >= 0:
            p = head[value]
            head[value] = link[p]
            y = p // wp
            filled[y - 1, p - y * wp - 1] = value
            for nb in (p - wp, p - 1, p + 1, p + wp):
                if not queued[nb]:
                    queued[nb] = True
                    ny = nb // wp
                    level = max(q[ny - 1, nb - ny * wp - 1], value)
                    link[nb] = head[level]
                    head[level] = nb
    return filled


@numba.njit(cache=True, inline="always")
def _box_iou(x0: int, y0: int, x1: int, y1: int, gt: np.ndarray) -> float:
    """Max over GT boxes (n, 4) of the inclusive-pixel IoU with box ``(x0, y0, x1, y1)``.

    ``inter = max(0, min(x1) - max(x0) + 1) * max(0, min(y1) - max(y0) + 1)``,
    ``iou = inter / (area_a + area_b - inter)`` with ``area = (x1 - x0 + 1) * (y1 - y0 + 1)``.
    """
    best = 0.0
    area = (x1 - x0 + 1) * (y1 - y0 + 1)
    for g in range(gt.shape[0]):
        width = min(x1, gt[g, 2]) - max(x0, gt[g, 0]) + 1
        height = min(y1, gt[g, 3]) - max(y0, gt[g, 1]) + 1
        inter = max(0, width) * max(0, height)
        union = area + (gt[g, 2] - gt[g, 0] + 1) * (gt[g, 3] - gt[g, 1] + 1) - inter
        if union > 0 and inter / union > best:
            best = inter / union
    return best


@numba.njit(cache=True, inline="always")
def _find(parent: np.ndarray, node: int) -> int:
    """Root of ``node`` in the union-find forest ``parent``, halving the path on the way."""
    while parent[node] != node:
        parent[node] = parent[parent[node]]
        node = parent[node]
    return node


@numba.njit(cache=True, inline="always")
def _link(parent: np.ndarray, stats: np.ndarray, ra: int, rb: int) -> int:
    """Join roots ``ra`` != ``rb`` (union by size) and merge their ``stats`` rows.

    Returns the surviving root.
    """
    if stats[ra, SIZE] < stats[rb, SIZE]:
        ra, rb = rb, ra
    parent[rb] = ra
    stats[ra, X0] = min(stats[ra, X0], stats[rb, X0])
    stats[ra, Y0] = min(stats[ra, Y0], stats[rb, Y0])
    stats[ra, X1] = max(stats[ra, X1], stats[rb, X1])
    stats[ra, Y1] = max(stats[ra, Y1], stats[rb, Y1])
    stats[ra, SIZE] += stats[rb, SIZE]
    stats[ra, TOTAL] += stats[rb, TOTAL]
    stats[ra, FIRST] = min(stats[ra, FIRST], stats[rb, FIRST])
    return ra


@numba.njit(cache=True, inline="always")
def _join(parent: np.ndarray, stats: np.ndarray, root: int, neighbour: int) -> int:
    """The root after joining the set of ``neighbour`` (already in) to ``root`` (-1: none yet)."""
    if parent[neighbour] == root:
        return root
    other = _find(parent, neighbour)
    if other == root:
        return root
    if root < 0:
        return other
    return _link(parent, stats, root, other)


@numba.njit(cache=True, inline="always")
def _enter(parent: np.ndarray, stats: np.ndarray, root: int, p: int, x: int, y: int) -> int:
    """Node ``p`` of pixel (x, y) enters the set of ``root``, or a new set when ``root`` is -1.

    Returns the root of its set (``p`` itself for a new set).
    """
    if root < 0:
        parent[p] = p
        stats[p, X0], stats[p, Y0], stats[p, X1], stats[p, Y1] = x, y, x, y
        stats[p, SIZE], stats[p, TOTAL], stats[p, FIRST] = 1, 0, p
        return p
    parent[p] = root
    stats[root, X0] = min(stats[root, X0], x)
    stats[root, Y0] = min(stats[root, Y0], y)
    stats[root, X1] = max(stats[root, X1], x)
    stats[root, Y1] = max(stats[root, Y1], y)
    stats[root, SIZE] += 1
    stats[root, FIRST] = min(stats[root, FIRST], p)
    return root


@numba.njit(cache=True, inline="always")
def _enter_8(parent: np.ndarray, stats: np.ndarray, p: int, x: int, y: int, wp: int) -> int:
    """Node ``p`` of pixel (x, y) enters, joined with its 8-neighbours already in (``parent >=
    0``), one find per group of :data:`RING_GROUPS`; ``wp`` = W + 2. Returns its root."""
    ring = (-wp - 1, -wp, -wp + 1, -1, 1, wp - 1, wp, wp + 1)
    subset = 0
    for i in range(8):
        subset |= (parent[p + ring[i]] >= 0) << i
    root = -1
    for j in range(RING_GROUP_COUNTS[subset]):
        root = _join(parent, stats, root, p + ring[RING_GROUPS[subset, j]])
    return _enter(parent, stats, root, p, x, y)


@numba.njit(cache=True, inline="always")
def _forest(height: int, width: int) -> tuple[int, np.ndarray, np.ndarray]:
    """An empty union-find over the pixels of an (H, W) map padded by a one-pixel frame.

    Returns (wp, parent, stats): the padded row stride ``wp = W + 2``; ``parent``
    ((H + 2) * wp,) int32, -1 for nodes not yet entered; ``stats`` ((H + 2) * wp, 7) int32.
    Pixel (x, y) is node ``(y + 1) * wp + x + 1``, so the frame nodes stay out and the
    neighbours of a pixel need no bounds checks.
    """
    wp = width + 2
    nodes = (height + 2) * wp
    return wp, np.full(nodes, -1, dtype=np.int32), np.empty((nodes, 7), dtype=np.int32)


@numba.njit(cache=True, inline="always")
def _pixel(packed: int, wp: int) -> tuple[int, int, int]:
    """(x, y, node) of a pixel packed as ``y << 16 | x`` by ``_value_order``."""
    y, x = packed >> 16, packed & 0xFFFF
    return x, y, (y + 1) * wp + x + 1


@numba.njit(cache=True, inline="always")
def _stop(starts: np.ndarray, level: int) -> int:
    """Index in a value order of the first pixel above ``level`` (``starts`` as _value_order)."""
    return starts[min(max(level + 1, 0), 256)]


@numba.njit(cache=True)
def _outer_best(
    q: np.ndarray, order: np.ndarray, starts: np.ndarray, levels: np.ndarray, gt: np.ndarray
) -> np.ndarray:
    """Per level (L,) ascending, the best IoU of the outer-border boxes of ``{q > level}``.

    Pixels enter in decreasing value order and join their 8-neighbours already in; once the
    pixels above a level are in, each set is one component, hence one outer border. A root's
    IoU is cached until its box changes. -1 when the mask is empty.
    """
    height, width = q.shape
    wp, parent, stats = _forest(height, width)
    dirty = np.zeros(parent.size, dtype=np.bool_)
    cached = np.empty(parent.size, dtype=np.float64)
    roots = np.empty(q.size, dtype=np.int32)
    n_roots = 0
    out = np.full(levels.size, -1.0)
    cursor = order.size - 1
    for k in range(levels.size - 1, -1, -1):
        stop = _stop(starts, levels[k])
        while cursor >= stop:
            x, y, p = _pixel(order[cursor], wp)
            cursor -= 1
            root = _enter_8(parent, stats, p, x, y, wp)
            dirty[root] = True
            if root == p:
                roots[n_roots] = p
                n_roots += 1
        kept = 0
        for i in range(n_roots):
            r = roots[i]
            if parent[r] != r:
                continue
            roots[kept] = r
            kept += 1
            if dirty[r]:
                right = min(stats[r, X1] + 1, width - 1)
                bottom = min(stats[r, Y1] + 1, height - 1)
                cached[r] = _box_iou(stats[r, X0], stats[r, Y0], right, bottom, gt)
                dirty[r] = False
            out[k] = max(out[k], cached[r])
        n_roots = kept
    return out


@numba.njit(cache=True)
def _hole_best(q: np.ndarray, filled: np.ndarray, levels: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Per level (L,) ascending, the best IoU of the hole-border boxes of ``{q > level}``.

    Only pixels with ``q < filled`` are ever in a hole; they enter in increasing ``q`` order and
    join their 4-neighbours already in. All pixels of one hole share their filled value, and a
    pixel in a hole is never next to one whose hole has opened (``filled <= T``), so a set is a
    hole at level T while the filled value of its root is above T. A root's IoU is cached until
    its box changes. -1 when there is no hole.
    """
    height, width = q.shape
    order, starts = _value_order(q, q < filled)
    wp, parent, stats = _forest(height, width)
    dirty = np.zeros(parent.size, dtype=np.bool_)
    cached = np.empty(parent.size, dtype=np.float64)
    roots = np.empty(order.size, dtype=np.int32)
    n_roots = 0
    out = np.full(levels.size, -1.0)
    cursor = 0
    for k in range(levels.size):
        stop = _stop(starts, levels[k])
        while cursor < stop:
            x, y, p = _pixel(order[cursor], wp)
            cursor += 1
            root = -1
            for nb in (p - wp, p - 1, p + 1, p + wp):
                if parent[nb] >= 0:
                    root = _join(parent, stats, root, nb)
            root = _enter(parent, stats, root, p, x, y)
            dirty[root] = True
            if root == p:
                roots[n_roots] = p
                n_roots += 1
        kept = 0
        for i in range(n_roots):
            r = roots[i]
            ry = r // wp
            if parent[r] != r or filled[ry - 1, r - ry * wp - 1] <= levels[k]:
                continue
            roots[kept] = r
            kept += 1
            if dirty[r]:
                right = min(stats[r, X1] + 2, width - 1)
                bottom = min(stats[r, Y1] + 2, height - 1)
                cached[r] = _box_iou(stats[r, X0] - 1, stats[r, Y0] - 1, right, bottom, gt)
                dirty[r] = False
            out[k] = max(out[k], cached[r])
        n_roots = kept
    return out


@numba.njit(cache=True)
def all_best(q: np.ndarray, filled: np.ndarray, levels: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """All-contour best IoU of ``{q > level}`` for each level.

    Args:
        q: (H, W) uint8 quantised score map, W < 65536.
        filled: (H, W) uint8 ``filled_map(q)``.
        levels: (L,) int64 strictly increasing integer thresholds.
        gt: (n, 4) int64 inclusive GT boxes ``(x0, y0, x1, y1)``.

    Returns:
        (L,) float64: per level, the max over outer- and hole-border boxes (or the box
        ``(0, 0, 0, 0)`` when the mask is empty) and over GT boxes of the IoU.
    """
    order, starts = _value_order(q, np.ones(q.shape, dtype=np.bool_))
    outer = _outer_best(q, order, starts, levels, gt)
    hole = _hole_best(q, filled, levels, gt)
    empty = _box_iou(0, 0, 0, 0, gt)
    result = np.empty(levels.size, dtype=np.float64)
    for k in range(levels.size):
        result[k] = max(outer[k], hole[k]) if outer[k] >= 0 else empty
    return result


@numba.njit(cache=True)
def largest_best(filled: np.ndarray, levels: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Largest-contour best IoU of ``{q > level}`` for each level.

    The outer border of a component encloses its filled pixels; ``contourArea`` (the shoelace
    area through border pixel centres) equals #(2x2 windows with 4 filled pixels) + 1/2 #(with
    3). Filled components of ``{q > T}`` are the 8-components of ``{filled > T}``, so one sweep
    over ``filled`` in decreasing order counts, per window, its pixels in; a window reaching 3
    or 4 adds 1 to its set's doubled area (``TOTAL``). Nested components are smaller than the
    one around them, so the largest filled component wins. Ties go to the component whose first
    pixel (raster order) comes last, as OpenCV lists contours in reverse raster order.

    Args:
        filled: (H, W) uint8 ``filled_map(q)`` of the quantised score map ``q``, W < 65536.
        levels: (L,) int64 strictly increasing integer thresholds.
        gt: (n, 4) int64 inclusive GT boxes ``(x0, y0, x1, y1)``.

    Returns:
        (L,) float64: per level, the max over GT boxes of the IoU with the largest contour's
        box (the box ``(0, 0, 0, 0)`` when the mask is empty).
    """
    height, width = filled.shape
    order, starts = _value_order(filled, np.ones(filled.shape, dtype=np.bool_))
    wp, parent, stats = _forest(height, width)
    windows = np.zeros((height + 1) * (width + 1), dtype=np.uint8)
    roots = np.empty(filled.size, dtype=np.int32)
    n_roots = 0
    out = np.full(levels.size, _box_iou(0, 0, 0, 0, gt))
    cursor = order.size - 1
    for k in range(levels.size - 1, -1, -1):
        stop = _stop(starts, levels[k])
        while cursor >= stop:
            x, y, p = _pixel(order[cursor], wp)
            cursor -= 1
            root = _enter_8(parent, stats, p, x, y, wp)
            if root == p:
                roots[n_roots] = p
                n_roots += 1
            corner = y * (width + 1) + x
            area2 = 0
            for window in (corner, corner + 1, corner + width + 1, corner + width + 2):
                windows[window] += 1
                area2 += windows[window] >= 3
            stats[root, TOTAL] += area2
        kept = 0
        best = -1
        for i in range(n_roots):
            r = roots[i]
            if parent[r] != r:
                continue
            roots[kept] = r
            kept += 1
            if best < 0 or (stats[r, TOTAL], stats[r, FIRST]) > (
                stats[best, TOTAL],
                stats[best, FIRST],
            ):
                best = r
        n_roots = kept
        if best >= 0:
            right = min(stats[best, X1] + 1, width - 1)
            bottom = min(stats[best, Y1] + 1, height - 1)
            out[k] = _box_iou(stats[best, X0], stats[best, Y0], right, bottom, gt)
    return out
