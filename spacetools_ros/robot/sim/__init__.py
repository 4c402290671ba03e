"""Physics simulation of the arm on a tabletop (PyBullet), so robot tools can run closed-loop offline.

Importing this package does not import PyBullet; :mod:`spacetools_ros.robot.sim.pybullet_sim` does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["SimBackend", "SimCamera", "TabletopSim", "camera_from_scene"]

if TYPE_CHECKING:  # pragma: no cover
    from spacetools_ros.robot.sim.pybullet_sim import SimCamera, TabletopSim, camera_from_scene
    from spacetools_ros.robot.sim.sim_backend import SimBackend


def __getattr__(name: str) -> Any:
    """Lazily import the PyBullet module on first use of one of its names."""
    if name == "SimBackend":
        from spacetools_ros.robot.sim import sim_backend

        return sim_backend.SimBackend
    if name in __all__:
        from spacetools_ros.robot.sim import pybullet_sim

        return getattr(pybullet_sim, name)
    raise AttributeError(name)
