"""The paper's latent operations as operators: blend (sequence on NLA / mix), interpolate, edit, recognize,
variations.

Every operator follows ``jobs.ModelJobOperator``: inputs are validated and actions read into Motions
(``readback``) on the main thread in ``_prepare``; the model runs in ``_compute`` (``latent_work``: blocking
from scripts and in background mode, in a worker thread with progress from the panel); results are written
in ``_apply``, which removes whatever it made if anything fails, so a failed run leaves the file as it was.

A clip source is an action (``action_x``, a name; wins when given) or a prompt (``prompt_x``). Actions are
read on the active armature, so they must animate its bones (an action made for another rig is refused).
New actions are baked on the active armature (SMPL rigs directly, other rigs through the retarget module),
keyed from the scene's start frame at its fps, and get a fake user so none is lost on save.
"""

from __future__ import annotations


import bpy
from bpy.props import BoolProperty, EnumProperty, FloatProperty, IntProperty, StringProperty

from .. import readback
from ..props import SECONDS, TRANSITION_SECONDS
from ..rigs import rig_for
from .latent_base import _BadInput, _LatentOperator, match_quaternion_signs, resolve_source, write_clip


def _prompt(clip: str) -> dict:
    return dict(name=f"Prompt {clip}", description=f"Clip {clip} from a prompt (used when Action {clip} is empty)")


def _action(clip: str) -> dict:
    return dict(name=f"Action {clip}", description=f"Clip {clip} from an action (a name) on the armature; "
                                                    "wins over the prompt")


class MOTIONCLIP_OT_blend(_LatentOperator, bpy.types.Operator):
    """Blend two clips: play B after A on NLA tracks with a crossfade (B aligned to where A ends), or mix
    their latents into one new clip"""

    bl_idname = "motionclip.blend"
    bl_label = "Blend Clips"

    mode: EnumProperty(name="Mode", items=(
        ('SEQUENCE', "Sequence", "B after A on NLA tracks, crossfaded, B's start aligned to A's end"),
        ('MIX', "Mix", "One new clip decoded from (1 − α)·zA + α·zB")), default='SEQUENCE')
    prompt_a: StringProperty(**_prompt("A"))
    action_a: StringProperty(**_action("A"))
    prompt_b: StringProperty(**_prompt("B"))
    action_b: StringProperty(**_action("B"))
    seconds: FloatProperty(**SECONDS)
    crossfade: IntProperty(name="Crossfade", description="Frames over which B blends in over A", default=10,
                           min=0, soft_max=60)
    transition: BoolProperty(name="Latent Transition",
                             description="Insert a clip decoded halfway between A's and B's latents", default=False)
    transition_seconds: FloatProperty(**TRANSITION_SECONDS)
    alpha: FloatProperty(name="α", description="Mix: 0 is A, 1 is B", default=0.5, min=0.0, max=1.0,
                         subtype='FACTOR')

    def _inputs(self, context, arm):
        a, label_a, act_a = resolve_source(arm, self.prompt_a, self.action_a, "Clip A")
        b, label_b, _ = resolve_source(arm, self.prompt_b, self.action_b, "Clip B")
        if self.mode == 'SEQUENCE':
            from ..bake import scene_fps

            fps = scene_fps(context.scene)
            lengths = [len(x) if not isinstance(x, str) else round(self.seconds * fps) for x in (a, b)]
            if self.crossfade >= min(lengths):
                raise _BadInput(f"Crossfade of {self.crossfade} frames is not shorter than the clips "
                                f"({lengths[0]} and {lengths[1]} frames)")
            if act_a and abs(readback.action_rate(bpy.data.actions[act_a], context.scene) - fps) > 1e-6:
                raise _BadInput(f"Action '{act_a}' is set to {bpy.data.actions[act_a].motionclip_fps:g} fps and the "
                                f"scene plays {fps:g}: on NLA it would play at the wrong speed; set the scene's frame "
                                "rate to the action's (or its Action FPS to 0) to sequence it")
            start = readback.frame_range(bpy.data.actions[act_a])[0] if act_a else context.scene.frame_start
            return {"a": a, "b": b, "labels": (label_a, label_b), "action_a": act_a, "fps": fps, "start": start}
        return {"a": a, "b": b, "labels": (label_a, label_b)}

    def _job_text(self, plan):
        return f"{self.mode.lower()} '{plan['labels'][0][:20]}' + '{plan['labels'][1][:20]}'"

    def _compute(self, plan, job):
        from . import latent_work as work

        if self.mode == 'SEQUENCE':
            return work.sequence(plan["settings"], plan["a"], plan["b"], seconds=self.seconds,
                                 crossfade=self.crossfade, fps=plan["fps"], job=job,
                                 transition_seconds=self.transition_seconds if self.transition else 0.0)
        return work.mix(plan["settings"], plan["a"], plan["b"], alpha=self.alpha, seconds=self.seconds, job=job)

    def _apply(self, context, plan, result):
        from .. import bake

        arm = self._armature(plan)
        la, lb = plan["labels"]
        if self.mode == 'MIX':
            motion, info = result
            with rig_for(context, arm).rollback():
                action, _ = write_clip(context, arm, motion, f"mix {la} {lb} {self.alpha:.2f}",
                                       {**info, "operation": "mix", "a": la, "b": lb})
                first, last = readback.frame_range(action)
                bake.set_scene_range(context.scene, first, last - first + 1)
            self.report({'INFO'}, f"Mixed '{la}' and '{lb}' at α = {self.alpha:.2f} into '{action.name}'")
            return {'FINISHED'}

        clips, fade = result["clips"], result["crossfade"]
        with rig_for(context, arm).rollback():
            ad = arm.animation_data_create()
            placed, start = [], int(plan["start"])  # (action, slot, first frame, label)
            for i, (clip, label) in enumerate(zip(clips, result["names"])):
                if i == 0 and plan["action_a"]:
                    action = bpy.data.actions[plan["action_a"]]
                    placed.append((action, readback.slot_for(arm, action), start, label))
                else:
                    info = {"operation": "sequence", "model": result["model"], "a": la, "b": lb}
                    action, slot = write_clip(context, arm, clip, f"{label} seq", info, start_frame=start,
                                              keep_root=True)
                    placed.append((action, slot, start, label))
                start += len(clip) - 1 - fade  # the next clip starts on this one's first crossfade frame
            for prev, nxt in zip(placed, placed[1:]):
                match_quaternion_signs(prev[0], prev[1], nxt[0], nxt[1], nxt[2])
            ad.action = None  # an active action would play over the whole NLA stack
            for i, (action, slot, first, label) in enumerate(placed):
                track = ad.nla_tracks.new()  # appended on top: later clips replace earlier ones
                track.name = f"MC {i + 1}: {label}"[:60]
                strip = track.strips.new(track.name, first, action)
                if slot is not None:
                    strip.action_slot = slot
                strip.blend_type = 'REPLACE'
                # The first clip holds its pose before it starts; later ones hold their last pose after they
                # end instead of revealing the clip underneath.
                strip.extrapolation = 'HOLD' if i == 0 else 'HOLD_FORWARD'
                strip.blend_in = float(fade) if i else 0.0
            end = placed[-1][2] + len(clips[-1]) - 1
            bake.set_scene_range(context.scene, placed[0][2], end - placed[0][2] + 1)
        self.report({'INFO'}, f"Sequenced {' → '.join(p[3] for p in placed)} on NLA "
                              f"(crossfade {fade} frames, frames {placed[0][2]}–{end})")
        return {'FINISHED'}


class MOTIONCLIP_OT_interpolate(_LatentOperator, bpy.types.Operator):
    """Write N in-between clips along the straight latent line from A to B, each its own action"""

    bl_idname = "motionclip.interpolate"
    bl_label = "Interpolate Clips"

    prompt_a: StringProperty(**_prompt("A"))
    action_a: StringProperty(**_action("A"))
    prompt_b: StringProperty(**_prompt("B"))
    action_b: StringProperty(**_action("B"))
    count: IntProperty(name="In-betweens", default=3, min=1, max=32)
    include_ends: BoolProperty(name="Include A and B", description="Also decode both ends", default=False)
    seconds: FloatProperty(**SECONDS)

    def _inputs(self, context, arm):
        a, la, _ = resolve_source(arm, self.prompt_a, self.action_a, "Clip A")
        b, lb, _ = resolve_source(arm, self.prompt_b, self.action_b, "Clip B")
        return {"a": a, "b": b, "labels": (la, lb)}

    def _job_text(self, plan):
        return f"interpolating '{plan['labels'][0][:20]}' → '{plan['labels'][1][:20]}'"

    def _compute(self, plan, job):
        from . import latent_work as work

        return work.interpolate(plan["settings"], plan["a"], plan["b"], count=self.count,
                                include_ends=self.include_ends, seconds=self.seconds, job=job)

    def _apply(self, context, plan, result):
        clips, info = result
        arm, (la, lb) = self._armature(plan), plan["labels"]
        with rig_for(context, arm).rollback():
            made = [write_clip(context, arm, m, f"{la} to {lb} {t:.2f}",
                               {**info, "operation": "interpolate", "a": la, "b": lb, "t": t})[0] for t, m in clips]
            arm.animation_data.action = made[0]
            arm.animation_data.action_slot = readback.slot_for(arm, made[0])
        self.report({'INFO'}, f"Wrote {len(made)} clips from '{la}' to '{lb}': {', '.join(a.name for a in made)}")
        return {'FINISHED'}


class MOTIONCLIP_OT_edit(_LatentOperator, bpy.types.Operator):
    """Latent arithmetic: a new action decoded from E(base) − E(minus) + E(plus)"""

    bl_idname = "motionclip.edit"
    bl_label = "Edit Motion"

    base_prompt: StringProperty(name="Base Prompt", description="Empty with no Base Action: the active action")
    base_action: StringProperty(name="Base Action")
    minus_prompt: StringProperty(name="Minus Prompt")
    minus_action: StringProperty(name="Minus Action")
    plus_prompt: StringProperty(name="Plus Prompt")
    plus_action: StringProperty(name="Plus Action")
    seconds: FloatProperty(**SECONDS)

    def _inputs(self, context, arm):
        base, lbase, _ = resolve_source(arm, self.base_prompt, self.base_action, "Base", use_active=True)
        minus, lminus, _ = resolve_source(arm, self.minus_prompt, self.minus_action, "Minus")
        plus, lplus, _ = resolve_source(arm, self.plus_prompt, self.plus_action, "Plus")
        return {"base": base, "minus": minus, "plus": plus, "labels": (lbase, lminus, lplus)}

    def _job_text(self, plan):
        return "editing '{}' − '{}' + '{}'".format(*(l[:16] for l in plan["labels"]))

    def _compute(self, plan, job):
        from . import latent_work as work

        return work.edit(plan["settings"], plan["base"], plan["minus"], plan["plus"], seconds=self.seconds, job=job)

    def _apply(self, context, plan, result):
        from .. import bake

        motion, info = result
        arm, (lbase, lminus, lplus) = self._armature(plan), plan["labels"]
        with rig_for(context, arm).rollback():
            action, _ = write_clip(context, arm, motion, f"{lbase} minus {lminus} plus {lplus}",
                                   {**info, "operation": "edit", "base": lbase, "minus": lminus, "plus": lplus})
            first, last = readback.frame_range(action)
            bake.set_scene_range(context.scene, first, last - first + 1)
        self.report({'INFO'}, f"'{lbase}' − '{lminus}' + '{lplus}' → '{action.name}'")
        return {'FINISHED'}


class MOTIONCLIP_OT_recognize(_LatentOperator, bpy.types.Operator):
    """Rank action labels for the active armature's action; the top ones are stored on the armature
    (``object.motionclip_recognition``) for the panel and scripts"""

    bl_idname = "motionclip.recognize"
    bl_label = "Recognize Action"

    labels: StringProperty(name="Labels", description="Comma or newline separated labels; empty uses the "
                                                      "scene's label list (seeded from the add-on's defaults)")
    action: StringProperty(name="Action", description="Action to recognize; empty: the armature's active action")
    top_k: IntProperty(name="Top", default=5, min=1, max=20)

    def _inputs(self, context, arm):
        from ...core.model.labels import default_labels, parse_labels

        seed_defaults = False
        if self.labels.strip():
            labels = parse_labels(self.labels)
        else:
            settings = context.scene.motionclip_latent
            labels = [item.name.strip() for item in settings.labels if item.name.strip()]
            if not labels and not settings.labels_seeded:
                labels, seed_defaults = default_labels(), True  # first use: the shipped list
        if not labels:
            raise _BadInput("The label list is empty: add labels in the MotionCLIP panel (or Reset to the defaults)")
        motion, label, name = resolve_source(arm, "", self.action, "Recognize", use_active=True)
        timing = readback.timing_note(motion, bpy.data.actions[name])  # a slowed-down take ranks the wrong labels
        return {"motion": motion, "labels": labels, "action": name, "seed_defaults": seed_defaults, "timing": timing}

    def _job_text(self, plan):
        return f"recognizing '{plan['action'][:30]}'"

    def _compute(self, plan, job):
        from . import latent_work as work

        return work.recognize(plan["settings"], plan["motion"], plan["labels"], top_k=self.top_k, job=job)

    def _apply(self, context, plan, result):
        ranked, _ = result
        arm = self._armature(plan)
        if plan["seed_defaults"]:
            settings = context.scene.motionclip_latent
            for label in plan["labels"]:
                settings.labels.add().name = label
            settings.labels_seeded = True
        store = arm.motionclip_recognition
        store.action = plan["action"]
        store.items.clear()
        for label, score in ranked:
            item = store.items.add()
            item.name, item.score = label, score
        self.report({'INFO'}, f"'{plan['action']}': " + ", ".join(f"{l} {s:.2f}" for l, s in ranked))
        if plan["timing"]:
            self.report({'WARNING'}, plan["timing"])
        return {'FINISHED'}


class MOTIONCLIP_OT_variations(_LatentOperator, bpy.types.Operator):
    """N variations of a prompt (or an action), each its own action, ranked by how well they match it (best first,
    the score stored on each action)"""

    bl_idname = "motionclip.variations"
    bl_label = "Variations"

    prompt: StringProperty(name="Prompt", description="Used when Action is empty")
    action: StringProperty(name="Action", description="Vary this action instead of a prompt")
    count: IntProperty(name="Count", default=4, min=1, max=32)
    seed: IntProperty(name="First Seed", description="Variations use seeds seed, seed+1, …; prompt variation k "
                                                     "equals Generate with seed k", default=1, min=1)
    variation: FloatProperty(name="Amount", description="Relative size of the latent perturbation", default=0.25,
                             min=0.0, soft_max=1.0, max=4.0)
    seconds: FloatProperty(**SECONDS)

    def _inputs(self, context, arm):
        source, label, _ = resolve_source(arm, self.prompt, self.action, "Variations")
        return {"source": source, "label": label}

    def _job_text(self, plan):
        return f"{self.count} variations of '{plan['label'][:30]}'"

    def _compute(self, plan, job):
        from . import latent_work as work

        return work.variations(plan["settings"], plan["source"], count=self.count, seed=self.seed,
                               variation=self.variation, seconds=self.seconds, job=job)

    def _apply(self, context, plan, result):
        clips, info = result
        arm, label = self._armature(plan), plan["label"]
        with rig_for(context, arm).rollback():
            made = [write_clip(context, arm, m, f"{label} v{s}",
                               {**info, "operation": "variations", "prompt": label, "seed": s, "match": score,
                                "rank": rank + 1})[0] for rank, (s, m, score) in enumerate(clips)]
            arm.animation_data.action = made[0]  # the best match
            arm.animation_data.action_slot = readback.slot_for(arm, made[0])
        ranked = ", ".join(f"{a.name} ({a['match']:.2f})" for a in made)
        self.report({'INFO'}, f"Wrote {len(made)} variations of '{label}', best match first: {ranked}")
        return {'FINISHED'}


# --- label list editing -----------------------------------------------------------------------------------
class MOTIONCLIP_OT_labels_reset(bpy.types.Operator):
    """Replace the label list with the add-on's default labels (assets/labels.txt)"""

    bl_idname = "motionclip.labels_reset"
    bl_label = "Reset Labels"
    bl_options = {'REGISTER', 'UNDO'}

    def execute(self, context):
        from ...core.model.labels import default_labels

        labels = default_labels()
        if not labels:
            self.report({'ERROR'}, "The default label file (assets/labels.txt) is missing or empty")
            return {'CANCELLED'}
        settings = context.scene.motionclip_latent
        settings.labels.clear()
        for label in labels:
            settings.labels.add().name = label
        settings.labels_seeded = True
        settings.labels_index = 0
        self.report({'INFO'}, f"{len(labels)} default labels")
        return {'FINISHED'}


class MOTIONCLIP_OT_label_add(bpy.types.Operator):
    """Add a label to the recognition list"""

    bl_idname = "motionclip.label_add"
    bl_label = "Add Label"
    bl_options = {'REGISTER', 'UNDO'}

    name: StringProperty(name="Label", default="new label")

    def execute(self, context):
        settings = context.scene.motionclip_latent
        settings.labels.add().name = self.name
        settings.labels_seeded = True
        settings.labels_index = len(settings.labels) - 1
        return {'FINISHED'}


class MOTIONCLIP_OT_label_remove(bpy.types.Operator):
    """Remove the selected label from the recognition list"""

    bl_idname = "motionclip.label_remove"
    bl_label = "Remove Label"
    bl_options = {'REGISTER', 'UNDO'}

    @classmethod
    def poll(cls, context):
        s = context.scene.motionclip_latent
        return 0 <= s.labels_index < len(s.labels)

    def execute(self, context):
        settings = context.scene.motionclip_latent
        settings.labels.remove(settings.labels_index)
        settings.labels_seeded = True
        settings.labels_index = min(settings.labels_index, len(settings.labels) - 1)
        return {'FINISHED'}


MODEL_OPERATORS = (MOTIONCLIP_OT_blend, MOTIONCLIP_OT_interpolate, MOTIONCLIP_OT_edit, MOTIONCLIP_OT_recognize,
                   MOTIONCLIP_OT_variations)  # jobs: one undo step, a worker thread from the UI, Esc cancels
CLASSES = (*MODEL_OPERATORS, MOTIONCLIP_OT_labels_reset, MOTIONCLIP_OT_label_add, MOTIONCLIP_OT_label_remove)
