"""Virtual composite cathodes: specs, packing, voxelization, storage, sweeps."""

__version__ = "0.1.0"
