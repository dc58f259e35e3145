"""The Blender layer's commands of the ``motionclip`` console script (demo, render), added to the core's parser
by ``motionclip_blender/cli.py``: the core never imports this layer. ``bpy`` is imported only when one runs."""

from __future__ import annotations

import json
from pathlib import Path

from ..core.cli import CliError


def cmd_demo(args):
    try:
        from .demo import run_demo
    except ImportError as exc:
        raise CliError(f"the demo needs Blender's bpy module ({exc})") from None
    result = run_demo(args.prompt, args.out, args.preview, seconds=args.seconds, seed=args.seed, bvh=args.bvh,
                      model_path=args.model)
    print(f"wrote {result['blend']} (action '{result['action']}' on '{result['armature']}', "
          f"{result['frames']} frames at {result['fps']} fps)")
    for key in ("preview", "bvh"):
        if key in result:
            print(f"wrote {result[key]}")
    print("timings: " + ", ".join(f"{k} {v:.2f}" for k, v in result["times"].items()))


def cmd_render(args):
    try:
        from .render import render_dataset
    except ImportError as exc:
        raise CliError(f"rendering needs Blender's bpy module ({exc})") from None
    labels = json.loads(Path(args.labels).read_text(encoding="utf-8")) if args.labels else None
    manifest = render_dataset(args.motions, args.out, frames_per_motion=args.frames_per_motion, size=args.size,
                              engine=args.engine, smpl_model_path=args.smpl_model, labels=labels)
    print(f"wrote {len(manifest['items'])} frames of {len(manifest['motions'])} motions: {Path(args.out) / 'manifest.json'}")


def add_commands(sub) -> None:
    sp = sub.add_parser("demo", help="headless Blender: prompt -> rig + baked action in a .blend + preview")
    sp.add_argument("prompt")
    sp.add_argument("--out", default="demo.blend")
    sp.add_argument("--preview", default="demo.png")
    sp.add_argument("--bvh", default=None)
    sp.add_argument("--seconds", type=float, default=3.0)
    sp.add_argument("--seed", type=int, default=0, help="0 = the prompt's own latent, 1+ = variations")
    sp.add_argument("--model", default=None, help="checkpoint directory (default: the bundled model)")
    sp.set_defaults(func=cmd_demo)

    sp = sub.add_parser("render", help="headless Blender: K frames per motion at 224x224 + manifest (for finetune)")
    sp.add_argument("motions", nargs="+", help=".npz / .bvh files; label = <stem>.txt beside it, else the file name")
    sp.add_argument("--out", required=True, help="output directory (images/, motions/, manifest.json)")
    sp.add_argument("--frames-per-motion", type=int, default=4)
    sp.add_argument("--size", type=int, default=224)
    sp.add_argument("--engine", default="WORKBENCH", choices=["WORKBENCH", "EEVEE"])
    sp.add_argument("--smpl-model", default=None, help="SMPL/SMPL-X model file or folder (default: the mannequin)")
    sp.add_argument("--labels", default=None, help="JSON {file stem: text label}")
    sp.set_defaults(func=cmd_render)
