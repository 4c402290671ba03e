"""The visual geometry of a PyBullet world as triangle meshes, for the ray-casting camera.

Read from PyBullet itself: every body's ``getVisualShapeData`` (every link, every shape of a compound), so any
body built from primitives (boxes, cylinders, spheres, capsules, planes) or from a mesh file works, the arm's
links included; meshes built from vertex arrays, which PyBullet does not report back, come from a lookup.
A :class:`PiecePack` holds the pieces (one visual shape each) of several bodies as one triangle soup in the
pieces' own frames, and poses it in the world from the bodies' current link poses.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pybullet as pb

from spacetools_ros.robot.sim.shape_meshes import GEOM_MESH, ShapeMesh, UnsupportedShapeError, merge, visual_shape_mesh

MeshLookup = Callable[[int, int, int], ShapeMesh | None]
"""(body, link, index of the shape in the body's getVisualShapeData) -> its mesh in the shape's frame, unscaled."""

_BOX_CORNER_BITS = np.array([[(i >> axis) & 1 for axis in range(3)] for i in range(8)], dtype=bool)


def pose_matrix(position: Any, quaternion: Any) -> np.ndarray:
    """4x4 from a position and an (x, y, z, w) quaternion."""
    T = np.eye(4)
    T[:3, :3] = np.asarray(pb.getMatrixFromQuaternion(quaternion)).reshape(3, 3)
    T[:3, 3] = position
    return T


@dataclass
class BodyGeometry:
    """One body's visual pieces: the link of each, the piece's frame in its link frame, its mesh and base colour.

    ``signature`` is the body's ``getVisualShapeData`` (a change means the geometry must be read again);
    ``static`` bodies cannot move (mass 0, no joints).
    """

    signature: tuple
    static: bool
    links: list[int]
    T_link_piece: list[np.ndarray]
    meshes: list[ShapeMesh]
    colours: list[np.ndarray]
    T_com_link: np.ndarray  # the base link frame in the base's inertial (centre of mass) frame


def read_body(client: int, body_id: int, signature: tuple, mesh_lookup: MeshLookup | None = None) -> BodyGeometry:
    """The geometry of a body from its ``getVisualShapeData`` (signature); raises UnsupportedShapeError for a shape
    no mesh can be built for."""
    links, T_link_piece, meshes, colours = [], [], [], []
    for index, shape in enumerate(signature):
        link, geometry, dimensions, filename, position, orientation, rgba = shape[1:8]
        links.append(int(link))
        T_link_piece.append(pose_matrix(position, orientation))
        if int(geometry) == GEOM_MESH and not filename:
            mesh = mesh_lookup(body_id, int(link), index) if mesh_lookup is not None else None
            if mesh is None:
                raise UnsupportedShapeError(f"body {body_id} link {link} has a mesh built from vertex arrays, "
                                            "which PyBullet does not report back")
            meshes.append(mesh.scaled(dimensions[:3]))
        else:
            meshes.append(visual_shape_mesh(int(geometry), tuple(dimensions), filename))
        colours.append(np.asarray(rgba[:3], dtype=np.float32))
    dynamics = pb.getDynamicsInfo(body_id, -1, physicsClientId=client)
    static = float(dynamics[0]) == 0.0 and pb.getNumJoints(body_id, physicsClientId=client) == 0
    T_com_link = np.linalg.inv(pose_matrix(dynamics[3], dynamics[4]))
    return BodyGeometry(signature, static, links, T_link_piece, meshes, colours, T_com_link)


class PiecePack:
    """The visual pieces of several bodies as one triangle soup in the pieces' frames, posed anew for every frame.

    Vertices and triangles are grouped by piece (piece i owns vertices piece_starts[i]:piece_ends[i] and
    triangles triangle_starts[i]:triangle_ends[i]); ``corners`` are the pieces' bounding boxes (pieces, 8, 3).
    """

    def __init__(self, bodies: dict[int, BodyGeometry]) -> None:
        """Pack the pieces of ``bodies`` (body id -> geometry)."""
        self.bodies = bodies
        self.refs: list[tuple[int, int]] = []  # (body, link) of every piece
        T_link_piece, meshes, colours = [], [], []
        for body_id, body in bodies.items():
            for link, T, mesh, colour in zip(body.links, body.T_link_piece, body.meshes, body.colours, strict=True):
                self.refs.append((body_id, link))
                T_link_piece.append(T)
                meshes.append(mesh)
                colours.append(colour)
        self.size = len(meshes)
        self.body_pieces = {b: np.array([i for i, ref in enumerate(self.refs) if ref[0] == b]) for b in bodies}
        if not meshes:
            return
        mesh = merge(meshes)
        counts = np.array([len(m.vertices) for m in meshes])
        triangle_counts = np.array([len(m.triangles) for m in meshes])
        self.vertices, self.normals, self.triangles = mesh.vertices, mesh.normals, mesh.triangles.astype(np.uint32)
        self.piece_of_vertex = np.repeat(np.arange(self.size), counts)
        self.piece_ends = np.cumsum(counts)
        self.piece_starts = self.piece_ends - counts
        self.triangle_ends = np.cumsum(triangle_counts)
        self.triangle_starts = self.triangle_ends - triangle_counts
        self.triangle_colours = np.asarray(colours, dtype=np.float32)[np.repeat(np.arange(self.size), triangle_counts)]
        self.T_link_piece = np.asarray(T_link_piece)
        lo = np.minimum.reduceat(self.vertices, self.piece_starts)
        hi = np.maximum.reduceat(self.vertices, self.piece_starts)
        self.corners = np.where(_BOX_CORNER_BITS[None], hi[:, None, :], lo[:, None, :])

    def triangles_of(self, pieces: np.ndarray) -> np.ndarray:
        """Indices of the triangles of the given pieces."""
        return np.concatenate([np.arange(self.triangle_starts[i], self.triangle_ends[i]) for i in pieces])

    def world_transforms(self, client: int) -> np.ndarray:
        """(pieces, 4, 4): every piece's pose in the world now."""
        link_pose: dict[tuple[int, int], np.ndarray] = {}
        for body_id, body in self.bodies.items():
            links = sorted({link for link in body.links if link >= 0})
            if -1 in body.links:
                pos, quat = pb.getBasePositionAndOrientation(body_id, physicsClientId=client)
                link_pose[(body_id, -1)] = pose_matrix(pos, quat) @ body.T_com_link
            if links:
                states = pb.getLinkStates(body_id, links, computeForwardKinematics=1, physicsClientId=client)
                for link, state in zip(links, states, strict=True):
                    link_pose[(body_id, link)] = pose_matrix(state[4], state[5])
        T_world_link = np.asarray([link_pose[ref] for ref in self.refs])
        return T_world_link @ self.T_link_piece

    def posed(self, T_world_piece: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """World vertices (float32) and unit world normals of every piece at the given poses."""
        R = T_world_piece[self.piece_of_vertex, :3, :3]
        t = T_world_piece[self.piece_of_vertex, :3, 3]
        vertices = np.einsum("nij,nj->ni", R, self.vertices) + t
        return vertices.astype(np.float32), np.einsum("nij,nj->ni", R, self.normals)

    def world_corners(self, T_world_piece: np.ndarray) -> np.ndarray:
        """(pieces, 8, 3): the corners of every piece's bounding box in the world at the given poses."""
        return np.einsum("pij,pkj->pki", T_world_piece[:, :3, :3], self.corners) + T_world_piece[:, None, :3, 3]
