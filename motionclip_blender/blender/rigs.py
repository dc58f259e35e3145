"""One adapter per armature: everything the add-on does to a rig — bake a Motion as an action, read an action
back into a Motion, undo its changes if something fails — behind one interface, for Add SMPL Rig's rig and
any rig the Retarget panel maps alike. Operators ask ``rig_for(context, arm)`` and never branch on the kind.

- ``SmplRig``: the SMPL skeleton itself; keys are written from the Motion's rotations directly
  (``bake.bake_motion``) and read from the F-curves (``readback.smpl_motion_from_action``).
- ``MappedRig``: any humanoid with a bone map (preset, detected or the panel's custom map); the Motion goes
  through the core retargeter (``retarget.retarget_motion``) and comes back by sampling the evaluated pose
  (``retarget.read_motion``), measured against the rig's reference pose (``binding``). An SMPL-named rig that
  does not rest as Add SMPL Rig makes it (centimetres, Y up, applied scale, other proportions) is one too,
  through the ``smpl`` preset whatever the panel says.
"""

from __future__ import annotations

import bpy

from ..core.motion.skeleton import JOINT_NAMES
from . import readback, retarget, rig
from .bake import action_name, finish_action, rollback_on_failure, scene_fps


class RigAdapter:
    """An armature the add-on can write to and read from. ``bake`` and ``read`` raise the layer's
    MotionCLIP errors (``retarget.MapError``, ``readback.UnmappedRigError``) with messages naming the rig."""

    kind = ""

    def __init__(self, context, arm):
        self.context, self.arm = context, arm

    def validate(self) -> None:
        """Everything a bake will need of this rig, checked before any model work (raises ``MapError``)."""

    def rollback(self):
        """Context manager: if the block raises, the file is as it was (actions, NLA, assignment, modes)."""
        return rollback_on_failure(self.arm)

    def bake(self, motion, name: str, *, start_frame: int | None = None, props: dict | None = None,
             root_mode: str | None = None) -> tuple:
        """``motion`` as a new action named ``name`` (assigned) at the scene's fps from ``start_frame``
        (default: the scene's start); -> (action, notes for the report)."""
        raise NotImplementedError

    def read(self, action, frames: tuple[int, int], fps: float):
        """The poses of ``action`` on this rig at integer ``frames`` (inclusive), timed at ``fps``."""
        raise NotImplementedError

    def apply(self, motion, info: dict, set_frame_range: bool = True, root_mode: str | None = None,
              then=None) -> tuple:
        """Generate's bake: named from ``info['prompt']``, ``info`` stored as custom properties, a loop made
        cyclic, the scene range fitted, then ``then(action)`` (a sequence's markers and strips; returns a note);
        everything, the scene range included, undone on failure. -> (action, notes)."""
        scene = self.context.scene
        scene_range = (scene.frame_start, scene.frame_end)
        try:
            with self.rollback():
                action, notes = self.bake(motion, action_name(info.get("prompt", "motion")), props=info,
                                          root_mode=root_mode)
                finish_action(scene, action, info, set_frame_range)
                if then is not None:
                    notes = notes + [then(action)]
        except BaseException:
            scene.frame_start, scene.frame_end = scene_range
            raise
        return action, notes

    def _start(self, start_frame: int | None) -> int:
        return self.context.scene.frame_start if start_frame is None else int(start_frame)


class SmplRig(RigAdapter):
    kind = "smpl"

    def bake(self, motion, name, *, start_frame=None, props=None, root_mode=None):
        from .bake import bake_motion

        action = bake_motion(self.arm, motion, name, start_frame=self._start(start_frame),
                             target_fps=scene_fps(self.context.scene), props=props)
        note = retarget.constraint_note(self.arm, JOINT_NAMES)
        return action, [note] if note else []

    def read(self, action, frames, fps):
        return readback.smpl_motion_from_action(self.arm, action, fps, frames)


class MappedRig(RigAdapter):
    kind = "mapped"

    def __init__(self, context, arm, preset: str | None = None):
        super().__init__(context, arm)
        self.preset = preset  # None: the Retarget panel's map

    def _options(self) -> tuple[str, dict, str]:
        preset, custom, root = retarget.scene_options(self.context)
        return (preset, custom, root) if self.preset is None else (self.preset, {}, root)

    def validate(self):
        preset, custom, _ = self._options()  # the map, the reference pose, the retargeting frame
        retarget.validate_target(self.context, self.arm, preset, custom)

    def bake(self, motion, name, *, start_frame=None, props=None, root_mode=None):
        """``root_mode`` overrides the Retarget panel's (clips placed by the caller pass 'FULL')."""
        preset, custom, panel_root = self._options()
        action, notes = retarget.retarget_motion(
            self.context, self.arm, motion, name, preset=preset, custom=custom, root_mode=root_mode or panel_root,
            start_frame=self._start(start_frame), target_fps=scene_fps(self.context.scene), props=props)
        return action, notes[1:]  # past the map label: the reference pose used and warnings, for the report

    def read(self, action, frames, fps):
        preset, custom, _ = self._options()
        with readback.assigned(self.arm, action, readback.slot_for(self.arm, action)):
            try:
                return retarget.read_motion(self.context, self.arm, frames[0], frames[1], preset=preset,
                                            custom=custom, fps=fps)
            except ValueError as exc:  # MapError / RetargetError: the map stopped fitting
                raise readback.UnmappedRigError(f"Armature '{self.arm.name}' cannot be mapped to SMPL: {exc}") from None


def rig_for(context, arm) -> RigAdapter:
    """The adapter for ``arm``: raises ``readback.UnmappedRigError`` naming the missing bones when it is neither
    an SMPL rig nor mapped by the Retarget panel's map."""
    if arm is None or getattr(arm, "type", None) != 'ARMATURE':
        raise readback.UnmappedRigError(f"'{getattr(arm, 'name', arm)}' is not an armature")
    if rig.is_smpl_armature(arm)[0]:
        if rig.has_builtin_rest(arm):
            return SmplRig(context or bpy.context, arm)
        return MappedRig(context or bpy.context, arm, preset="smpl")
    problem = readback.rig_problem(arm)
    if problem:
        raise readback.UnmappedRigError(problem)
    return MappedRig(context or bpy.context, arm)
