"""Manifest fields, the built zip's contents, and installing the zip as a real extension."""

import json
import subprocess
import sys
import textwrap
import zipfile

import pytest

from conftest import REPO
from motionclip_blender.blender import deps

sys.path.insert(0, str(REPO / "tools"))
import build_extension  # noqa: E402  (tools/ is not a package: the build script ships nowhere)


@pytest.fixture(scope="module")
def built_zip(tmp_path_factory, tiny_model_dir):
    import shutil

    assets = tmp_path_factory.mktemp("assets")
    shutil.copytree(tiny_model_dir, assets / "model")  # stands in for the bundled model
    return build_extension.build(tmp_path_factory.mktemp("dist"), assets=assets)


def test_manifest_fields():
    m = build_extension.read_manifest()
    assert m["schema_version"] == "1.0.0" and m["id"] == "motionclip_blender" and m["type"] == "add-on"
    from importlib.metadata import version

    from motionclip_blender import __version__

    assert m["version"] == __version__ == version("motionclip-blender")  # one home, three readers
    assert len(m["tagline"]) <= 64 and m["tagline"][-1] not in ".!?,;:"
    assert m["license"] == ["SPDX:GPL-3.0-or-later"] and m["blender_version_min"] == "5.0.0"
    assert set(m["permissions"]) == {"files", "network"} and all(m["permissions"].values())
    excluded = m["build"]["paths_exclude_pattern"]
    assert {"__pycache__/", "/addon_tests/", "/benchmarks/"} <= set(excluded)


def test_zip_contents(built_zip):
    names = set(zipfile.ZipFile(built_zip).namelist())
    assert {"blender_manifest.toml", "__init__.py", "blender/__init__.py", "blender/ops/generate.py", "blender/props.py", "blender/ui/main.py",
            "core/model/api.py", "core/paths.py", "assets/model/config.json", "assets/model/model.safetensors",
            "runtime-requirements.txt"} <= names
    assert not any("__pycache__" in n or n.startswith(("addon_tests/", "benchmarks/", "tools/")) for n in names)
    assert "build_extension.py" not in {n.rsplit("/", 1)[-1] for n in names}


def test_missing_model_is_a_clear_build_error(tmp_path):
    with pytest.raises(build_extension.BuildError, match="bundled model is missing"):
        build_extension.build(tmp_path / "out", assets=tmp_path)


INSTALL_SCRIPT = textwrap.dedent("""
    import json, os, sys, tempfile
    os.environ["BLENDER_USER_RESOURCES"] = tempfile.mkdtemp()
    import bpy
    repo_dir = tempfile.mkdtemp()
    bpy.context.preferences.extensions.repos.new(name="testrepo", module="testrepo", custom_directory=repo_dir,
                                                  source='USER')
    bpy.ops.extensions.package_install_files(filepath=sys.argv[1], repo="testrepo", enable_on_install=True)
    import bl_ext.testrepo.motionclip_blender as ext
    from bl_ext.testrepo.motionclip_blender.core import paths
    from bl_ext.testrepo.motionclip_blender.blender import deps
    bpy.ops.wm.read_homefile(use_empty=True)
    bpy.ops.motionclip.add_smpl_rig()
    print("RESULT" + json.dumps({
        "assets": str(paths.assets_dir()), "model_dir_exists": paths.model_dir().is_dir(),
        "ext_dir": os.path.dirname(ext.__file__), "bones": len(bpy.context.active_object.data.bones),
        "site": deps.site_packages_dir(create=False), "package": deps.ADDON_PACKAGE, "reqs": list(deps.REQUIREMENTS),
        "prefs": "bl_ext.testrepo.motionclip_blender" in bpy.context.preferences.addons}))
""")


def test_zip_installs_as_extension(built_zip, tmp_path):
    # A separate process: the add-on is already enabled here under another module name.
    script = tmp_path / "install.py"
    script.write_text(INSTALL_SCRIPT)
    proc = subprocess.run([sys.executable, str(script), str(built_zip)], capture_output=True, text=True,
                          timeout=120, cwd=tmp_path)
    line = next((l for l in proc.stdout.splitlines() if l.startswith("RESULT")), None)
    assert line, proc.stdout[-2000:] + proc.stderr[-2000:]
    res = json.loads(line[len("RESULT"):])
    assert res["bones"] == 24 and res["prefs"] and res["model_dir_exists"]
    assert res["assets"] == res["ext_dir"] + "/assets"  # the bundled model is found inside the extension
    assert res["package"] == "bl_ext.testrepo.motionclip_blender"
    assert res["reqs"] == list(deps.REQUIREMENTS)  # the installed extension reads the pins shipped inside it
    assert "motionclip_blender" in res["site"] and res["site"].endswith("site-packages")
