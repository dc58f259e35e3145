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


def test_every_operator_is_reachable_from_a_panel_list_or_the_preferences(addon):
    """Issue 13: Render Dataset and Use Checkpoint once appeared in no panel or menu. Every panel and list of
    the add-on is drawn (with every option shown) and every operator it registers must be offered somewhere."""
    from motionclip_blender.blender import ops, prefs, ui

    from bl_helpers import LayoutRecorder

    layout = LayoutRecorder()
    scene = bpy.context.scene
    bpy.ops.motionclip.add_smpl_rig()
    settings = scene.motionclip_retarget
    settings.show_map, settings.source, settings.target = True, bpy.context.active_object, bpy.context.active_object
    scene.motionclip_search.hits.add().name = "some action"
    for cls in ui.CLASSES:
        stub = type("Stub", (), {"layout": layout})()
        if hasattr(cls, "draw_item"):
            cls.draw_item(stub, bpy.context, layout, None, scene.motionclip_search.hits[0], 0, None, "", 0)
        else:
            cls.draw(stub, bpy.context)
    prefs.MotionCLIPPreferences.draw(type("P", (), {"layout": layout, "checkpoint_path": "", "text_encoder": "",
                                                    "torch_threads": 0})(), bpy.context)
    offered = layout.offered
    registered = {cls.bl_idname for cls in ops.CLASSES}
    assert {"motionclip.render_dataset", "motionclip.use_checkpoint"} <= offered
    assert registered - offered == set(), registered - offered
