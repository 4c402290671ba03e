"""Planners: the scripted default and (later) model-backed planners, behind one interface."""
