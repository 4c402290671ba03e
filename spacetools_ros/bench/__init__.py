"""Benchmarks of the perception stack that can run anywhere the package is installed.

spacetools_ros.bench.perf times the default perception chain on one RGB-D frame (back-projection, table
plane and objects, segmentation from a point, an oriented 3D box, a grasp) beside a naive open3d pipeline.
"""
