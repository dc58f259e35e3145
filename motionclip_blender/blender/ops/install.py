"""Install Dependencies: pip installs the pinned runtime packages (torch, ...) into the add-on's private
site-packages in a background process, its output shown in the preferences as it comes; modal, cancellable."""

from __future__ import annotations

import importlib
import subprocess
import sys
import threading

import bpy

from ..deps import _Install, _pump, ensure_path, manual_command, pip_command, site_packages_dir


class MOTIONCLIP_OT_install_dependencies(bpy.types.Operator):
    """Download and install torch and the other runtime requirements into the add-on's user directory"""

    bl_idname = "motionclip.install_dependencies"
    bl_label = "Install Dependencies"
    bl_options = {'INTERNAL'}

    _timer = None

    def _start(self, context) -> bool:
        if not bpy.app.online_access:
            self.report({'ERROR'}, "Online access is disabled: enable Preferences > System > Network > "
                                   "Allow Online Access, or run: " + manual_command())
            return False
        if _Install.proc is not None and _Install.proc.poll() is None:
            self.report({'WARNING'}, "An install is already running")
            return False
        if importlib.util.find_spec("pip") is None:
            subprocess.run([sys.executable, "-m", "ensurepip", "--upgrade"], check=False)
        target = site_packages_dir(create=True)
        _Install.proc = subprocess.Popen(pip_command(target), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                         text=True, bufsize=1)
        _Install.last_line, _Install.count = "Starting pip…", 0
        threading.Thread(target=_pump, args=(_Install.proc,), daemon=True).start()
        return True

    def _finish(self) -> set[str]:
        code = _Install.proc.wait()
        _Install.proc = None
        if code == 0:
            ensure_path(create=True)
            _Install.last_line = "Dependencies installed"
            self.report({'INFO'}, "MotionCLIP dependencies installed")
            return {'FINISHED'}
        self.report({'ERROR'}, f"pip failed (exit {code}): {_Install.last_line}")
        return {'CANCELLED'}

    def _drain(self) -> None:
        while not _Install.lines.empty():
            _Install.last_line = _Install.lines.get_nowait()
            _Install.count += 1

    def execute(self, context):  # scripts/background: blocking
        if not self._start(context):
            return {'CANCELLED'}
        _Install.proc.wait()
        self._drain()
        return self._finish()

    def invoke(self, context, event):
        if not self._start(context):
            return {'CANCELLED'}
        wm = context.window_manager
        self._timer = wm.event_timer_add(0.25, window=context.window)
        wm.modal_handler_add(self)
        return {'RUNNING_MODAL'}

    def modal(self, context, event):
        if event.type != 'TIMER':
            return {'PASS_THROUGH'}
        self._drain()
        for window in context.window_manager.windows:  # the preferences window shows the progress
            for area in window.screen.areas:
                area.tag_redraw()
        if _Install.proc.poll() is None:
            return {'RUNNING_MODAL'}
        context.window_manager.event_timer_remove(self._timer)
        self._drain()
        return self._finish()


CLASSES = (MOTIONCLIP_OT_install_dependencies,)
