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
