"""The Search Actions sub-panel: a text, the number of hits, and the ranked hits (a click assigns one)."""

from __future__ import annotations

import bpy

from .latent import _Child


class MOTIONCLIP_UL_search_hits(bpy.types.UIList):
    def draw_item(self, context, layout, data, item, icon, active_data, active_propname, index=0):
        row = layout.row(align=True)
        row.operator("motionclip.assign_action", text=item.name, icon='ACTION').action = item.name
        row.label(text=f"{item.score:.3f}")


class VIEW3D_PT_motionclip_search(_Child, bpy.types.Panel):
    bl_label = "Search Actions"

    def draw(self, context):
        s, layout = context.scene.motionclip_search, self.layout
        layout.prop(s, "query", text="")
        row = layout.row(align=True)
        row.prop(s, "top_k")
        op = row.operator("motionclip.search_actions", text="Search", icon='VIEWZOOM')
        op.query, op.top_k = s.query, s.top_k
        if len(s.hits):
            layout.template_list("MOTIONCLIP_UL_search_hits", "", s, "hits", s, "hits_index", rows=5)


CLASSES = (MOTIONCLIP_UL_search_hits, VIEW3D_PT_motionclip_search)
