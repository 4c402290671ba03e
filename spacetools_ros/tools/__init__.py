"""Tools the planner calls: one decorator, one registry."""
