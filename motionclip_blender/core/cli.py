"""The ``motionclip`` command line: generate, encode, recognize, interpolate, edit, convert, search, train,
bank, evaluate and finetune (image alignment); the Blender layer adds demo and render (``motionclip_blender/cli.py``). Motions are read
from ``.npz`` (ours), ``.bvh`` (any humanoid skeleton) or ``.amc`` (with ``--asf``) and written as ``.npz`` or
``.bvh`` by file extension."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Callable

from .training.corpus import DEFAULT_DATA_ROOT
from .errors import MotionCLIPError


class CliError(MotionCLIPError):
    """A bad command line: the message says which option and why."""


def _read_file(path: str, asf: str | None = None):
    from .io.formats import read_any as read

    suffix = Path(path).suffix.lower()
    if asf and suffix != ".amc":
        raise CliError(f"--asf names the skeleton of an .amc file; {Path(path).name} is a "
                       f"{suffix or 'file without suffix'}")
    return read(path, asf)


def _write_file(motion, path: str) -> None:
    from .io.formats import write_any as write

    print(f"wrote {write(motion, path)} ({len(motion)} frames at {motion.fps:g} fps)")


def _model(args):
    from .model.api import load_model

    return load_model(args.model, encoder=args.encoder)


def _item(text: str, asf=None):
    """A CLI operand: an existing motion file, else a prompt. Another existing file (a latent .npy that
    ``encode --out`` wrote, a typo'd extension) is an error, not a prompt made of its path."""
    path = Path(text)
    if path.suffix.lower() in (".npz", ".bvh", ".amc"):
        return _read_file(text, asf)
    if path.suffix and path.is_file():
        raise CliError(f"{text}: not a motion file (use .npz, .bvh or .amc); to use it as a prompt, change its words")
    return text


def _frames(args, model) -> int:
    """--seconds (at the model's fps) or --frames, checked: a length of 0, a negative one or inf is an error,
    never a silent default."""
    import math

    if args.seconds is not None:
        if not math.isfinite(args.seconds) or args.seconds <= 0:
            raise CliError(f"--seconds must be a positive number, got {args.seconds}")
        frames = max(1, int(round(args.seconds * model.fps)))
    elif args.frames is not None:
        if args.frames <= 0:
            raise CliError(f"--frames must be at least 1, got {args.frames}")
        frames = args.frames
    else:
        return model.frames
    limit = model.network.config.max_frames
    if frames > limit:
        raise CliError(f"the model makes at most {limit} frames ({limit / model.fps:g} s); asked for {frames}")
    return frames


def cmd_generate(args):
    if args.sequence and (args.frames is not None or args.loop):
        raise CliError("--sequence sets each part's length with --seconds or in the prompt ('walk (2 s)'), and a "
                       "sequence is not a loop: drop --frames and --loop")
    model = _model(args)
    if args.sequence:
        seconds = args.seconds if args.seconds is not None else None
        if seconds is not None:
            _frames(args, model)  # the same checks as a single clip
        motion, segments = model.generate_sequence(args.prompt, seconds=seconds, seed=args.seed,
                                                   clean_feet=not args.no_clean_feet, root=args.root)
        for s in segments:
            print(f"frames {s.start:5d}-{s.end - 1:5d}  {s.text}")
    else:
        motion = model.generate(args.prompt, frames=_frames(args, model), seed=args.seed,
                                clean_feet=not args.no_clean_feet, loop=args.loop, root=args.root)
    _write_file(motion, args.out)


def cmd_encode(args):
    model = _model(args)
    z = model.encode(_read_file(args.motion, args.asf))
    if args.out:
        import numpy as np

        from .motion.motion import check_output_path

        out = Path(args.out)
        check_output_path(out)
        with open(out, "wb") as f:  # a file handle: np.save would append ".npy" to any other name
            np.save(f, z.numpy())
        print(f"wrote {out} ({z.numel()}-d latent)")
    else:
        print(json.dumps([round(float(v), 6) for v in z]))


def cmd_recognize(args):
    model = _model(args)
    from .model.labels import default_labels, read_labels

    try:
        labels = read_labels(args.labels) if args.labels else default_labels()
    except ValueError as exc:
        raise CliError(str(exc)) from None
    if not labels:
        raise CliError("no labels: the add-on's assets/labels.txt is missing; pass --labels FILE")
    for label, score in model.recognize(_read_file(args.motion, args.asf), labels, top_k=args.top_k):
        print(f"{score:7.4f}  {label}")


def cmd_interpolate(args):
    model = _model(args)
    motions = model.interpolate(_item(args.a), _item(args.b), args.steps, frames=_frames(args, model))
    out = Path(args.out)
    for i, m in enumerate(motions):
        _write_file(m, str(out.with_name(f"{out.stem}_{i:02d}{out.suffix}")))


def cmd_edit(args):
    model = _model(args)
    # default length: the base clip's (or the model's clip length for a prompt)
    frames = _frames(args, model) if args.frames is not None or args.seconds is not None else None
    _write_file(model.edit(_item(args.base), _item(args.minus), _item(args.plus), frames=frames), args.out)


def cmd_convert(args):
    _write_file(_read_file(args.input, args.asf), args.out)


def cmd_train(args):
    from .training.train import TrainConfig, train

    cfg = TrainConfig.from_file(args.config)
    if args.data:
        cfg.data_root = args.data
    if args.out:
        cfg.out_dir = args.out
    if args.max_minutes is not None:
        cfg.max_minutes = args.max_minutes
    if args.threads is not None:
        cfg.threads = args.threads
    print(f"best checkpoint: {train(cfg)}")


def cmd_search(args):
    import os

    from .model.search import LatentCache, rank, read_folder

    model = _model(args)
    motions, skipped = read_folder(args.folder, model.fps)
    for line in skipped:
        print(f"skipped {line}", file=sys.stderr)
    cache_dir = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "motionclip"
    cache = LatentCache(args.cache or cache_dir / "search-latents.npz")
    results = rank(model, args.query, motions, args.top_k, cache)
    cache.save()
    for name, score in results:
        print(f"{score:7.4f}  {name}")


def cmd_bank(args):
    from .model.api import load_model
    from .model.bank import build_bank
    from .training.train import TrainConfig, training_clips

    cfg = TrainConfig.from_file(args.config)
    if args.data:
        cfg.data_root = args.data
    model = load_model(args.model)
    bank = build_bank(model, training_clips(cfg, "train"), stride=args.stride, refine_steps=args.refine_steps)
    print(f"{len(bank)} windows{' with refined codes' if bank.codes is not None else ''} -> {bank.save(args.model)}")


def cmd_evaluate(args):
    corpora = [c.strip() for c in args.corpora.split(",") if c.strip()]
    if args.prompts is not None:
        from .training.suite_eval import evaluate_prompts

        evaluate_prompts(args.model, args.prompts or None, args.data, corpora, args.json, args.variations)
        return
    from .training.evaluate import evaluate

    evaluate(args.model, args.data, args.json, args.split, corpora, args.linear_baseline, args.fit_steps)


def cmd_finetune(args):
    from .training.finetune import FinetuneConfig, finetune

    cfg = FinetuneConfig(model=args.model, renders=args.renders, clip=args.clip, out=args.out, steps=args.steps,
                         batch_size=args.batch_size, lr=args.lr)
    s = finetune(cfg)
    print(f"image loss {s['before']['image']:.4f} -> {s['after']['image']:.4f} after {s['step']} steps; "
          f"checkpoint: {s['checkpoint']}")


def build_parser(extra: Callable | None = None) -> argparse.ArgumentParser:
    """The core's commands; ``extra(subparsers)`` adds more (the Blender layer's demo and render, see
    ``motionclip_blender/cli.py``: the core never imports the Blender layer)."""
    p = argparse.ArgumentParser(prog="motionclip", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    def model_args(sp):
        sp.add_argument("--model", default=None, help="checkpoint directory (default: the bundled model)")
        sp.add_argument("--encoder", default=None, help="text encoder spec, e.g. clip:/path/ViT-B-32.pt")

    def length_args(sp):
        sp.add_argument("--frames", type=int, default=None, help="frames at the model's fps (default: its clip length)")
        sp.add_argument("--seconds", type=float, default=None, help="length in seconds (overrides --frames)")

    sp = sub.add_parser("generate", help="text -> motion")
    sp.add_argument("prompt")
    sp.add_argument("--out", required=True, help=".npz or .bvh")
    sp.add_argument("--seed", type=int, default=None, help="variation seed (default: the prompt's own latent)")
    sp.add_argument("--loop", action="store_true", help="a seamless cycle")
    sp.add_argument("--root", default="full", choices=["full", "forward", "in_place"])
    sp.add_argument("--no-clean-feet", action="store_true", help="skip the foot contact clean-up")
    sp.add_argument("--sequence", action="store_true",
                    help="the prompt lists actions: 'walk (2 s), then jump, then wave' (--seconds: per part)")
    model_args(sp), length_args(sp)
    sp.set_defaults(func=cmd_generate)

    sp = sub.add_parser("encode", help="motion -> latent")
    sp.add_argument("motion")
    sp.add_argument("--asf", default=None, help="ASF skeleton for an .amc motion")
    sp.add_argument("--out", default=None, help=".npy to write (default: print JSON)")
    model_args(sp)
    sp.set_defaults(func=cmd_encode)

    sp = sub.add_parser("recognize", help="zero-shot action recognition")
    sp.add_argument("motion")
    sp.add_argument("--asf", default=None)
    sp.add_argument("--labels", default=None, help="text file, one label per line (default: the bundled list)")
    sp.add_argument("--top-k", type=int, default=5)
    model_args(sp)
    sp.set_defaults(func=cmd_recognize)

    sp = sub.add_parser("interpolate", help="motions along the latent line between two prompts/motions")
    sp.add_argument("a"), sp.add_argument("b")
    sp.add_argument("--steps", type=int, default=5)
    sp.add_argument("--out", required=True, help="base name; writes NAME_00.ext ... NAME_NN.ext")
    model_args(sp), length_args(sp)
    sp.set_defaults(func=cmd_interpolate)

    sp = sub.add_parser("edit", help="z = E(base) - E(minus) + E(plus)")
    sp.add_argument("base"), sp.add_argument("minus"), sp.add_argument("plus")
    sp.add_argument("--out", required=True)
    model_args(sp), length_args(sp)
    sp.set_defaults(func=cmd_edit)

    sp = sub.add_parser("convert", help="import any humanoid BVH/AMC onto SMPL and write .npz/.bvh")
    sp.add_argument("input"), sp.add_argument("out")
    sp.add_argument("--asf", default=None)
    sp.set_defaults(func=cmd_convert)

    sp = sub.add_parser("train", help="train a model from a JSON config")
    sp.add_argument("--config", required=True)
    sp.add_argument("--data", default=None, help="data root holding cmu/ and hdm05/ (default: the config's)")
    sp.add_argument("--out", default=None, help="run directory (default: the config's)")
    sp.add_argument("--max-minutes", type=float, default=None, help="stop with a checkpoint after this long")
    sp.add_argument("--threads", type=int, default=None, help="CPU threads (default: the config's)")
    sp.set_defaults(func=cmd_train)

    sp = sub.add_parser("search", help="rank the motion files of a folder by how well they match a text")
    sp.add_argument("query")
    sp.add_argument("folder", help="folder of .bvh / .amc (with their .asf) / .npz files")
    sp.add_argument("--top-k", type=int, default=10)
    sp.add_argument("--cache", default=None, help="latent cache file (default: ~/.cache/motionclip/search-latents.npz)")
    model_args(sp)
    sp.set_defaults(func=cmd_search)

    sp = sub.add_parser("bank", help="encode a config's training windows into a model's latent bank")
    sp.add_argument("model", help="checkpoint directory (the bank is written into it)")
    sp.add_argument("--config", required=True, help="the training config (data, corpora, split)")
    sp.add_argument("--data", default=None, help="data root (default: the config's)")
    sp.add_argument("--stride", type=int, default=20, help="frames between banked windows")
    sp.add_argument("--refine-steps", type=int, default=0,
                    help="Adam steps refining each window's decoder code (default 0: decode the encoder's latents, "
                         "as the bundled v0.5 bank does; 30 takes about 20 minutes more)")
    sp.set_defaults(func=cmd_bank)

    sp = sub.add_parser("evaluate", help="metrics on the test split: table + JSON")
    sp.add_argument("--model", default=None)
    sp.add_argument("--data", default=DEFAULT_DATA_ROOT, help="data root holding cmu/ and hdm05/")
    sp.add_argument("--corpora", default="cmu,hdm05", help="comma-separated corpora to evaluate on")
    sp.add_argument("--split", default="test", choices=["train", "val", "test"])
    sp.add_argument("--prompts", nargs="?", const="", default=None, metavar="SUITE",
                    help="run the prompt suite instead (default: the shipped assets/prompt_suite.json)")
    sp.add_argument("--variations", type=int, default=3, help="seeded takes per suite prompt")
    sp.add_argument("--linear-baseline", action="store_true",
                    help="also fit a linear auto-encoder (PCA) of the latent's size on the training split and "
                         "report its reconstruction beside the model's (about a minute)")
    sp.add_argument("--fit-steps", type=int, default=0,
                    help="also reconstruct from latents fitted this many steps, as the add-on fits a clip's "
                         "latent (100) before interpolating or editing it (about 4 minutes for the test split)")
    sp.add_argument("--json", default="evaluation.json")
    sp.set_defaults(func=cmd_evaluate)

    sp = sub.add_parser("finetune", help="fine-tune a checkpoint with CLIP image alignment on rendered frames")
    sp.add_argument("--model", required=True, help="checkpoint directory in the CLIP space of --clip")
    sp.add_argument("--renders", required=True, help="manifest.json written by 'motionclip render'")
    sp.add_argument("--clip", required=True, help="clip:ViT-B/32 or clip:/path/to/weights.pt")
    sp.add_argument("--out", required=True, help="run directory: <out>/checkpoint; rerun to resume")
    sp.add_argument("--steps", type=int, default=200)
    sp.add_argument("--batch-size", type=int, default=16)
    sp.add_argument("--lr", type=float, default=2e-5)
    sp.set_defaults(func=cmd_finetune)
    if extra is not None:
        extra(sub)
    return p


def main(argv: list[str] | None = None, extra: Callable | None = None) -> int:
    """Errors meant for the user (``errors.MotionCLIPError``) and file-system errors print one line and exit 2;
    anything else is a bug and keeps its traceback."""
    args = build_parser(extra).parse_args(argv)
    try:
        args.func(args)
    except (MotionCLIPError, OSError) as exc:
        print(f"motionclip {args.command}: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
