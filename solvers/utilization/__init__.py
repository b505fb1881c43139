"""Static CAM utilization: which active-material particles are electronically and ionically
connected (strict and CAM-relay rules)."""

from ._utilization import RULES, ParticleTable, UtilizationResult, cam_utilization

__all__ = ["RULES", "ParticleTable", "UtilizationResult", "cam_utilization"]
