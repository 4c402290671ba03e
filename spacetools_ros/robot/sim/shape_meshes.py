"""Triangle meshes (with per-vertex normals) of PyBullet's visual geometry types, for the ray-casting camera.

Every mesh is expressed in its shape's own frame, PyBullet's conventions: boxes centred, cylinders and capsules
along z, centred. Flat faces get one normal per face (their vertices are not shared with other faces), curved
surfaces smooth per-vertex normals, like the renderers PyBullet ships.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

GEOM_SPHERE = 2
GEOM_BOX = 3
GEOM_CYLINDER = 4
GEOM_MESH = 5
GEOM_PLANE = 6
GEOM_CAPSULE = 7
"""PyBullet's geometry type codes (``pybullet.GEOM_*``), as ``getVisualShapeData`` reports them."""

ROUND_SEGMENTS = 32
"""Segments around the axis of cylinders, capsules and spheres."""
PLANE_HALF_SIZE = 50.0
"""Half side (m) of the square standing in for an infinite plane."""


class UnsupportedShapeError(ValueError):
    """A visual shape that no mesh can be built for (e.g. a mesh file open3d cannot read)."""


@dataclass(frozen=True)
class ShapeMesh:
    """A triangle mesh with unit per-vertex normals: vertices (N, 3), normals (N, 3), triangles (M, 3) int32."""

    vertices: np.ndarray
    normals: np.ndarray
    triangles: np.ndarray

    def transformed(self, T: np.ndarray) -> ShapeMesh:
        """The mesh moved by the 4x4 rigid transform T."""
        R, t = T[:3, :3], T[:3, 3]
        return ShapeMesh(self.vertices @ R.T + t, self.normals @ R.T, self.triangles)

    def scaled(self, scale: tuple[float, ...] | np.ndarray) -> ShapeMesh:
        """The mesh scaled per axis (normals follow the inverse scale)."""
        s = np.asarray(scale, dtype=np.float64)[:3]
        normals = self.normals / s
        normals /= np.maximum(np.linalg.norm(normals, axis=1, keepdims=True), 1e-12)
        return ShapeMesh(self.vertices * s, normals, self.triangles)


def merge(meshes: list[ShapeMesh]) -> ShapeMesh:
    """One mesh holding all of them (triangle indices shifted)."""
    offsets = np.cumsum([0] + [len(m.vertices) for m in meshes[:-1]])
    return ShapeMesh(
        np.concatenate([m.vertices for m in meshes]).astype(np.float64),
        np.concatenate([m.normals for m in meshes]).astype(np.float64),
        np.concatenate([m.triangles + o for m, o in zip(meshes, offsets, strict=True)]).astype(np.int32),
    )


def box_mesh(size: tuple[float, float, float] | np.ndarray) -> ShapeMesh:
    """A box of full extents ``size`` centred at the origin (4 vertices and 2 triangles per face)."""
    half = 0.5 * np.asarray(size, dtype=np.float64)
    faces = []
    for axis in range(3):
        u, v = (axis + 1) % 3, (axis + 2) % 3
        for sign in (1.0, -1.0):
            n = np.zeros(3)
            n[axis] = sign
            corners = np.zeros((4, 3))
            corners[:, axis] = sign * half[axis]
            corners[:, u] = np.array([-1.0, 1.0, 1.0, -1.0]) * half[u]
            corners[:, v] = np.array([-1.0, -1.0, 1.0, 1.0]) * half[v] * sign  # counter-clockwise seen from outside
            faces.append(ShapeMesh(corners, np.tile(n, (4, 1)), np.array([[0, 1, 2], [0, 2, 3]], dtype=np.int32)))
    return merge(faces)


def _ring(radius: float, z: float, segments: int) -> np.ndarray:
    a = np.linspace(0.0, 2.0 * np.pi, segments, endpoint=False)
    return np.stack([radius * np.cos(a), radius * np.sin(a), np.full(segments, z)], axis=1)


def _strip(n: int, first: int, second: int) -> np.ndarray:
    """Triangles joining two rings of n vertices starting at indices first and second."""
    i = np.arange(n)
    j = (i + 1) % n
    return np.concatenate([np.stack([first + i, first + j, second + j], 1),
                           np.stack([first + i, second + j, second + i], 1)]).astype(np.int32)


def _disc(radius: float, z: float, sign: float, segments: int) -> ShapeMesh:
    """A flat disc at height z facing sign * z (a centre vertex and a fan)."""
    ring = _ring(radius, z, segments)
    vertices = np.vstack([[0.0, 0.0, z], ring])
    i = np.arange(segments)
    fan = np.stack([np.zeros(segments, dtype=int), 1 + i, 1 + (i + 1) % segments], 1)
    if sign < 0:
        fan = fan[:, [0, 2, 1]]
    return ShapeMesh(vertices, np.tile([0.0, 0.0, sign], (segments + 1, 1)), fan.astype(np.int32))


def cylinder_mesh(radius: float, length: float, segments: int = ROUND_SEGMENTS) -> ShapeMesh:
    """A cylinder along z, centred: smooth side, flat caps."""
    h = 0.5 * float(length)
    bottom, top = _ring(radius, -h, segments), _ring(radius, h, segments)
    radial = np.vstack([bottom, top]) * np.array([1.0, 1.0, 0.0]) / float(radius)
    side = ShapeMesh(np.vstack([bottom, top]), radial, _strip(segments, 0, segments))
    return merge([side, _disc(radius, h, 1.0, segments), _disc(radius, -h, -1.0, segments)])


def _sphere_rings(radius: float, segments: int, polar: np.ndarray, z_offset: np.ndarray) -> ShapeMesh:
    """Rings of a sphere at the given polar angles (0 = +z pole), each shifted by z_offset along z."""
    units = []
    for p in polar:
        ring = _ring(1.0, 0.0, segments)
        units.append(np.column_stack([np.sin(p) * ring[:, :2], np.full(segments, np.cos(p))]))
    normals = np.vstack(units)
    vertices = radius * normals + np.repeat(z_offset, segments)[:, None] * np.array([0.0, 0.0, 1.0])
    triangles = np.vstack([_strip(segments, (k + 1) * segments, k * segments) for k in range(len(polar) - 1)])
    return ShapeMesh(vertices, normals, triangles)


def sphere_mesh(radius: float, segments: int = ROUND_SEGMENTS) -> ShapeMesh:
    """A UV sphere centred at the origin (the poles are tiny rings, closing it to well below a micrometre)."""
    polar = np.linspace(1e-6, np.pi - 1e-6, segments // 2 + 1)
    return _sphere_rings(float(radius), segments, polar, np.zeros(len(polar)))


def capsule_mesh(radius: float, length: float, segments: int = ROUND_SEGMENTS) -> ShapeMesh:
    """A capsule along z: a cylinder of the given length between two hemispheres of the radius."""
    half = segments // 4
    polar = np.concatenate([np.linspace(1e-6, 0.5 * np.pi, half + 1), np.linspace(0.5 * np.pi, np.pi - 1e-6, half + 1)])
    offset = np.concatenate([np.full(half + 1, 0.5 * length), np.full(half + 1, -0.5 * length)])
    return _sphere_rings(float(radius), segments, polar, offset)


def plane_mesh(half_size: float = PLANE_HALF_SIZE) -> ShapeMesh:
    """A large square in z = 0 facing +z, standing in for PyBullet's infinite plane."""
    h = float(half_size)
    vertices = np.array([[-h, -h, 0.0], [h, -h, 0.0], [h, h, 0.0], [-h, h, 0.0]])
    return ShapeMesh(vertices, np.tile([0.0, 0.0, 1.0], (4, 1)), np.array([[0, 1, 2], [0, 2, 3]], dtype=np.int32))


def file_mesh(path: str, scale: tuple[float, float, float] | np.ndarray) -> ShapeMesh:
    """A mesh file that open3d reads (obj, stl, ply, off, glTF), scaled per axis, with smooth vertex normals."""
    import open3d as o3d

    if not path or not Path(path).is_file():
        raise UnsupportedShapeError(f"mesh file {path!r} not found (a mesh built from vertices cannot be read back)")
    mesh = o3d.io.read_triangle_mesh(path)
    if len(mesh.triangles) == 0:
        raise UnsupportedShapeError(f"open3d read no triangles from {path!r}")
    mesh.compute_vertex_normals()
    return ShapeMesh(np.asarray(mesh.vertices, dtype=np.float64), np.asarray(mesh.vertex_normals, dtype=np.float64),
                     np.asarray(mesh.triangles, dtype=np.int32)).scaled(scale)


def visual_shape_mesh(geometry_type: int, dimensions: tuple[float, ...], filename: bytes | str = b"") -> ShapeMesh:
    """The mesh of one ``getVisualShapeData`` entry (its type, dimensions and mesh file), in the shape's frame.

    Dimensions as PyBullet reports them: box full extents; sphere (radius, ...); cylinder and capsule
    (length, radius, ...); mesh the per-axis scale.
    """
    name = filename.decode(errors="replace") if isinstance(filename, bytes) else str(filename)
    d = [float(v) for v in dimensions]
    if geometry_type == GEOM_BOX:
        return box_mesh(d[:3])
    if geometry_type == GEOM_SPHERE:
        return sphere_mesh(d[0])
    if geometry_type == GEOM_CYLINDER:
        return cylinder_mesh(d[1], d[0])
    if geometry_type == GEOM_CAPSULE:
        return capsule_mesh(d[1], d[0])
    if geometry_type == GEOM_PLANE:
        return plane_mesh()
    if geometry_type == GEOM_MESH:
        return file_mesh(name, d[:3])
    raise UnsupportedShapeError(f"visual geometry type {geometry_type} is not supported")
