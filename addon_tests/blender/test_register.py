"""Enable / disable / enable in one process; registration touches no data."""

import addon_utils
import bpy

from conftest import ADDON


def test_register_unregister_register(addon):
    assert hasattr(bpy.ops.motionclip, "generate") and hasattr(bpy.types.Scene, "motionclip")
    n_objects = len(bpy.data.objects)
    addon_utils.disable(ADDON, default_set=True, handle_error=None)
    assert not hasattr(bpy.types.Scene, "motionclip")
    assert "MOTIONCLIP_OT_generate" not in dir(bpy.types)
    addon_utils.enable(ADDON, default_set=True, handle_error=None)
    assert hasattr(bpy.types.Scene, "motionclip")
    assert bpy.context.preferences.addons.get(ADDON) is not None
    bpy.ops.motionclip.add_smpl_rig()  # operators work after the re-register
    assert len(bpy.data.objects) == n_objects + 2
    assert len(bpy.data.objects) >= 2




def test_ui_classes_registered(addon):
    assert bpy.types.VIEW3D_PT_motionclip.bl_category == "MotionCLIP"
    assert bpy.types.VIEW3D_PT_motionclip.bl_region_type == 'UI'
    settings = bpy.context.scene.motionclip
    assert settings.prompt and settings.seconds > 0


class _Recorder:
    """Stands in for ``UILayout`` while a panel draws: every call returns another recorder, and the operator
    idnames the panel offers are collected (operator properties set on the result are accepted)."""

    def __init__(self, seen: set):
        object.__setattr__(self, "seen", seen)
        object.__setattr__(self, "values", {})

    def operator(self, idname, **_kwargs):
        self.seen.add(idname)
        return _Recorder(self.seen)

    def __getattr__(self, name):
        if name in self.values:  # e.g. ``row.enabled`` read back after the panel set it
            return self.values[name]
        return lambda *args, **kwargs: _Recorder(self.seen)

    def __setattr__(self, name, value):
        self.values[name] = value


def test_every_operator_is_reachable_from_a_panel_list_or_the_preferences(addon):
    """Issue 13: Render Dataset and Use Checkpoint once appeared in no panel or menu. Every panel and list of
    the add-on is drawn (with every option shown) and every operator it registers must be offered somewhere."""
    from motionclip_blender.blender import ops, prefs, ui

    seen: set = set()
    scene = bpy.context.scene
    bpy.ops.motionclip.add_smpl_rig()
    settings = scene.motionclip_retarget
    settings.show_map, settings.source, settings.target = True, bpy.context.active_object, bpy.context.active_object
    scene.motionclip_search.hits.add().name = "some action"
    for cls in ui.CLASSES:
        stub = type("Stub", (), {"layout": _Recorder(seen)})()
        if hasattr(cls, "draw_item"):
            cls.draw_item(stub, bpy.context, _Recorder(seen), None, scene.motionclip_search.hits[0], 0, None, "",
                          0)
        else:
            cls.draw(stub, bpy.context)
    stub = type("Stub", (), {"layout": _Recorder(seen)})()
    prefs.MotionCLIPPreferences.draw(type("P", (), {"layout": _Recorder(seen), "checkpoint_path": "",
                                                    "text_encoder": "", "torch_threads": 0})(), bpy.context)
    offered = {s if isinstance(s, str) else s.bl_idname for s in seen}
    registered = {cls.bl_idname for cls in ops.CLASSES}
    assert {"motionclip.render_dataset", "motionclip.use_checkpoint"} <= offered
    assert registered - offered == set(), registered - offered
