"""Every operator of the add-on, one module per tool: Generate and Add SMPL Rig, the latent tools (blend,
interpolate, edit, recognize, variations, the label list), Retarget and its map editor, Search Actions,
Render Dataset and Use Checkpoint, Install Dependencies. ``CLASSES`` is what ``blender.register`` registers.

Modules import torch only inside their methods: registering must work before dependencies are installed."""

from . import generate, install, latent, render, retarget, search

CLASSES = (*install.CLASSES, *generate.CLASSES, *latent.CLASSES, *retarget.CLASSES, *search.CLASSES,
           *render.CLASSES)
