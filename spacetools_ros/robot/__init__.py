"""The arm: robot profiles, kinematics and the safety checks every motion passes."""
