"""A ray-casting RGB-D camera for a PyBullet world: one ray per pixel through open3d's RaycastingScene (Embree).

The world's geometry comes from PyBullet (:mod:`~spacetools_ros.robot.sim.visual_geometry`: every body's visual
shapes, the arm's links included). Each pixel's ray starts on the near plane and goes through the point of the
pixel that TinyRenderer samples (:meth:`~spacetools_ros.robot.sim.pybullet_sim.SimCamera.ray_directions`); its
depth is the hit's distance along the optical axis, 0 where it hits nothing within ``far``. Back faces are culled
(a camera inside a link sees out of it), as TinyRenderer culls them. Colours are TinyRenderer's lighting of the
shapes' base colours with the same light (ambient 0.6, Lambertian diffuse 0.35, specular 0.05 of exponent 2, no
shadows; white background), evaluated at the vertices and interpolated across triangles, so frames look like
``ER_TINY_RENDERER``'s; only cylinder caps differ visibly (TinyRenderer smooths their normals into the sides).

Speed comes from casting few rays per frame. Per camera, an image of the bodies that do not move is kept: the
static ones (mass 0, no joints: table, floor, pedestal), cast once, and the bodies at rest (an object standing on
the table, the arm holding still), added once they stopped moving (REST_TOLERANCE_M) and taken out again (their
pixels cast anew against what remains) once they move. Every frame casts only the rays of the pixels that the
moving bodies can cover (the convex hull of each of their pieces' projected vertices) against those bodies, and
keeps the nearer of that and the kept image: the frame of casting every ray against the whole world, but for
bodies at rest being drawn where they were when they came to rest (within REST_TOLERANCE_M).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np
import pybullet as pb

from spacetools_ros.robot.sim.visual_geometry import BodyGeometry, MeshLookup, PiecePack, read_body

if TYPE_CHECKING:  # pragma: no cover
    from spacetools_ros.robot.sim.pybullet_sim import SimCamera

LIGHT_DIRECTION = (-0.4, 0.3, 1.0)
"""Direction towards the light (world frame), shared by every renderer of the simulator."""
PIXEL_SAMPLE_OFFSET = (-0.5, 0.5)
"""Where (OpenCV pixels, u and v) from a pixel's centre every renderer of the simulator samples it: TinyRenderer,
given :meth:`~spacetools_ros.robot.sim.pybullet_sim.SimCamera.projection_matrix`, samples window coordinates at
pixel corners, and the ray caster casts through the same points so that the two draw the same frames (sampling
the centres instead would move every edge by half a pixel, and the perception chain's grasps with it)."""
AMBIENT, DIFFUSE, SPECULAR, SHININESS = 0.6, 0.35, 0.05, 2.0
"""TinyRenderer's lighting coefficients (its specular exponent without a specular map is 2)."""
BACKGROUND_RGB = (255, 255, 255)
"""Colour of pixels that hit nothing (TinyRenderer's clear colour)."""
REST_TOLERANCE_M = 1e-4
"""A body is at rest while no corner of its pieces' bounding boxes moved more than this (metres, per axis) since
the previous frame; it is drawn anew once one moved more than this from where it was drawn (0.1 mm: a tenth of a
pixel at a metre)."""
MAX_CACHED_VIEWS = 4
"""Cameras (intrinsics, pose, near, far) whose rays and kept images are kept."""
MAX_BACK_FACES = 8
"""Back faces a ray passes through before it is given up (as a miss)."""
BACK_FACE_STEP = 1e-5
"""How far (m along the optical axis) past a back face a ray is cast again."""

_BOX_EDGES = np.array([(i, i | (1 << axis)) for i in range(8) for axis in range(3) if not (i >> axis) & 1])
"""The 12 edges of a box whose 8 corners are numbered by their (x, y, z) bits."""
_SUBPIXEL_BITS = 4
"""Fractional bits of the hull vertices handed to cv2.fillConvexPoly."""
_DILATE = np.ones((3, 3), dtype=np.uint8)


def intensity(normals: np.ndarray) -> np.ndarray:
    """TinyRenderer's light intensity of surface points with unit world normals (N, 3): ambient + min(diffuse +
    specular, 1 - ambient), the specular term of the reflected light's world z component."""
    light = np.asarray(LIGHT_DIRECTION, dtype=np.float64)
    light /= np.linalg.norm(light)
    n_dot_l = normals @ light
    reflected_z = 2.0 * n_dot_l * normals[:, 2] - light[2]
    specular = np.maximum(reflected_z, 0.0) ** SHININESS
    return (AMBIENT + np.minimum(DIFFUSE * np.maximum(n_dot_l, 0.0) + SPECULAR * specular, 1.0 - AMBIENT)).astype(
        np.float32)


def shade(colours: np.ndarray, light: np.ndarray) -> np.ndarray:
    """uint8 RGB of base colours (K, 3) in [0, 1] lit with intensities (K,), rounded down as TinyRenderer's are:
    floor(255 * intensity * colour)."""
    return ((np.float32(255.0) * light)[:, None] * colours).astype(np.uint8)


def _front_hits(scene: Any, rays: np.ndarray, back_faces_left: int = MAX_BACK_FACES) -> tuple[np.ndarray, ...]:
    """(t, triangle, uv) of every ray's first front-facing hit (t = inf: none). A ray that meets a triangle from
    behind (from inside a body: a camera inside a link, a body cut by the near plane) goes on through it."""
    import open3d as o3d

    answer = scene.cast_rays(o3d.core.Tensor.from_numpy(rays))
    t, triangle, uv = answer["t_hit"].numpy(), answer["primitive_ids"].numpy(), answer["primitive_uvs"].numpy()
    back = np.einsum("ij,ij->i", answer["primitive_normals"].numpy(), rays[:, 3:]) > 0.0  # misses: normal 0
    if back.any():
        t, triangle, uv = t.copy(), triangle.copy(), uv.copy()
        again = np.flatnonzero(back)
        if back_faces_left <= 0:
            t[again] = np.inf
            return t, triangle, uv
        step = t[again] + np.float32(BACK_FACE_STEP)
        further = rays[again]
        further[:, :3] += step[:, None] * further[:, 3:]
        t_on, triangle[again], uv[again] = _front_hits(scene, further, back_faces_left - 1)
        t[again] = step + t_on
    return t, triangle, uv


def _cast(pack: PiecePack, vertices: np.ndarray, light: np.ndarray, rays: np.ndarray, camera: SimCamera,
          triangles: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(hit mask over the rays, depth of the hits, their uint8 colours) of rays (contiguous float32 (K, 6)) against
    a posed pack (world vertices, per-vertex light intensity), or against only some of its triangles."""
    import open3d as o3d

    indices = pack.triangles if triangles is None else pack.triangles[triangles]
    scene = o3d.t.geometry.RaycastingScene()
    scene.add_triangles(o3d.core.Tensor.from_numpy(vertices), o3d.core.Tensor.from_numpy(np.ascontiguousarray(indices)))
    t, triangle, uv = _front_hits(scene, rays)
    hit = t <= np.float32(camera.far - camera.near)  # inf (no hit) compares False
    triangle, uv = triangle[hit].astype(np.int64), uv[hit]
    if triangles is not None:
        triangle = triangles[triangle]
    corner = light[pack.triangles[triangle]]  # (K, 3): the intensity at the corners of each hit's triangle
    lit = corner[:, 0] + uv[:, 0] * (corner[:, 1] - corner[:, 0]) + uv[:, 1] * (corner[:, 2] - corner[:, 0])
    return hit, t[hit] + np.float32(camera.near), shade(pack.triangle_colours[triangle], lit)


def _keep_nearer(rgb: np.ndarray, depth: np.ndarray, pixels: np.ndarray, hit: np.ndarray, z: np.ndarray,
                 colour: np.ndarray) -> None:
    """Write the hits of the rays of ``pixels`` into flat rgb / depth where they are nearer than what is there."""
    pixels = pixels[hit]
    behind = depth[pixels]
    nearer = (behind == 0) | (z < behind)
    depth[pixels[nearer]], rgb[pixels[nearer]] = z[nearer], colour[nearer]


@dataclass
class _Resting:
    """A body drawn into a view's kept image: its pieces' bounding-box corners then, and the pixels it covered."""

    corners: np.ndarray
    pixels: np.ndarray


@dataclass
class _View:
    """One camera's rays (origins on the near plane, directions with unit optical-axis component), the image of
    its static bodies, and the kept image (static bodies and the bodies at rest), flat (H * W)."""

    rays: np.ndarray  # (H * W, 6) float32
    shape: tuple[int, int]
    static_key: tuple | None = None
    static_rgb: np.ndarray | None = None
    static_depth: np.ndarray | None = None
    kept_rgb: np.ndarray | None = None
    kept_depth: np.ndarray | None = None
    resting: dict[int, _Resting] = field(default_factory=dict)

    def forget_resting(self) -> None:
        """The kept image back to the static bodies alone."""
        self.resting.clear()
        if self.static_rgb is not None and self.static_depth is not None:
            self.kept_rgb, self.kept_depth = self.static_rgb.copy(), self.static_depth.copy()


class RaycastRenderer:
    """Renders a PyBullet world's visual shapes by casting a ray per pixel (open3d's Embree RaycastingScene).

    ``mesh_lookup`` supplies meshes built from vertex arrays (PyBullet does not report them back). ``cull=False``
    casts every pixel's ray against every moving body at every frame (slow; the reference for checks).
    Raises ImportError when open3d is missing and
    :class:`~spacetools_ros.robot.sim.shape_meshes.UnsupportedShapeError` (from :meth:`render`) for a visual
    shape it cannot build. Not thread-safe (like the world it renders).
    """

    def __init__(self, client: int, mesh_lookup: MeshLookup | None = None, *, cull: bool = True) -> None:
        """Render the world of the PyBullet physics client ``client``."""
        import open3d as o3d  # noqa: F401  (fail early when open3d is missing)

        self.client = client
        self.mesh_lookup = mesh_lookup
        self.cull = cull
        self._bodies: dict[int, BodyGeometry] = {}
        self._static = PiecePack({})
        self._dynamic = PiecePack({})
        self._views: OrderedDict[tuple, _View] = OrderedDict()
        self._last_corners: np.ndarray | None = None

    # ----------------------------------------------------------------------------------- geometry
    def _sync(self) -> None:
        """Follow bodies added, removed or changed (shape, colour) since the last frame."""
        c = self.client
        ids = [pb.getBodyUniqueId(i, physicsClientId=c) for i in range(pb.getNumBodies(physicsClientId=c))]
        current: dict[int, BodyGeometry] = {}
        changed = set(self._bodies) != set(ids)
        for body_id in ids:
            signature = tuple(tuple(s) for s in pb.getVisualShapeData(body_id, physicsClientId=c))
            known = self._bodies.get(body_id)
            if known is not None and known.signature == signature:
                current[body_id] = known
            else:
                current[body_id] = read_body(c, body_id, signature, self.mesh_lookup)
                changed = True
        if changed:
            self._bodies = current
            self._static = PiecePack({b: v for b, v in current.items() if v.static and v.links})
            self._dynamic = PiecePack({b: v for b, v in current.items() if not v.static and v.links})
            self._last_corners = None
            for view in self._views.values():
                view.forget_resting()

    # --------------------------------------------------------------------------------------- views
    def _view(self, camera: SimCamera) -> _View:
        k = camera.intrinsics
        T = np.asarray(camera.T_base_camera, dtype=np.float64)
        key = (k.width, k.height, k.fx, k.fy, k.cx, k.cy, float(camera.near), float(camera.far), T.tobytes())
        view = self._views.get(key)
        if view is None:
            d_world = camera.ray_directions() @ T[:3, :3].T
            origins = T[:3, 3] + camera.near * d_world
            view = _View(np.concatenate([origins, d_world], axis=1).astype(np.float32), (k.height, k.width))
            self._views[key] = view
            while len(self._views) > MAX_CACHED_VIEWS:
                self._views.popitem(last=False)
        else:
            self._views.move_to_end(key)
        return view

    def _refresh_static(self, view: _View, camera: SimCamera) -> None:
        """Cast the static bodies anew when one of them moved or changed (or the view is new)."""
        c = self.client
        key = tuple((b, body.signature, pb.getBasePositionAndOrientation(b, physicsClientId=c))
                    for b, body in self._static.bodies.items())
        if view.static_key == key and view.kept_rgb is not None:
            return
        h, w = view.shape
        rgb = np.empty((h * w, 3), dtype=np.uint8)
        rgb[:] = BACKGROUND_RGB
        depth = np.zeros(h * w, dtype=np.float32)
        if self._static.size:
            vertices, normals = self._static.posed(self._static.world_transforms(c))
            hit, z, colour = _cast(self._static, vertices, intensity(normals), view.rays, camera)
            depth[hit], rgb[hit] = z, colour
        view.static_key, view.static_rgb, view.static_depth = key, rgb, depth
        view.forget_resting()

    # -------------------------------------------------------------------------------- bodies at rest
    def _update_resting(self, view: _View, camera: SimCamera, T_world_piece: np.ndarray, corners: np.ndarray,
                        vertices: np.ndarray, light: np.ndarray) -> None:
        """Take the bodies that moved out of the view's kept image, and put those that came to rest into it."""
        pack, kept_rgb, kept_depth = self._dynamic, view.kept_rgb, view.kept_depth
        assert kept_rgb is not None and kept_depth is not None
        moved = [b for b, rest in view.resting.items()
                 if np.abs(corners[pack.body_pieces[b]] - rest.corners).max() > REST_TOLERANCE_M]
        if moved:
            pixels = np.unique(np.concatenate([view.resting.pop(b).pixels for b in moved]))
            kept_rgb[pixels], kept_depth[pixels] = view.static_rgb[pixels], view.static_depth[pixels]
            if view.resting and len(pixels):
                pieces = np.concatenate([pack.body_pieces[b] for b in view.resting])
                hit, z, colour = _cast(pack, vertices, light, np.take(view.rays, pixels, axis=0), camera,
                                       pack.triangles_of(pieces))
                _keep_nearer(kept_rgb, kept_depth, pixels, hit, z, colour)
        if self._last_corners is None:
            return
        for body, pieces in pack.body_pieces.items():
            if body in view.resting or body in moved or len(pieces) == 0:
                continue
            if np.abs(corners[pieces] - self._last_corners[pieces]).max() <= REST_TOLERANCE_M:
                pixels = self._coverage(vertices, T_world_piece, camera, pieces)
                if len(pixels):
                    hit, z, colour = _cast(pack, vertices, light, np.take(view.rays, pixels, axis=0), camera,
                                           pack.triangles_of(pieces))
                    _keep_nearer(kept_rgb, kept_depth, pixels, hit, z, colour)
                view.resting[body] = _Resting(corners[pieces].copy(), pixels)

    # -------------------------------------------------------------------------------------- culling
    def _coverage(self, vertices: np.ndarray, T_world_piece: np.ndarray, camera: SimCamera,
                  pieces: np.ndarray) -> np.ndarray:
        """Flat indices of the pixels that the given pieces can cover: the convex hull of each piece's projected
        vertices (of its bounding box clipped at the near plane where it reaches behind it), grown by a pixel."""
        k, pack = camera.intrinsics, self._dynamic
        T_camera_world = np.linalg.inv(np.asarray(camera.T_base_camera, dtype=np.float64))
        p = vertices @ T_camera_world[:3, :3].T.astype(np.float32) + T_camera_world[:3, 3].astype(np.float32)
        z = np.maximum(p[:, 2], camera.near)
        uv = np.stack([k.fx * p[:, 0] / z + k.cx, k.fy * p[:, 1] / z + k.cy], axis=1)
        uv -= np.asarray(PIXEL_SAMPLE_OFFSET, dtype=np.float32)  # pixel (c, r) samples (c, r) + offset
        mask = np.zeros((k.height, k.width), dtype=np.uint8)
        for i in pieces:
            depths = p[pack.piece_starts[i]:pack.piece_ends[i], 2]
            if depths.max() < camera.near or depths.min() > camera.far:
                continue
            if depths.min() >= camera.near:
                points = uv[pack.piece_starts[i]:pack.piece_ends[i]]
            else:
                points = self._clipped_box(T_camera_world @ T_world_piece[i], pack.corners[i], camera)
            points = np.clip(points, -1e6, 1e6) * (1 << _SUBPIXEL_BITS)
            hull = cv2.convexHull(np.round(points).astype(np.int32))
            cv2.fillConvexPoly(mask, hull, 1, lineType=cv2.LINE_8, shift=_SUBPIXEL_BITS)
        return np.flatnonzero(cv2.dilate(mask, _DILATE))

    @staticmethod
    def _clipped_box(T_camera_piece: np.ndarray, corners: np.ndarray, camera: SimCamera) -> np.ndarray:
        """Image points (in sample space) whose convex hull holds the projection of the part of a piece's bounding
        box in front of the near plane: its corners there and where its edges cross the plane."""
        k = camera.intrinsics
        c = corners @ T_camera_piece[:3, :3].T + T_camera_piece[:3, 3]
        a, b = c[_BOX_EDGES[:, 0]], c[_BOX_EDGES[:, 1]]
        crosses = (a[:, 2] - camera.near) * (b[:, 2] - camera.near) < 0.0
        s = (camera.near - a[crosses, 2]) / (b[crosses, 2] - a[crosses, 2])
        points = np.vstack([c[c[:, 2] >= camera.near], a[crosses] + s[:, None] * (b[crosses] - a[crosses])])
        z = np.maximum(points[:, 2], camera.near)
        uv = np.stack([k.fx * points[:, 0] / z + k.cx, k.fy * points[:, 1] / z + k.cy], axis=1)
        return uv - np.asarray(PIXEL_SAMPLE_OFFSET)

    # -------------------------------------------------------------------------------------- render
    def render(self, camera: SimCamera) -> tuple[np.ndarray, np.ndarray]:
        """(uint8 RGB (H, W, 3), float32 metric depth along the optical axis (H, W), 0 where nothing is hit)."""
        self._sync()
        view = self._view(camera)
        self._refresh_static(view, camera)
        assert view.kept_rgb is not None and view.kept_depth is not None
        h, w = view.shape
        pack = self._dynamic
        if not pack.size:
            return view.kept_rgb.reshape(h, w, 3).copy(), view.kept_depth.reshape(h, w).copy()
        T_world_piece = pack.world_transforms(self.client)
        corners = pack.world_corners(T_world_piece)
        vertices, normals = pack.posed(T_world_piece)
        light = intensity(normals)
        if self.cull:
            self._update_resting(view, camera, T_world_piece, corners, vertices, light)
        self._last_corners = corners
        rgb, depth = view.kept_rgb.copy(), view.kept_depth.copy()
        moving = [pieces for body, pieces in pack.body_pieces.items() if body not in view.resting and len(pieces)]
        if moving:
            pieces = np.concatenate(moving)
            pixels = self._coverage(vertices, T_world_piece, camera, pieces) if self.cull else np.arange(h * w)
            if len(pixels):
                hit, z, colour = _cast(pack, vertices, light, np.take(view.rays, pixels, axis=0), camera,
                                       pack.triangles_of(pieces))
                _keep_nearer(rgb, depth, pixels, hit, z, colour)
        return rgb.reshape(h, w, 3), depth.reshape(h, w)
