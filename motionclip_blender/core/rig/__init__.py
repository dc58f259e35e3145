"""Rigs: the one bone-name table, map presets and detection, the retargeter and its frames, rig reference
poses, SMPL body meshes from user model files."""
